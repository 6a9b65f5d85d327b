"""Containers on ECS: the rolling ECS deploy action and CodeDeployToECS blue/green with canary or
linear traffic shifting, with their roles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from awacs import cloudwatch as cw
from awacs import ecs as ecs_actions
from awacs import elasticloadbalancing as elb
from awacs import iam as iam_actions
from awacs.aws import Condition, StringEquals
from troposphere import Select, Split, Sub, codedeploy

from generator.assembly.stack import ChildStack, Exported, StackValue
from generator.components.alarms import RollbackAlarm, alarm_arns, target_group_name
from generator.components.artifact_store import ArtifactStore
from generator.components.codedeploy import deployment_grants
from generator.components.grants import Grant, artifact_read, key_decrypt
from generator.components.iam import RoleBuilder, action_role, service
from generator.components.log_groups import encrypted_log_group
from generator.naming import Names
from generator.pipeline_plan import Step

Traffic = Literal["canary", "linear", "all-at-once"]

# CodeDeploy's predefined ECS configurations: (kind, percentage, minutes) -> name.
PREDEFINED_ECS_CONFIGS = {
    ("all-at-once", 100, 0): "CodeDeployDefault.ECSAllAtOnce",
    ("canary", 10, 5): "CodeDeployDefault.ECSCanary10Percent5Minutes",
    ("canary", 10, 15): "CodeDeployDefault.ECSCanary10Percent15Minutes",
    ("linear", 10, 1): "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
    ("linear", 10, 3): "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
}


@dataclass(frozen=True)
class EcsService:
    """An ECS service an environment deploys to; values are stack handles or literals."""

    environment: str
    cluster: StackValue
    service: StackValue
    task_roles: tuple[StackValue, ...]  # execution role and task role, passed on registration


@dataclass(frozen=True)
class EcsBlueGreen:
    service: EcsService
    traffic: Traffic
    percentage: int
    interval_minutes: int
    termination_wait_minutes: int
    blue_target_group_arn: StackValue
    green_target_group_arn: StackValue
    production_listener_arn: StackValue
    test_listener_arn: StackValue
    alarms: tuple[RollbackAlarm, ...]

    @property
    def environment(self) -> str:
        return self.service.environment


def service_arn(stack: ChildStack, target: EcsService) -> Sub:
    return Sub(
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/${Cluster}/${Service}",
        Cluster=stack.use(target.cluster),
        Service=stack.use(target.service),
    )


def task_set_arn(stack: ChildStack, target: EcsService) -> Sub:
    return Sub(
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-set/${Cluster}/"
        "${Service}/*",
        Cluster=stack.use(target.cluster),
        Service=stack.use(target.service),
    )


def pass_task_roles(stack: ChildStack, targets: Sequence[EcsService]) -> Grant:
    return (
        "PassTaskRolesToEcs",
        [iam_actions.PassRole],
        [stack.use(role) for t in targets for role in t.task_roles],
    )


PASSED_TO_ECS_TASKS = Condition(
    StringEquals({"iam:PassedToService": ["ecs-tasks.amazonaws.com", "ecs.amazonaws.com"]})
)
TAG_NEW_REVISIONS: Grant = (
    "TagNewRevisionsOnly",
    [ecs_actions.TagResource],
    [Sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/*")],
)
TAGGING_AT_REGISTRATION = Condition(StringEquals({"ecs:CreateAction": "RegisterTaskDefinition"}))
# Families come from the services' own task definitions (parameters), so any family of this
# account and region; DescribeTaskDefinition accepts no resource type at all.
REGISTER_TASK_DEFINITIONS: Grant = (
    "RegisterTaskDefinitions",
    [ecs_actions.RegisterTaskDefinition],
    [Sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/*:*")],
)
DESCRIBE_TASK_DEFINITIONS: Grant = (
    "DescribeTaskDefinitions",
    [ecs_actions.DescribeTaskDefinition],
    ["*"],
)


# -- rolling ECS deploy -------------------------------------------------------------------


def rolling_deploy_role(
    stack: ChildStack,
    names: Names,
    target: EcsService,
    store: ArtifactStore,
    pipeline_role: Any,
) -> RoleBuilder:
    """What CodePipeline's ECS action does: register a revision, update the service."""
    role = action_role(
        f"{target.environment.capitalize()}DeployActionRole",
        f"ECS deploy action of {names.pipeline} into {target.environment}",
        names.pipeline,
        pipeline_role,
    )
    role.allow(
        "UpdateThisServiceOnly",
        [ecs_actions.DescribeServices, ecs_actions.UpdateService],
        [service_arn(stack, target)],
    )
    role.allow(*REGISTER_TASK_DEFINITIONS)
    role.allow(*DESCRIBE_TASK_DEFINITIONS)
    role.allow(
        "WatchTheRollout",
        [ecs_actions.DescribeTasks, ecs_actions.ListTasks],
        [
            _cluster_scoped(stack, target, "task"),
            _cluster_scoped(stack, target, "container-instance"),
        ],
    )
    role.allow(*TAG_NEW_REVISIONS, TAGGING_AT_REGISTRATION)
    role.allow(*pass_task_roles(stack, [target]), PASSED_TO_ECS_TASKS)
    role.allow(*artifact_read(stack.use(store.bucket_arn)))
    role.allow(*key_decrypt(stack.use(store.key_arn)))
    return role


def _cluster_scoped(stack: ChildStack, target: EcsService, kind: str) -> Sub:
    return Sub(
        f"arn:${{AWS::Partition}}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/${{Cluster}}/*",
        Cluster=stack.use(target.cluster),
    )


def rolling_deploy_step(target: EcsService, role: Exported, artifact: str) -> Step:
    return Step(
        name="Deploy",
        category="Deploy",
        provider="ECS",
        configuration={
            "ClusterName": target.cluster,
            "ServiceName": target.service,
            "FileName": "imagedefinitions.json",
            "DeploymentTimeout": "30",
        },
        role=role,
        inputs=(artifact,),
    )


# -- CodeDeployToECS blue/green -------------------------------------------------------------


def ecs_application(stack: ChildStack, names: Names) -> Exported:
    application = stack.add(
        codedeploy.Application(
            "EcsApplication", ApplicationName=names.application, ComputePlatform="ECS"
        )
    )
    return stack.export("EcsApplicationName", application.ref(), "CodeDeploy ECS application")


def _config_key(target: EcsBlueGreen) -> tuple[str, int, int]:
    if target.traffic == "all-at-once":
        return ("all-at-once", 100, 0)
    return (target.traffic, target.percentage, target.interval_minutes)


def traffic_config_name(names: Names, target: EcsBlueGreen) -> str:
    """CodeDeploy's predefined configuration when one matches, else the name of ours."""
    predefined = PREDEFINED_ECS_CONFIGS.get(_config_key(target))
    if predefined is not None:
        return predefined
    return (
        f"{names.pipeline}-{target.environment}-{target.traffic}-"
        f"{target.percentage}pct-{target.interval_minutes}min"
    )


def traffic_config(stack: ChildStack, names: Names, target: EcsBlueGreen) -> Any:
    """The configuration's name, creating a custom one when AWS offers none that matches."""
    name = traffic_config_name(names, target)
    if _config_key(target) in PREDEFINED_ECS_CONFIGS:
        return name
    if target.traffic == "canary":
        routing = codedeploy.TrafficRoutingConfig(
            Type="TimeBasedCanary",
            TimeBasedCanary=codedeploy.TimeBasedCanary(
                CanaryPercentage=target.percentage, CanaryInterval=target.interval_minutes
            ),
        )
    else:
        routing = codedeploy.TrafficRoutingConfig(
            Type="TimeBasedLinear",
            TimeBasedLinear=codedeploy.TimeBasedLinear(
                LinearPercentage=target.percentage, LinearInterval=target.interval_minutes
            ),
        )
    config = stack.add(
        codedeploy.DeploymentConfig(
            f"{target.environment.capitalize()}TrafficConfig",
            DeploymentConfigName=name,
            ComputePlatform="ECS",
            TrafficRoutingConfig=routing,
        )
    )
    return config.ref()


def ecs_deployment_group(
    stack: ChildStack,
    names: Names,
    target: EcsBlueGreen,
    role_arn: Exported,
    application: Exported,
) -> Exported:
    group = stack.add(
        codedeploy.DeploymentGroup(
            f"{target.environment.capitalize()}DeploymentGroup",
            ApplicationName=stack.use(application),
            DeploymentGroupName=names.deployment_group(target.environment),
            ServiceRoleArn=stack.use(role_arn),
            DeploymentConfigName=traffic_config(stack, names, target),
            DeploymentStyle=codedeploy.DeploymentStyle(
                DeploymentType="BLUE_GREEN", DeploymentOption="WITH_TRAFFIC_CONTROL"
            ),
            BlueGreenDeploymentConfiguration=codedeploy.BlueGreenDeploymentConfiguration(
                DeploymentReadyOption=codedeploy.DeploymentReadyOption(
                    ActionOnTimeout="CONTINUE_DEPLOYMENT"
                ),
                TerminateBlueInstancesOnDeploymentSuccess=codedeploy.BlueInstanceTerminationOption(
                    Action="TERMINATE",
                    TerminationWaitTimeInMinutes=target.termination_wait_minutes,
                ),
            ),
            ECSServices=[
                codedeploy.ECSService(
                    ClusterName=stack.use(target.service.cluster),
                    ServiceName=stack.use(target.service.service),
                )
            ],
            LoadBalancerInfo=codedeploy.LoadBalancerInfo(
                TargetGroupPairInfoList=[
                    codedeploy.TargetGroupPairInfo(
                        TargetGroups=[
                            codedeploy.TargetGroupInfo(
                                Name=target_group_name(stack.use(target.blue_target_group_arn))
                            ),
                            codedeploy.TargetGroupInfo(
                                Name=target_group_name(stack.use(target.green_target_group_arn))
                            ),
                        ],
                        ProdTrafficRoute=codedeploy.TrafficRoute(
                            ListenerArns=[stack.use(target.production_listener_arn)]
                        ),
                        TestTrafficRoute=codedeploy.TrafficRoute(
                            ListenerArns=[stack.use(target.test_listener_arn)]
                        ),
                    )
                ]
            ),
            AutoRollbackConfiguration=codedeploy.AutoRollbackConfiguration(
                Enabled=True, Events=["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
            ),
            AlarmConfiguration=codedeploy.AlarmConfiguration(
                Enabled=True,
                IgnorePollAlarmFailure=False,
                Alarms=[codedeploy.Alarm(Name=a.value_in(stack)) for a in target.alarms],
            ),
        )
    )
    return stack.export(
        f"{group.title}Name",
        group.ref(),
        f"CodeDeploy ECS deployment group of {target.environment}",
    )


def _listener_rules(stack: ChildStack, listener: StackValue) -> Sub:
    """`...:listener/app/LB/ID/LID` -> `...:listener-rule/app/LB/ID/LID/*`."""
    return Sub(
        "arn:${AWS::Partition}:elasticloadbalancing:${AWS::Region}:${AWS::AccountId}:"
        "listener-rule/${Path}/*",
        Path=Select(1, Split("listener/", stack.use(listener))),
    )


def codedeploy_ecs_role(
    stack: ChildStack, names: Names, targets: Sequence[EcsBlueGreen], store: ArtifactStore
) -> RoleBuilder:
    """What AWSCodeDeployRoleForECS grants, scoped to these services, listeners and alarms."""
    role = RoleBuilder(
        logical_id="CodeDeployEcsServiceRole",
        description=f"CodeDeploy (ECS) service role of {names.pipeline}",
        trust=service("codedeploy"),
        pipeline=names.pipeline,
    )
    role.allow(
        "ShiftTaskSets",
        [
            ecs_actions.DescribeServices,
            ecs_actions.CreateTaskSet,
            ecs_actions.UpdateServicePrimaryTaskSet,
            ecs_actions.DeleteTaskSet,
        ],
        [
            *[service_arn(stack, t.service) for t in targets],
            *[task_set_arn(stack, t.service) for t in targets],
        ],
    )
    listeners = [
        listener for t in targets for listener in (t.production_listener_arn, t.test_listener_arn)
    ]
    role.allow(
        "RerouteListeners",
        [elb.ModifyListener, elb.ModifyRule],
        [
            *[stack.use(listener) for listener in listeners],
            *[_listener_rules(stack, listener) for listener in listeners],
        ],
    )
    role.allow(
        "DescribeLoadBalancing",
        [elb.DescribeTargetGroups, elb.DescribeListeners, elb.DescribeRules],
        ["*"],
    )
    alarms = [a for t in targets for a in t.alarms]
    if alarms:
        role.allow("ReadRollbackAlarms", [cw.DescribeAlarms], alarm_arns(names, alarms))
    role.allow(*artifact_read(stack.use(store.bucket_arn)))
    role.allow(*key_decrypt(stack.use(store.key_arn)))
    role.allow(*pass_task_roles(stack, [t.service for t in targets]), PASSED_TO_ECS_TASKS)
    return role


def blue_green_action_role(
    stack: ChildStack,
    names: Names,
    target: EcsBlueGreen,
    store: ArtifactStore,
    pipeline_role: Any,
) -> RoleBuilder:
    role = action_role(
        f"{target.environment.capitalize()}DeployActionRole",
        f"CodeDeployToECS action of {names.pipeline} into {target.environment}",
        names.pipeline,
        pipeline_role,
    )
    for grant in deployment_grants(names, target.environment, traffic_config_name(names, target)):
        role.allow(*grant)
    role.allow(*REGISTER_TASK_DEFINITIONS)
    role.allow(*DESCRIBE_TASK_DEFINITIONS)
    role.allow(*TAG_NEW_REVISIONS, TAGGING_AT_REGISTRATION)
    role.allow(*pass_task_roles(stack, [target.service]), PASSED_TO_ECS_TASKS)
    role.allow(*artifact_read(stack.use(store.bucket_arn)))
    role.allow(*key_decrypt(stack.use(store.key_arn)))
    return role


def container_log_group(
    stack: ChildStack, names: Names, environment: str, key_arn: Any, days: int
) -> None:
    """Where the environment's task definition sends its container logs (awslogs)."""
    encrypted_log_group(
        stack,
        f"{environment.capitalize()}ContainerLogGroup",
        names.container_log_group(environment),
        key_arn,
        days,
    )


def task_definition_file(environment: str) -> str:
    """Each environment registers its own task definition (its own roles and sizes)."""
    return f"taskdef-{environment}.json"


def blue_green_step(
    application: Exported, group: Exported, role: Exported, artifact: str, environment: str
) -> Step:
    """CodeDeployToECS: taskdef.json and appspec.yaml from the build output, the image from
    its imageDetail.json, substituted for <IMAGE1_NAME>."""
    return Step(
        name="Deploy",
        category="Deploy",
        provider="CodeDeployToECS",
        configuration={
            "ApplicationName": application,
            "DeploymentGroupName": group,
            "TaskDefinitionTemplateArtifact": artifact,
            "TaskDefinitionTemplatePath": task_definition_file(environment),
            "AppSpecTemplateArtifact": artifact,
            "AppSpecTemplatePath": "appspec.yaml",
            "Image1ArtifactName": artifact,
            "Image1ContainerName": "IMAGE1_NAME",
        },
        role=role,
        inputs=(artifact,),
    )
