"""CodeDeploy to EC2 Auto Scaling groups: application, groups, alarms, roles and the action."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from awacs import autoscaling as asg
from awacs import cloudwatch as cw
from awacs import codedeploy as cd
from awacs import ec2
from awacs import elasticloadbalancing as elb
from awacs import iam as iam_actions
from awacs import kms as kms_actions
from awacs import s3 as s3_actions
from awacs import tag as tag_actions
from awacs.aws import (
    Allow,
    Condition,
    PolicyDocument,
    Statement,
    StringEquals,
    StringLike,
)
from troposphere import PropsDictType, Sub, codedeploy, iam
from troposphere.cloudformation import CustomResource

from generator.assembly.stack import ChildStack, Exported, StackValue
from generator.components.alarms import RollbackAlarm, alarm_arns, target_group_name
from generator.components.artifact_store import ArtifactStore
from generator.components.grants import Grant, artifact_read, key_decrypt
from generator.components.iam import POLICY_VERSION, RoleBuilder, action_role, service
from generator.components.lambda_function import FunctionSpec, function_role, hardened_function
from generator.errors import AssemblyError
from generator.naming import Names
from generator.pipeline_plan import Step

Strategy = Literal["in-place", "blue-green"]


@dataclass(frozen=True)
class ServerTarget:
    """Where and how one environment deploys; values are stack handles or literals."""

    environment: str
    strategy: Strategy
    deployment_config: str  # OneAtATime | HalfAtATime | AllAtOnce
    auto_scaling_group: StackValue
    target_group_arn: StackValue
    alarms: tuple[RollbackAlarm, ...]
    termination_wait_minutes: int = 60
    instance_role_arn: StackValue | None = None  # blue/green copies need to pass it

    @property
    def config_name(self) -> str:
        return f"CodeDeployDefault.{self.deployment_config}"


def server_application(stack: ChildStack, names: Names) -> Exported:
    application = stack.add(
        codedeploy.Application(
            "Application", ApplicationName=names.application, ComputePlatform="Server"
        )
    )
    return stack.export("ApplicationName", application.ref(), "CodeDeploy application")


def server_deployment_group(
    stack: ChildStack,
    names: Names,
    target: ServerTarget,
    role_arn: Exported,
    application: Exported,
    blue_green_provider: Any = None,
) -> Exported:
    """In-place (AWS::CodeDeploy::DeploymentGroup) or blue/green (through the provider function,
    since CloudFormation rejects COPY_AUTO_SCALING_GROUP groups), both with traffic control and
    rolled back on failure and on alarm."""
    logical_id = f"{target.environment.capitalize()}DeploymentGroup"
    if target.strategy == "blue-green":
        if blue_green_provider is None:
            raise AssemblyError(f"{logical_id}: blue/green needs the blue/green provider function")
        group: Any = stack.add(
            BlueGreenGroup(
                logical_id,
                ServiceToken=blue_green_provider,
                ApplicationName=stack.use(application),
                DeploymentGroupName=names.deployment_group(target.environment),
                ServiceRoleArn=stack.use(role_arn),
                DeploymentConfigName=target.config_name,
                AutoScalingGroup=stack.use(target.auto_scaling_group),
                TargetGroupName=target_group_name(stack.use(target.target_group_arn)),
                Alarms=[a.value_in(stack) for a in target.alarms],
                TerminationWaitTimeInMinutes=str(target.termination_wait_minutes),
            )
        )
    else:
        group = stack.add(
            codedeploy.DeploymentGroup(
                logical_id,
                ApplicationName=stack.use(application),
                DeploymentGroupName=names.deployment_group(target.environment),
                ServiceRoleArn=stack.use(role_arn),
                DeploymentConfigName=target.config_name,
                AutoScalingGroups=[stack.use(target.auto_scaling_group)],
                DeploymentStyle=codedeploy.DeploymentStyle(
                    DeploymentType="IN_PLACE", DeploymentOption="WITH_TRAFFIC_CONTROL"
                ),
                LoadBalancerInfo=codedeploy.LoadBalancerInfo(
                    TargetGroupInfoList=[
                        codedeploy.TargetGroupInfo(
                            Name=target_group_name(stack.use(target.target_group_arn))
                        )
                    ]
                ),
                AutoRollbackConfiguration=codedeploy.AutoRollbackConfiguration(
                    Enabled=True,
                    Events=["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
                ),
                AlarmConfiguration=codedeploy.AlarmConfiguration(
                    Enabled=True,
                    IgnorePollAlarmFailure=False,
                    Alarms=[codedeploy.Alarm(Name=a.value_in(stack)) for a in target.alarms],
                ),
                OutdatedInstancesStrategy="UPDATE",
            )
        )
    return stack.export(
        f"{logical_id}Name", group.ref(), f"CodeDeploy deployment group of {target.environment}"
    )


class BlueGreenGroup(CustomResource):  # type: ignore[misc]
    """Handled by generator/functions/codedeploy_blue_green.py."""

    resource_type = "Custom::CodeDeployBlueGreenGroup"
    props: PropsDictType = {
        "ServiceToken": (str, True),
        "ApplicationName": (str, True),
        "DeploymentGroupName": (str, True),
        "ServiceRoleArn": (str, True),
        "DeploymentConfigName": (str, True),
        "AutoScalingGroup": (str, True),
        "TargetGroupName": (str, True),
        "Alarms": (list, True),
        "TerminationWaitTimeInMinutes": (str, True),
    }


BLUE_GREEN_PROVIDER = FunctionSpec(
    logical_id="BlueGreenProvider",
    purpose="codedeploy-bluegreen",
    description="Creates and updates EC2 blue/green deployment groups for CloudFormation",
    module="codedeploy_blue_green.py",
    no_vpc_reason="Calls only the CodeDeploy API; it reaches no private resource.",
)


def blue_green_provider_role(
    names: Names, targets: Sequence[ServerTarget], service_role_arn: Any, key_arn: Any
) -> RoleBuilder:
    role = function_role(names, BLUE_GREEN_PROVIDER, key_arn)
    role.allow(
        "ManageBlueGreenGroups",
        [
            cd.CreateDeploymentGroup,
            cd.UpdateDeploymentGroup,
            cd.DeleteDeploymentGroup,
            cd.GetDeploymentGroup,
        ],
        [names.deployment_group_arn(t.environment) for t in targets if t.strategy == "blue-green"],
    )
    role.allow(
        "PassTheCodeDeployRole",
        [iam_actions.PassRole],
        [service_role_arn],
        Condition(StringEquals({"iam:PassedToService": "codedeploy.amazonaws.com"})),
    )
    return role


def blue_green_provider(
    stack: ChildStack, names: Names, role_arn: Exported, key_arn: Any, log_retention_days: int
) -> Any:
    """The function behind Custom::CodeDeployBlueGreenGroup; returns its ARN."""
    return hardened_function(
        stack, names, BLUE_GREEN_PROVIDER, role_arn, key_arn, log_retention_days
    )


# The resource types RunInstances authorizes in the account (the image is AWS's or shared).
RUN_INSTANCES_RESOURCE_TYPES = (
    "instance",
    "network-interface",
    "security-group",
    "subnet",
    "volume",
    "launch-template",
    "key-pair",
    "placement-group",
)


def _copy_pattern(names: Names, target: ServerTarget) -> str:
    """The names CodeDeploy gives the green copies of a blue/green group."""
    return f"CodeDeploy_{names.deployment_group(target.environment)}_*"


def _asg_arn(name: Any) -> Sub:
    return Sub(
        "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:"
        "autoScalingGroupName/${Name}",
        Name=name,
    )


# What AWSCodeDeployRole grants for Auto Scaling, minus what these groups never need.
ASG_MANAGEMENT = [
    asg.CompleteLifecycleAction,
    asg.DeleteLifecycleHook,
    asg.PutLifecycleHook,
    asg.RecordLifecycleActionHeartbeat,
    asg.CreateOrUpdateTags,
    asg.UpdateAutoScalingGroup,
    asg.EnableMetricsCollection,
    asg.SuspendProcesses,
    asg.ResumeProcesses,
    asg.AttachLoadBalancerTargetGroups,
    asg.PutScalingPolicy,
    asg.PutScheduledUpdateGroupAction,
    asg.PutNotificationConfiguration,
    asg.PutWarmPool,
]
DESCRIBE_ONLY = [
    asg.DescribeAutoScalingGroups,
    asg.DescribeLifecycleHooks,
    asg.DescribeScalingActivities,
    asg.DescribeNotificationConfigurations,
    asg.DescribePolicies,
    asg.DescribeScheduledActions,
    asg.DescribeWarmPool,
    ec2.DescribeInstances,
    ec2.DescribeInstanceStatus,
    elb.DescribeTargetGroups,
    elb.DescribeTargetHealth,
    elb.DescribeLoadBalancers,
    elb.DescribeInstanceHealth,
    elb.DescribeTargetGroupAttributes,
    elb.DescribeLoadBalancerAttributes,
    tag_actions.GetResources,
]


def codedeploy_role(
    stack: ChildStack, names: Names, targets: Sequence[ServerTarget]
) -> RoleBuilder:
    role = RoleBuilder(
        logical_id="CodeDeployServiceRole",
        description=f"CodeDeploy service role of {names.pipeline}",
        trust=service("codedeploy"),
        pipeline=names.pipeline,
    )
    groups = [_asg_arn(stack.use(t.auto_scaling_group)) for t in targets]
    blue_green = [t for t in targets if t.strategy == "blue-green"]
    copies = [_asg_arn(_copy_pattern(names, t)) for t in blue_green]
    role.allow("ManageDeploymentAutoScalingGroups", ASG_MANAGEMENT, groups + copies)
    if blue_green:
        # Only blue/green groups are copied and retired; in-place groups are never deleted.
        originals = [_asg_arn(stack.use(t.auto_scaling_group)) for t in blue_green]
        role.allow(
            "CopyAndRetireGroupsForBlueGreen",
            [asg.CreateAutoScalingGroup, asg.DeleteAutoScalingGroup],
            originals + copies,
        )
        role.allow(
            "CopyScalingPolicyAlarms",
            [cw.PutMetricAlarm],
            [Sub("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*")],
        )
        role.allow(
            "LaunchGreenInstances",
            [ec2.RunInstances],
            [
                *(
                    Sub(
                        f"arn:${{AWS::Partition}}:ec2:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/*"
                    )
                    for kind in RUN_INSTANCES_RESOURCE_TYPES
                ),
                Sub("arn:${AWS::Partition}:ec2:${AWS::Region}::image/*"),
            ],
        )
        role.allow(
            "TagGreenInstancesAtLaunchOnly",
            [ec2.CreateTags],
            [Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:*/*")],
            Condition(StringEquals({"ec2:CreateAction": "RunInstances"})),
        )
        role.allow(
            "TerminateBlueInstances",
            [ec2.TerminateInstances],
            [Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*")],
            Condition(
                StringLike(
                    {
                        "aws:ResourceTag/aws:autoscaling:groupName": [
                            *[stack.use(t.auto_scaling_group) for t in blue_green],
                            *[_copy_pattern(names, t) for t in blue_green],
                        ]
                    }
                )
            ),
        )
        instance_roles = [
            stack.use(t.instance_role_arn) for t in blue_green if t.instance_role_arn is not None
        ]
        if instance_roles:
            role.allow(
                "PassInstanceRoleToGreenInstances",
                [iam_actions.PassRole],
                instance_roles,
                Condition(StringEquals({"iam:PassedToService": "ec2.amazonaws.com"})),
            )
    role.allow(
        "ShiftTrafficOnTargetGroups",
        [elb.RegisterTargets, elb.DeregisterTargets],
        [stack.use(t.target_group_arn) for t in targets],
    )
    if any(t.alarms for t in targets):
        alarms = [a for t in targets for a in t.alarms]
        role.allow("ReadRollbackAlarms", [cw.DescribeAlarms], alarm_arns(names, alarms))
    role.allow("DescribeFleet", DESCRIBE_ONLY, ["*"])
    return role


def deployment_grants(names: Names, environment: str, config_name: str) -> tuple[Grant, ...]:
    """What a CodeDeploy or CodeDeployToECS action needs to start one group's deployments."""
    return (
        (
            "DeployToThisGroupOnly",
            [cd.CreateDeployment, cd.GetDeployment],
            [names.deployment_group_arn(environment)],
        ),
        (
            "RegisterRevisions",
            [cd.GetApplication, cd.GetApplicationRevision, cd.RegisterApplicationRevision],
            [names.application_arn()],
        ),
        (
            "ReadDeploymentConfig",
            [cd.GetDeploymentConfig],
            [names.deployment_config_arn(config_name)],
        ),
    )


def deploy_action_role(
    stack: ChildStack,
    names: Names,
    environment: str,
    config_name: str,
    store: ArtifactStore,
    pipeline_role: Any,
) -> RoleBuilder:
    role = action_role(
        f"{environment.capitalize()}DeployActionRole",
        f"Deploy action of {names.pipeline} into {environment}",
        names.pipeline,
        pipeline_role,
    )
    for grant in deployment_grants(names, environment, config_name):
        role.allow(*grant)
    role.allow(*artifact_read(stack.use(store.bucket_arn)))
    role.allow(*key_decrypt(stack.use(store.key_arn)))
    return role


def instance_artifact_policy(stack: ChildStack, names: Names, store: ArtifactStore) -> Exported:
    """What the instances' own role needs: the CodeDeploy agent downloads the revision itself."""
    bucket_arn = stack.use(store.bucket_arn)
    policy = stack.add(
        iam.ManagedPolicy(
            "InstanceArtifactReadPolicy",
            Description=f"Attach to the EC2 instance role of {names.pipeline}'s fleets",
            Path=f"/pipegen/{names.pipeline}/",
            PolicyDocument=PolicyDocument(
                Version=POLICY_VERSION,
                Statement=[
                    Statement(
                        Sid="DownloadRevisions",
                        Effect=Allow,
                        Action=[s3_actions.GetObject, s3_actions.GetObjectVersion],
                        Resource=[Sub("${Bucket}/*", Bucket=bucket_arn)],
                    ),
                    Statement(
                        Sid="DecryptRevisions",
                        Effect=Allow,
                        Action=[kms_actions.Decrypt],
                        Resource=[stack.use(store.key_arn)],
                    ),
                ],
            ),
        )
    )
    return stack.export(
        "InstanceArtifactReadPolicyArn",
        policy.ref(),
        "Attach to the instance role of every deployment target",
    )


def deploy_step(application: Exported, group: Exported, role: Exported, artifact: str) -> Step:
    return Step(
        name="Deploy",
        category="Deploy",
        provider="CodeDeploy",
        configuration={"ApplicationName": application, "DeploymentGroupName": group},
        role=role,
        inputs=(artifact,),
        run_order=1,
    )
