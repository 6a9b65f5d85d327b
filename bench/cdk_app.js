// The web-app pipeline of pipelines/web-app.yaml, written with the AWS CDK's L2 constructs, so
// that `make bench` (BENCH_CDK=1) can time its synthesis next to pipegen's build. Not shipped.
const cdk = require("aws-cdk-lib");
const { aws_codebuild: codebuild, aws_codedeploy: codedeploy, aws_codepipeline: codepipeline,
  aws_codepipeline_actions: actions, aws_kms: kms, aws_s3: s3, aws_sns: sns,
  aws_cloudwatch: cloudwatch, aws_logs: logs } = cdk;

const app = new cdk.App({ outdir: process.env.CDK_OUTDIR });
const stack = new cdk.Stack(app, "WebAppPipeline", {
  env: { account: "123456789012", region: "us-east-1" },
});

const key = new kms.Key(stack, "ArtifactKey", { enableKeyRotation: true });
const logBucket = new s3.Bucket(stack, "AccessLogs", {
  encryption: s3.BucketEncryption.S3_MANAGED, enforceSSL: true, versioned: true,
  blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
});
const bucket = new s3.Bucket(stack, "Artifacts", {
  encryption: s3.BucketEncryption.KMS, encryptionKey: key, enforceSSL: true, versioned: true,
  blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL, serverAccessLogsBucket: logBucket,
  lifecycleRules: [{ expiration: cdk.Duration.days(180), noncurrentVersionExpiration: cdk.Duration.days(180) }],
});
const events = new sns.Topic(stack, "Events", { masterKey: key });
const approvals = new sns.Topic(stack, "ProdApprovals", { masterKey: key });

function project(name, commands) {
  return new codebuild.PipelineProject(stack, name, {
    encryptionKey: key,
    environment: { buildImage: codebuild.LinuxBuildImage.AMAZON_LINUX_2_5 },
    logging: { cloudWatch: { logGroup: new logs.LogGroup(stack, `${name}Logs`, { encryptionKey: key, retention: logs.RetentionDays.ONE_YEAR }) } },
    buildSpec: codebuild.BuildSpec.fromObject({ version: "0.2", phases: { build: { commands } } }),
  });
}
const build = project("Build", ["npm ci", "npm run build"]);
const unit = project("Unit", ["npm ci", "npx jest --ci"]);
const integration = project("Integration", ["npm ci", "npm run test:integration"]);
const scan = project("Scan", ["semgrep scan --config p/default --error"]);
const smoke = project("Smoke", ['curl --fail "$TARGET_URL/health"']);

const application = new codedeploy.ServerApplication(stack, "Application");
const source = new codepipeline.Artifact("Source");
const output = new codepipeline.Artifact("BuildOutput");
const pipeline = new codepipeline.Pipeline(stack, "Pipeline", {
  pipelineType: codepipeline.PipelineType.V2, artifactBucket: bucket,
  executionMode: codepipeline.ExecutionMode.QUEUED,
});
pipeline.addStage({ stageName: "Source", actions: [new actions.CodeStarConnectionsSourceAction({
  actionName: "Checkout", owner: "acme", repo: "storefront", branch: "main", output: source,
  connectionArn: "arn:aws:codeconnections:us-east-1:123456789012:connection/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
})] });
pipeline.addStage({ stageName: "Build", actions: [new actions.CodeBuildAction({ actionName: "Build", project: build, input: source, outputs: [output] })] });
pipeline.addStage({ stageName: "Test", actions: [
  new actions.CodeBuildAction({ actionName: "UnitTests", project: unit, input: source, runOrder: 1 }),
  new actions.CodeBuildAction({ actionName: "SecurityScan", project: scan, input: source, runOrder: 1 }),
  new actions.CodeBuildAction({ actionName: "IntegrationTests", project: integration, input: source, runOrder: 2 }),
] });
for (const env of ["dev", "staging", "prod"]) {
  const alarm = new cloudwatch.Alarm(stack, `${env}Errors`, {
    metric: new cloudwatch.Metric({ namespace: "AWS/ApplicationELB", metricName: "HTTPCode_Target_5XX_Count", statistic: "Sum" }),
    threshold: 10, evaluationPeriods: 3, datapointsToAlarm: 2,
  });
  // L1 for the group: the L2 insists on an Auto Scaling group it owns (or its role).
  const serviceRole = new cdk.aws_iam.Role(stack, `${env}CodeDeployRole`, {
    assumedBy: new cdk.aws_iam.ServicePrincipal("codedeploy.amazonaws.com"),
  });
  const cfnGroup = new codedeploy.CfnDeploymentGroup(stack, `${env}Group`, {
    applicationName: application.applicationName, serviceRoleArn: serviceRole.roleArn,
    deploymentGroupName: `web-app-${env}`, autoScalingGroups: [`web-${env}-asg`],
    deploymentStyle: { deploymentType: "IN_PLACE", deploymentOption: "WITH_TRAFFIC_CONTROL" },
    loadBalancerInfo: { targetGroupInfoList: [{ name: `web-${env}` }] },
    alarmConfiguration: { enabled: true, alarms: [{ name: alarm.alarmName }] },
    autoRollbackConfiguration: { enabled: true, events: ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"] },
  });
  const deploymentGroup = codedeploy.ServerDeploymentGroup.fromServerDeploymentGroupAttributes(stack, `${env}GroupRef`, {
    application, deploymentGroupName: cfnGroup.ref,
  });
  const stageActions = [];
  if (env === "prod") {
    stageActions.push(new actions.ManualApprovalAction({ actionName: "Approve", notificationTopic: approvals, runOrder: 1 }));
  }
  stageActions.push(new actions.CodeDeployServerDeployAction({ actionName: "Deploy", deploymentGroup, input: output, runOrder: 2 }));
  stageActions.push(new actions.CodeBuildAction({ actionName: "SmokeTest", project: smoke, input: source, runOrder: 3 }));
  pipeline.addStage({ stageName: `Deploy${env}`, actions: stageActions });
}
pipeline.notifyOn("Events", events, { events: [
  codepipeline.PipelineNotificationEvents.PIPELINE_EXECUTION_FAILED,
  codepipeline.PipelineNotificationEvents.PIPELINE_EXECUTION_SUCCEEDED,
] });
app.synth();
