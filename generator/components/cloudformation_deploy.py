"""Deploying an application stack through CloudFormation change sets: the per-environment
execution role (never admin), the permissions boundary every role it creates must carry, the
role that shifts Lambda traffic, and the create/execute change-set actions.

What the application may create and use comes from a service catalogue (`ServiceGrants`, read
from a data file by the blueprint): each service's control-plane actions go to the execution
role, its data-plane actions to the boundary, both scoped to names under the stack's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from awacs import awslambda as lambda_actions
from awacs import cloudformation as cfn
from awacs import cloudwatch as cw
from awacs import iam as iam_actions
from awacs import s3 as s3_actions
from awacs import xray
from awacs.aws import Action, Allow, Condition, PolicyDocument, Statement, StringEquals
from troposphere import Ref, Sub, iam

from generator.assembly.stack import ChildStack, StackValue
from generator.components.artifact_store import ArtifactStore
from generator.components.grants import ConditionalGrant, Grant, artifact_read, key_decrypt
from generator.components.iam import (
    POLICY_VERSION,
    RoleBuilder,
    action_role,
    role_path,
    service,
)
from generator.naming import Names, arn
from generator.pipeline_plan import JsonText, Step

SAM_TRANSFORM = "Serverless-2016-10-31"


@dataclass(frozen=True)
class ScopedGrant:
    """Actions on ARN patterns with {partition}, {region}, {account}, {stack}, {stack_lower}."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def resolve(
        self, stack_name: str, region: str = "${AWS::Region}"
    ) -> tuple[list[Action], list[Any]]:
        actions = [Action(*name.split(":", 1)) for name in self.actions]
        resources: list[Any] = [
            "*"
            if pattern == "*"
            else Sub(
                pattern.format(
                    partition="${AWS::Partition}",
                    region=region,
                    account="${AWS::AccountId}",
                    stack=stack_name,
                    stack_lower=stack_name.lower(),
                )
            )
            for pattern in self.resources
        ]
        return actions, resources


@dataclass(frozen=True)
class ServiceGrants:
    service: str
    deploy: tuple[ScopedGrant, ...]
    runtime: tuple[ScopedGrant, ...]
    pass_to: tuple[str, ...]


@dataclass(frozen=True)
class AppStack:
    """One environment's application stack."""

    environment: str
    stack_name: str
    capabilities: tuple[str, ...]
    template: str  # artifact::path of the packaged template
    configuration: str  # artifact::path of the template configuration file
    services: tuple[ServiceGrants, ...]
    alarms: tuple[str, ...]  # names the traffic shift watches
    region: str = "${AWS::Region}"  # "*": roles that serve the stack in every region

    @property
    def change_set(self) -> str:
        return f"pipegen-{self.environment}"

    @property
    def title(self) -> str:
        return self.environment.capitalize()

    def stack_arn(self) -> Sub:
        return Sub(
            f"arn:${{AWS::Partition}}:cloudformation:{self.region}:${{AWS::AccountId}}:"
            f"stack/{self.stack_name}/*"
        )

    def role_arns(self) -> Sub:
        """The roles CloudFormation names for this stack: <stack>-<LogicalId>-<suffix>."""
        return arn("iam", f"role/{self.stack_name}-*", region=False)


def boundary_name(names: Names, environment: str) -> str:
    return f"{names.pipeline}-{environment}-app-boundary"


def boundary_arn(names: Names, environment: str) -> Sub:
    """Known before the policy exists: it has a fixed name under the pipeline's path."""
    path = role_path(names.pipeline)
    return arn("iam", f"policy{path}{boundary_name(names, environment)}", region=False)


def permissions_boundary(stack: ChildStack, names: Names, app: AppStack) -> iam.ManagedPolicy:
    """The ceiling of every role the application creates: the data-plane actions of its
    services on its own resources, and nothing about IAM."""
    statements = []
    for grants in app.services:
        for index, grant in enumerate(grants.runtime):
            actions, resources = grant.resolve(app.stack_name, app.region)
            statements.append(
                Statement(
                    Sid=f"{_pascal(grants.service)}{index + 1}",
                    Effect=Allow,
                    Action=actions,
                    Resource=resources,
                )
            )
    statements.append(
        Statement(
            Sid="TracesAndMetrics",
            Effect=Allow,
            Action=[xray.PutTraceSegments, xray.PutTelemetryRecords, cw.PutMetricData],
            Resource=["*"],
        )
    )
    return stack.add(
        iam.ManagedPolicy(
            f"{app.title}AppBoundary",
            ManagedPolicyName=boundary_name(names, app.environment),
            Path=role_path(names.pipeline),
            Description=f"Permissions boundary of every role stack {app.stack_name} creates",
            PolicyDocument=PolicyDocument(Version=POLICY_VERSION, Statement=statements),
        )
    )


# IAM actions that accept the iam:PermissionsBoundary condition key.
BOUNDED_IAM_ACTIONS = (
    iam_actions.CreateRole,
    iam_actions.PutRolePermissionsBoundary,
    iam_actions.PutRolePolicy,
    iam_actions.DeleteRolePolicy,
    iam_actions.AttachRolePolicy,
    iam_actions.DetachRolePolicy,
)
OTHER_ROLE_ACTIONS = (
    iam_actions.GetRole,
    iam_actions.GetRolePolicy,
    iam_actions.ListRolePolicies,
    iam_actions.ListAttachedRolePolicies,
    iam_actions.UpdateRole,
    iam_actions.UpdateRoleDescription,
    iam_actions.UpdateAssumeRolePolicy,
    iam_actions.TagRole,
    iam_actions.UntagRole,
    iam_actions.DeleteRole,
)


def execution_role(
    names: Names,
    app: AppStack,
    *,
    artifact_grants: Sequence[Grant | ConditionalGrant],
    traffic_role: Any | None = None,
    role_name: str | None = None,
) -> RoleBuilder:
    """What CloudFormation uses to change the application's stack, and nothing more:
    the services' control plane on the stack's names, IAM roles only with the boundary, and
    reading the packaged code (`artifact_grants`)."""
    role = RoleBuilder(
        logical_id=f"{app.title}ExecutionRole",
        description=f"CloudFormation deploys stack {app.stack_name} ({app.environment})",
        trust=service("cloudformation"),
        pipeline=names.pipeline,
        trust_condition=Condition(StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")})),
        role_name=role_name,
    )
    for grants in app.services:
        for index, grant in enumerate(grants.deploy):
            actions, resources = grant.resolve(app.stack_name, app.region)
            role.allow(f"Deploy{_pascal(grants.service)}{index + 1}", actions, resources)
    role.allow(
        "CreateRolesOnlyWithTheBoundary",
        list(BOUNDED_IAM_ACTIONS),
        [app.role_arns()],
        Condition(StringEquals({"iam:PermissionsBoundary": boundary_arn(names, app.environment)})),
    )
    role.allow("ManageTheStacksRoles", list(OTHER_ROLE_ACTIONS), [app.role_arns()])
    passed_to = sorted({f"{s}.amazonaws.com" for g in app.services for s in g.pass_to})
    if passed_to:
        role.allow(
            "PassTheStacksRoles",
            [iam_actions.PassRole],
            [app.role_arns()],
            Condition(StringEquals({"iam:PassedToService": passed_to})),
        )
    if traffic_role is not None:
        role.allow(
            "PassTheTrafficShiftingRole",
            [iam_actions.PassRole],
            [traffic_role],
            Condition(StringEquals({"iam:PassedToService": "codedeploy.amazonaws.com"})),
        )
    for artifact_grant in artifact_grants:
        role.allow(*artifact_grant)
    return role


def packaged_code_grants(store: ArtifactStore, stack: ChildStack) -> list[Grant]:
    """Lambda reads the code `sam package` uploaded, as the caller."""
    return [
        (
            "ReadPackagedCode",
            [s3_actions.GetObject, s3_actions.GetObjectVersion],
            [Sub("${Bucket}/*", Bucket=stack.use(store.bucket_arn))],
        ),
        key_decrypt(stack.use(store.key_arn)),
    ]


def traffic_shifting_role(names: Names, app: AppStack) -> RoleBuilder:
    """The role CodeDeploy uses to shift the alias and run the traffic hooks
    (AWSCodeDeployRoleForLambda, narrowed to this stack)."""
    role = RoleBuilder(
        logical_id=f"{app.title}TrafficShiftingRole",
        description=f"CodeDeploy shifts Lambda traffic in stack {app.stack_name}",
        trust=service("codedeploy"),
        pipeline=names.pipeline,
        trust_condition=Condition(StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")})),
    )
    role.allow(
        "ShiftAliases",
        [
            lambda_actions.GetAlias,
            lambda_actions.UpdateAlias,
            lambda_actions.GetProvisionedConcurrencyConfig,
        ],
        [arn("lambda", f"function:{app.stack_name}-*")],
    )
    role.allow(
        "RunTrafficHooks",
        [lambda_actions.InvokeFunction],
        [arn("lambda", f"function:CodeDeployHook_{app.stack_name}-*")],
    )
    role.allow(
        "ReadRollbackAlarms",
        [cw.DescribeAlarms],
        [names.alarm_arn(f"{app.stack_name}-*"), *(names.alarm_arn(a) for a in app.alarms)],
    )
    return role


def change_set_action_role(
    names: Names,
    apps: Sequence[AppStack],
    store: ArtifactStore,
    stack: ChildStack,
    pipeline_role: Any,
    execution_roles: Sequence[StackValue],
) -> RoleBuilder:
    """The role the pipeline's CloudFormation actions run as: change sets on the
    application stacks only, and handing each its execution role."""
    role = action_role(
        "ChangeSetActionRole",
        f"CloudFormation change-set actions of {names.pipeline}",
        names.pipeline,
        pipeline_role,
    )
    role.allow(
        "ManageChangeSets",
        [
            cfn.CreateChangeSet,
            cfn.DescribeChangeSet,
            cfn.ExecuteChangeSet,
            cfn.DeleteChangeSet,
            cfn.DescribeStacks,
        ],
        [app.stack_arn() for app in apps],
    )
    role.allow(
        "ExpandTheSamTransform",
        [cfn.CreateChangeSet],
        [
            Sub(
                f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:aws:transform/{SAM_TRANSFORM}"
            )
        ],
    )
    role.allow(
        "PassExecutionRoles",
        [iam_actions.PassRole],
        [stack.use(r) for r in execution_roles],
        Condition(StringEquals({"iam:PassedToService": "cloudformation.amazonaws.com"})),
    )
    bucket_arn = stack.use(store.bucket_arn)
    role.allow(*artifact_read(bucket_arn))
    role.allow(*key_decrypt(stack.use(store.key_arn)))
    return role


def create_change_set_step(
    app: AppStack,
    *,
    action_role: StackValue,
    execution_role: StackValue,
    parameter_overrides: dict[str, Any],
    inputs: tuple[str, ...],
    run_order: int = 1,
) -> Step:
    configuration: dict[str, Any] = {
        "ActionMode": "CHANGE_SET_REPLACE",
        "StackName": app.stack_name,
        "ChangeSetName": app.change_set,
        "TemplatePath": app.template,
        "TemplateConfiguration": app.configuration,
        "Capabilities": ",".join(app.capabilities),
        "RoleArn": execution_role,
    }
    if parameter_overrides:
        configuration["ParameterOverrides"] = JsonText(parameter_overrides)
    return Step(
        name="CreateChangeSet",
        category="Deploy",
        provider="CloudFormation",
        configuration=configuration,
        role=action_role,
        inputs=inputs,
        run_order=run_order,
    )


def execute_change_set_step(
    app: AppStack, *, action_role: StackValue, run_order: int, namespace: str
) -> Step:
    """Executes the reviewed change set; the stack's outputs become `namespace` variables."""
    return Step(
        name="ExecuteChangeSet",
        category="Deploy",
        provider="CloudFormation",
        configuration={
            "ActionMode": "CHANGE_SET_EXECUTE",
            "StackName": app.stack_name,
            "ChangeSetName": app.change_set,
        },
        role=action_role,
        run_order=run_order,
        namespace=namespace,
    )


def change_set_review_link(app: AppStack) -> Sub:
    """The stack in the console; its Change sets tab lists the change set to review."""
    return Sub(
        "https://${AWS::Region}.console.aws.amazon.com/cloudformation/home?region=${AWS::Region}"
        f"#/stacks?filteringText={app.stack_name}&filteringStatus=active&viewNested=true"
    )


def _pascal(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace("_", "-").split("-"))
