"""A plain, read-only view of a built pipeline, taken from its rendered templates.

Docs and diagrams are drawn from this view rather than from the spec, so they show what the
templates actually deploy. Every value is a plain string or number: no stack handles.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from generator.assembly.assemble import TemplateSet


@dataclass(frozen=True)
class ActionView:
    name: str
    category: str  # Source | Build | Test | Deploy | Approval | Invoke
    provider: str  # CodeBuild, CodeDeployToECS, Manual, ...
    run_order: int
    what: str  # one line: "runs CodeBuild project web-app-unit-tests"
    role: str  # the role's name or logical id; "" when the pipeline role runs it
    region: str  # where it runs
    account: str  # the account it acts in: an id, or "pipeline" for the pipeline's own
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    # What the action works on, by name ("" where it does not apply): for runbook commands.
    # A value from a root parameter reads "${Name}".
    project: str = ""  # CodeBuild project
    log_group: str = ""  # the CodeBuild project's or Lambda function's log group
    application: str = ""  # CodeDeploy application (CodeDeploy, CodeDeployToECS)
    deployment_group: str = ""  # CodeDeploy deployment group
    stack_name: str = ""  # CloudFormation stack
    change_set: str = ""  # CloudFormation change set
    action_mode: str = ""  # CloudFormation: CHANGE_SET_REPLACE, CHANGE_SET_EXECUTE, CREATE_UPDATE
    cluster: str = ""  # ECS or EKS cluster
    service: str = ""  # ECS service
    function: str = ""  # Lambda function


@dataclass(frozen=True)
class StageView:
    name: str
    actions: tuple[ActionView, ...]
    on_failure: str = ""  # ROLLBACK | RETRY | ""
    gated: bool = False  # holds a manual approval
    entry_rules: tuple[str, ...] = ()  # BeforeEntry rules: "Name: variable OPERATOR value"

    def groups(self) -> list[tuple[int, tuple[ActionView, ...]]]:
        """Actions by run order, in order: each group runs in parallel."""
        orders = sorted({a.run_order for a in self.actions})
        return [(o, tuple(a for a in self.actions if a.run_order == o)) for o in orders]


@dataclass(frozen=True)
class PolicyView:
    """A managed policy the templates create for people (approvers, boundaries), as JSON."""

    logical_id: str
    template: str
    description: str
    document: str  # the policy document, indented JSON with the template's own expressions


@dataclass(frozen=True)
class ParameterView:
    name: str
    type: str
    default: str | None
    allowed_values: tuple[str, ...]
    description: str
    group: str = ""  # the console interface group


@dataclass(frozen=True)
class OutputView:
    name: str
    description: str


@dataclass(frozen=True)
class StatementView:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # readable: ARN patterns with ${...} kept, or logical names
    conditions: tuple[str, ...] = ()  # "StringEquals iam:PassedToService codebuild.amazonaws.com"


@dataclass(frozen=True)
class RoleView:
    logical_id: str
    template: str  # relative path of the template that creates it
    name: str  # its RoleName, or the logical id when CloudFormation names it
    description: str
    named: bool  # has a fixed RoleName: launching needs CAPABILITY_NAMED_IAM
    assumed_by: tuple[str, ...]  # services or principals
    statements: tuple[StatementView, ...]


@dataclass(frozen=True)
class PipelineView:
    name: str
    description: str
    region: str
    account: str  # "pipeline": the account the stack is launched in
    pipeline_type: str
    execution_mode: str
    stages: tuple[StageView, ...]
    parameters: tuple[ParameterView, ...]
    outputs: tuple[OutputView, ...]
    roles: tuple[RoleView, ...]
    templates: tuple[str, ...]  # relative paths, root first
    policies: tuple[PolicyView, ...] = ()  # managed policies attached to no role of ours
    regions: tuple[str, ...] = ()  # every region the pipeline acts in
    accounts: tuple[str, ...] = field(default=())  # every account it acts in, besides its own


# --- taking the view from a template set -------------------------------------------------

_ACCOUNT = re.compile(r"(?<![0-9])([0-9]{12})(?![0-9])")
_NAME_PROPERTIES = (
    "Name",
    "RoleName",
    "FunctionName",
    "TopicName",
    "BucketName",
    "DeploymentGroupName",
    "ApplicationName",
    "AlarmName",
    "LogGroupName",
)


class _Templates:
    """The set's templates as plain dicts, and how a value in one resolves across stacks."""

    def __init__(self, template_set: TemplateSet) -> None:
        self.by_path: dict[str, dict[str, Any]] = {
            path: template.to_dict() for path, template in template_set.templates()
        }
        self.root = self.by_path["root.yaml"]
        self.child_of_stack: dict[str, str] = {
            child.logical_id: f"stacks/{child.file_name}" for child in template_set.children
        }
        self.stack_of_child = {path: logical for logical, path in self.child_of_stack.items()}

    def resources(self, path: str) -> dict[str, Any]:
        resources: dict[str, Any] = self.by_path[path].get("Resources", {})
        return resources

    def origin(self, path: str, value: Any) -> tuple[str, Any]:
        """Follow parameters and stack outputs to where a value is made: (template, value)."""
        for _ in range(8):  # root -> child -> root is the deepest chain; stop on anything odd
            if isinstance(value, dict) and set(value) == {"Ref"}:
                name = value["Ref"]
                template = self.by_path[path]
                if name in template.get("Parameters", {}) and path in self.stack_of_child:
                    stack = self.root["Resources"][self.stack_of_child[path]]
                    passed = stack.get("Properties", {}).get("Parameters", {})
                    if name in passed:
                        path, value = "root.yaml", passed[name]
                        continue
                return path, value
            if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
                logical, attribute = value["Fn::GetAtt"]
                if path == "root.yaml" and logical in self.child_of_stack:
                    child = self.child_of_stack[logical]
                    output = attribute.removeprefix("Outputs.")
                    outputs = self.by_path[child].get("Outputs", {})
                    if output in outputs:
                        path, value = child, outputs[output]["Value"]
                        continue
                return path, value
            return path, value
        return path, value

    def resource_at(self, path: str, value: Any) -> tuple[str, str, dict[str, Any]] | None:
        """The resource a value refers to (Ref or GetAtt, across stacks), if any."""
        path, value = self.origin(path, value)
        logical = None
        if isinstance(value, dict) and set(value) == {"Ref"}:
            logical = value["Ref"]
        elif isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
            logical = value["Fn::GetAtt"][0]
        resources = self.resources(path)
        if isinstance(logical, str) and logical in resources:
            return path, logical, resources[logical]
        return None

    def text(self, path: str, value: Any) -> str:
        """A readable rendering of any template value: names where a resource has one."""
        found = self.resource_at(path, value)
        if found is not None:
            where, logical, resource = found
            properties = resource.get("Properties", {})
            for key in _NAME_PROPERTIES:
                if isinstance(properties.get(key), str | dict):
                    return self.text(where, properties[key])
            return logical
        path, value = self.origin(path, value)
        if isinstance(value, str | int | float | bool):
            return str(value)
        if isinstance(value, list):
            return ", ".join(self.text(path, item) for item in value)
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return f"${{{argument}}}"
            if function == "Fn::Sub":
                if isinstance(argument, str):
                    return argument
                pattern, variables = argument
                for name, inner in variables.items():
                    pattern = pattern.replace(f"${{{name}}}", self.text(path, inner))
                return str(pattern)
            if function == "Fn::GetAtt":
                return f"${{{argument[0]}.{argument[1]}}}"
            if function == "Fn::Join":
                separator, parts = argument
                return str(separator).join(self.text(path, part) for part in parts)
            if function == "Fn::Select" and isinstance(argument[1], dict):
                index, source = argument
                if set(source) == {"Fn::Split"}:
                    separator, whole = source["Fn::Split"]
                    return f"{{{self.text(path, whole)} split on {separator!r}, part {index}}}"
            if function == "Fn::If":
                return self.text(path, argument[1])
        return json.dumps(value, sort_keys=True)


def _statements(templates: _Templates, path: str, document: Any) -> list[StatementView]:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    views = []
    for statement in statements:
        actions = statement.get("Action", statement.get("NotAction", []))
        resources = statement.get("Resource", statement.get("NotResource", []))
        conditions = []
        for operator, pairs in sorted(statement.get("Condition", {}).items()):
            for key, value in sorted(pairs.items()):
                conditions.append(f"{operator} {key} {templates.text(path, value)}")
        views.append(
            StatementView(
                effect=statement.get("Effect", "Allow"),
                actions=tuple(actions if isinstance(actions, list) else [actions]),
                resources=tuple(
                    templates.text(path, r)
                    for r in (resources if isinstance(resources, list) else [resources])
                ),
                conditions=tuple(conditions),
            )
        )
    return views


def _principals(templates: _Templates, path: str, document: Any) -> tuple[str, ...]:
    found: list[str] = []
    for statement in document.get("Statement", []):
        for _, value in sorted(statement.get("Principal", {}).items()):
            values = value if isinstance(value, list) else [value]
            found += [templates.text(path, v) for v in values]
    return tuple(found)


def _entry_rules(stage: dict[str, Any]) -> tuple[str, ...]:
    rules = []
    for condition in stage.get("BeforeEntry", {}).get("Conditions", []):
        for rule in condition.get("Rules", []):
            config = rule.get("Configuration", {})
            provider = rule.get("RuleTypeId", {}).get("Provider", "")
            if {"Variable", "Operator", "Value"} <= set(config):
                text = f"{config['Variable']} {config['Operator']} {config['Value']}"
            else:
                text = json.dumps(config, sort_keys=True)
            rules.append(f"{rule['Name']} ({provider}): {text}, else {condition['Result']}")
    return tuple(rules)


def _people_policies(templates: _Templates) -> tuple[PolicyView, ...]:
    """Managed policies for people to attach: those no role of the templates uses."""
    views = []
    for path in templates.by_path:
        for logical, resource in templates.resources(path).items():
            if resource["Type"] != "AWS::IAM::ManagedPolicy":
                continue
            properties = resource.get("Properties", {})
            if properties.get("Roles"):
                continue
            views.append(
                PolicyView(
                    logical_id=logical,
                    template=path,
                    description=str(properties.get("Description", "")),
                    document=json.dumps(properties.get("PolicyDocument", {}), indent=2),
                )
            )
    return tuple(views)


def _roles(templates: _Templates) -> tuple[RoleView, ...]:
    attached: dict[tuple[str, str], list[StatementView]] = {}
    for path in templates.by_path:
        for resource in templates.resources(path).values():
            if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                continue
            properties = resource.get("Properties", {})
            for role in properties.get("Roles", []):
                found = templates.resource_at(path, role)
                if found is not None:
                    key = (found[0], found[1])
                    attached.setdefault(key, []).extend(
                        _statements(templates, path, properties.get("PolicyDocument", {}))
                    )
    roles = []
    for path in templates.by_path:
        for logical, resource in templates.resources(path).items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            properties = resource.get("Properties", {})
            statements = []
            for policy in properties.get("Policies", []):
                statements += _statements(templates, path, policy.get("PolicyDocument", {}))
            statements += attached.get((path, logical), [])
            name = properties.get("RoleName")
            roles.append(
                RoleView(
                    logical_id=logical,
                    template=path,
                    name=templates.text(path, name) if name else logical,
                    description=str(properties.get("Description", "")),
                    named=bool(name),
                    assumed_by=_principals(
                        templates, path, properties.get("AssumeRolePolicyDocument", {})
                    ),
                    statements=tuple(statements),
                )
            )
    return tuple(roles)


def _what(templates: _Templates, path: str, provider: str, configuration: dict[str, Any]) -> str:
    def value(key: str) -> str:
        return templates.text(path, configuration.get(key, ""))

    describe = _DESCRIBERS.get(provider)
    if describe is not None:
        return describe(value)
    keys = ", ".join(sorted(configuration))
    return f"{provider} action ({keys})" if keys else f"{provider} action"


def _source(value: Callable[[str], str]) -> str:
    return f"pulls {value('FullRepositoryId')} at branch {value('BranchName')}"


def _change_set_or_stack(value: Callable[[str], str]) -> str:
    mode = value("ActionMode")
    if mode == "CHANGE_SET_REPLACE":
        return f"creates change set {value('ChangeSetName')} of stack {value('StackName')}"
    if mode == "CHANGE_SET_EXECUTE":
        return f"executes change set {value('ChangeSetName')} of stack {value('StackName')}"
    return f"deploys stack {value('StackName')} ({mode})"


_DESCRIBERS: dict[str, Callable[[Callable[[str], str]], str]] = {
    "CodeStarSourceConnection": _source,
    "CodeCommit": lambda v: f"pulls CodeCommit {v('RepositoryName')} at branch {v('BranchName')}",
    "S3": lambda v: f"takes s3://{v('S3Bucket')}/{v('S3ObjectKey')}",
    "CodeBuild": lambda v: f"runs CodeBuild project {v('ProjectName')}",
    "Manual": lambda v: f"waits for a manual approval (notifies {v('NotificationArn')})",
    "CodeDeploy": lambda v: f"deploys with CodeDeploy group {v('DeploymentGroupName')}",
    "CodeDeployToECS": lambda v: (
        f"deploys ECS blue/green, CodeDeploy group {v('DeploymentGroupName')}"
    ),
    "ECS": lambda v: f"rolls ECS service {v('ServiceName')} in cluster {v('ClusterName')}",
    "EKS": lambda v: f"applies manifests to EKS cluster {v('ClusterName')}",
    "CloudFormation": _change_set_or_stack,
    "CloudFormationStackSet": lambda v: f"updates StackSet {v('StackSetName')}",
    "CloudFormationStackInstances": lambda v: f"adds StackSet {v('StackSetName')} instances",
    "Lambda": lambda v: f"invokes Lambda function {v('FunctionName')}",
}

# ActionView field -> the configuration key that names it, per provider.
_TARGETS: dict[str, dict[str, str]] = {
    "CodeBuild": {"project": "ProjectName"},
    "CodeDeploy": {"application": "ApplicationName", "deployment_group": "DeploymentGroupName"},
    "CodeDeployToECS": {
        "application": "ApplicationName",
        "deployment_group": "DeploymentGroupName",
    },
    "CloudFormation": {
        "stack_name": "StackName",
        "change_set": "ChangeSetName",
        "action_mode": "ActionMode",
    },
    "ECS": {"cluster": "ClusterName", "service": "ServiceName"},
    "EKS": {"cluster": "ClusterName"},
    "Lambda": {"function": "FunctionName"},
}


def _targets(
    templates: _Templates, path: str, provider: str, configuration: dict[str, Any]
) -> dict[str, str]:
    """The ActionView fields naming what an action works on, and where its logs are."""
    found = {
        name: templates.text(path, configuration[key])
        for name, key in _TARGETS.get(provider, {}).items()
        if key in configuration
    }
    if "project" in found:
        group = f"/aws/codebuild/{found['project']}"
        project = templates.resource_at(path, configuration["ProjectName"])
        if project is not None:
            logs = project[2].get("Properties", {}).get("LogsConfig", {})
            named = logs.get("CloudWatchLogs", {}).get("GroupName")
            group = templates.text(project[0], named) if named else group
        found["log_group"] = group
    if "function" in found:
        found["log_group"] = f"/aws/lambda/{found['function']}"
    return found


def pipeline_view(template_set: TemplateSet, region: str, description: str = "") -> PipelineView:
    """The view of one built pipeline. `region`: where its stack is launched."""
    templates = _Templates(template_set)
    pipeline_path, pipeline = next(
        (path, resource["Properties"])
        for path in templates.by_path
        for resource in templates.resources(path).values()
        if resource["Type"] == "AWS::CodePipeline::Pipeline"
    )
    roles = {(r.template, r.logical_id): r for r in _roles(templates)}
    stages = []
    for stage in pipeline["Stages"]:
        actions = []
        for action in stage["Actions"]:
            type_id = action["ActionTypeId"]
            role_name, account = "", "pipeline"
            if "RoleArn" in action:
                found = templates.resource_at(pipeline_path, action["RoleArn"])
                if found is not None and (found[0], found[1]) in roles:
                    role_name = roles[(found[0], found[1])].name
                else:
                    arn = templates.text(pipeline_path, action["RoleArn"])
                    role_name = arn.rsplit("/", 1)[-1]
                    match = _ACCOUNT.search(arn)
                    account = match.group(1) if match else account
            actions.append(
                ActionView(
                    name=action["Name"],
                    category=type_id["Category"],
                    provider=type_id["Provider"],
                    run_order=int(action.get("RunOrder", 1)),
                    what=_what(
                        templates,
                        pipeline_path,
                        type_id["Provider"],
                        action.get("Configuration", {}),
                    ),
                    role=role_name,
                    region=str(action.get("Region", region)),
                    account=account,
                    inputs=tuple(a["Name"] for a in action.get("InputArtifacts", [])),
                    outputs=tuple(a["Name"] for a in action.get("OutputArtifacts", [])),
                    **_targets(
                        templates,
                        pipeline_path,
                        type_id["Provider"],
                        action.get("Configuration", {}),
                    ),
                )
            )
        stages.append(
            StageView(
                name=stage["Name"],
                actions=tuple(actions),
                on_failure=stage.get("OnFailure", {}).get("Result", ""),
                gated=any(a.category == "Approval" for a in actions),
                entry_rules=_entry_rules(stage),
            )
        )
    root = templates.root
    groups = {
        name: group["Label"]["default"]
        for group in root.get("Metadata", {})
        .get("AWS::CloudFormation::Interface", {})
        .get("ParameterGroups", [])
        for name in group["Parameters"]
    }
    parameters = tuple(
        ParameterView(
            name=name,
            type=parameter["Type"],
            default=None if "Default" not in parameter else str(parameter["Default"]),
            allowed_values=tuple(str(v) for v in parameter.get("AllowedValues", [])),
            description=parameter.get("Description", ""),
            group=groups.get(name, ""),
        )
        for name, parameter in root.get("Parameters", {}).items()
    )
    outputs = tuple(
        OutputView(name, output.get("Description", ""))
        for name, output in root.get("Outputs", {}).items()
    )
    every_action = [a for s in stages for a in s.actions]
    return PipelineView(
        name=template_set.pipeline,
        description=description,
        region=region,
        account="pipeline",
        pipeline_type=str(pipeline.get("PipelineType", "V1")),
        execution_mode=str(pipeline.get("ExecutionMode", "SUPERSEDED")),
        stages=tuple(stages),
        parameters=parameters,
        outputs=outputs,
        roles=tuple(roles.values()),
        policies=_people_policies(templates),
        templates=tuple(path for path, _ in template_set.templates()),
        regions=tuple(sorted({region, *(a.region for a in every_action)})),
        accounts=tuple(sorted({a.account for a in every_action} - {"pipeline"})),
    )
