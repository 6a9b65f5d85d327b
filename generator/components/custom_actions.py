"""Custom actions: an external system (Jenkins, Terraform, an in-house tool) as a pipeline action.

Per declared action: an `AWS::CodePipeline::CustomActionType`, a least-privilege role for its job
worker (generator/workers/job_worker.py, or the external system's own worker such as the Jenkins
CodePipeline plugin), and the pipeline action (`custom_step`). CodePipeline queues a job for
each run of the action; the worker polls for jobs of exactly this action type, acknowledges one,
does the work and reports the result.

The worker role can only do that: `codepipeline:PollForJobs` on this action type's ARN, and the
four job calls, which take a job id and no resource (so `*`, in a policy of their own; see
generator/data/wildcard_only_actions.yaml). It needs no S3 or KMS permission: every job carries
temporary artifact credentials, issued for this job by the pipeline, that the worker uses for
the input and output artifacts. Secret configuration values reach the worker in the job data
only (PollForJobs, GetJobDetails); in the template they are Secrets Manager dynamic references.

A custom action type exists once per account and region: two stacks cannot both create the same
Category/Provider/Version. A pipeline that uses a type another stack registered sets
`register_type: false` and gets only the pipeline action.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

from awacs import codepipeline as cp
from awacs.aws import ArnLike, Condition, Principal, StringEquals
from troposphere import Ref, Sub, codepipeline, iam

from generator.assembly.stack import ChildStack, Exported, RootParameter
from generator.components.iam import RoleBuilder, role_path, service
from generator.naming import Names, arn
from generator.pipeline_plan import Step
from generator.spec.checks import Loc, SpecIssue, repeats
from generator.spec.model import (
    ActionSecret,
    CustomAction,
    CustomActionProperty,
    Environment,
    PipelineSpec,
)

CUSTOM_ACTIONS_GROUP = "Custom actions"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$"
# A queryable property's value in a pipeline (CodePipeline: ActionConfigurationProperty).
QUERYABLE_VALUE = re.compile(r"[A-Za-z0-9_-]{1,20}")
URL_PLACEHOLDER = re.compile(r"\{Config:([^}]*)\}")
SETTINGS_FIELDS = (
    "entity_url_template",
    "execution_url_template",
    "revision_url_template",
    "third_party_configuration_url",
)


def logical_prefix(action: CustomAction) -> str:
    """Logical ids of an action's resources: `BuildJenkinsV1` for Build/Jenkins/1. Derived from
    the type, not the list position, so that reordering the spec replaces nothing."""
    provider = re.sub(r"[^A-Za-z0-9]", "", action.provider)
    version = re.sub(r"[^A-Za-z0-9]", "", action.version)
    return f"{action.category}{provider[:1].upper()}{provider[1:]}V{version}"


def type_id(action: CustomAction) -> str:
    """Category/Provider/Version, as in the action type's ARN."""
    return f"{action.category}/{action.provider}/{action.version}"


def action_type_arn(action: CustomAction) -> Sub:
    """The ARN that PollForJobs is authorised on (Service Authorization Reference, CodePipeline:
    resource type actiontype, `actiontype:${Owner}/${Category}/${Provider}/${Version}`)."""
    return arn("codepipeline", f"actiontype:Custom/{type_id(action)}")


def worker_principal(action: CustomAction) -> RootParameter:
    """The launch parameter naming the role that runs the worker (assumed_by: role)."""
    return RootParameter(
        name=f"{logical_prefix(action)}WorkerPrincipalArn",
        description=f"ARN of the IAM role that runs the {action.provider} job worker (an "
        "instance or task role, IAM Roles Anywhere, ...); it may assume the worker role.",
        label=f"{action.provider} worker principal",
        group=CUSTOM_ACTIONS_GROUP,
        default=action.worker.principal_arn,
        allowed_pattern=ROLE_ARN_PATTERN,
        min_length=20,
        max_length=2048,
        constraint_description="A role ARN such as arn:aws:iam::123456789012:role/jenkins.",
    )


def custom_action_parameters(actions: Sequence[CustomAction]) -> list[RootParameter]:
    return [
        worker_principal(a) for a in actions if a.register_type and a.worker.assumed_by == "role"
    ]


def _settings(action: CustomAction) -> codepipeline.Settings | None:
    values = {
        "EntityUrlTemplate": action.settings.entity_url_template,
        "ExecutionUrlTemplate": action.settings.execution_url_template,
        "RevisionUrlTemplate": action.settings.revision_url_template,
        "ThirdPartyConfigurationUrl": action.settings.third_party_configuration_url,
    }
    given = {key: value for key, value in values.items() if value is not None}
    return codepipeline.Settings(**given) if given else None


def _property(prop: CustomActionProperty) -> codepipeline.ConfigurationProperties:
    props: dict[str, Any] = {
        "Name": prop.name,
        "Required": prop.required,
        "Key": prop.key,
        "Secret": prop.secret,
        "Queryable": prop.queryable,
        "Type": prop.type,
    }
    if prop.description is not None:
        props["Description"] = prop.description
    return codepipeline.ConfigurationProperties(**props)


def action_type(stack: ChildStack, action: CustomAction) -> codepipeline.CustomActionType:
    inputs, outputs = action.input_counts(), action.output_counts()
    props: dict[str, Any] = {
        "Category": action.category,
        "Provider": action.provider,
        "Version": action.version,
        "InputArtifactDetails": codepipeline.ArtifactDetails(
            MinimumCount=inputs.minimum, MaximumCount=inputs.maximum
        ),
        "OutputArtifactDetails": codepipeline.ArtifactDetails(
            MinimumCount=outputs.minimum, MaximumCount=outputs.maximum
        ),
    }
    settings = _settings(action)
    if settings is not None:
        props["Settings"] = settings
    if action.configuration_properties:
        props["ConfigurationProperties"] = [_property(p) for p in action.configuration_properties]
    # Tags: the assembler adds the pipeline's cost-allocation tags to every taggable resource.
    return stack.add(codepipeline.CustomActionType(f"{logical_prefix(action)}ActionType", **props))


def worker_role(names: Names, action: CustomAction, principal: Any = None) -> RoleBuilder:
    """Poll for this action type's jobs, and report on them; nothing else."""
    prefix = logical_prefix(action)
    who = action.worker.assumed_by
    trust_condition: Condition | None = None
    if who == "ec2":
        trust = service("ec2")
    elif who == "ecs-task":
        trust = service("ecs-tasks")
        # ECS's confused-deputy protection for task roles: tasks of this account only.
        trust_condition = Condition(
            [
                ArnLike({"aws:SourceArn": arn("ecs", "*")}),
                StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")}),
            ]
        )
    else:
        trust = Principal("AWS", [principal])
    role = RoleBuilder(
        logical_id=f"{prefix}WorkerRole",
        description=f"Job worker of custom action Custom/{type_id(action)} "
        f"(pipeline {names.pipeline})",
        trust=trust,
        pipeline=names.pipeline,
        trust_condition=trust_condition,
    )
    role.allow("PollForThisActionType", [cp.PollForJobs], [action_type_arn(action)])
    role.allow(
        "WorkOnJobs",
        [cp.AcknowledgeJob, cp.GetJobDetails, cp.PutJobSuccessResult, cp.PutJobFailureResult],
        ["*"],
    )
    return role


@dataclass(frozen=True)
class CustomActionResources:
    """What one action added: handles for the integrator (None where not created)."""

    action: CustomAction
    type_name: Exported | None  # Ref of the CustomActionType (its identifier)
    worker_role_arn: Exported | None
    worker_instance_profile: Exported | None  # assumed_by ec2
    worker_principal: RootParameter | None  # assumed_by role


def custom_action(stack: ChildStack, names: Names, action: CustomAction) -> CustomActionResources:
    """The action type and its worker role (both only with register_type)."""
    if not action.register_type:
        return CustomActionResources(action, None, None, None, None)
    prefix = logical_prefix(action)
    created = action_type(stack, action)
    principal = worker_principal(action) if action.worker.assumed_by == "role" else None
    role = worker_role(names, action, stack.use(principal) if principal else None)
    role_arn = role.build(stack)
    profile: Exported | None = None
    if action.worker.assumed_by == "ec2":
        instance_profile = stack.add(
            iam.InstanceProfile(
                f"{prefix}WorkerInstanceProfile",
                Path=role_path(names.pipeline),
                Roles=[Ref(role.logical_id)],
            )
        )
        profile = stack.export(
            f"{prefix}WorkerInstanceProfileName",
            instance_profile.ref(),
            f"Instance profile for the {action.provider} job worker",
        )
    return CustomActionResources(
        action=action,
        type_name=stack.export(
            f"{prefix}ActionTypeName", created.ref(), f"Custom action Custom/{type_id(action)}"
        ),
        worker_role_arn=stack.export(
            f"{prefix}WorkerRoleArn", role_arn, f"Role of the {action.provider} job worker"
        ),
        worker_instance_profile=profile,
        worker_principal=principal,
    )


def custom_actions(
    stack: ChildStack, names: Names, actions: Sequence[CustomAction]
) -> list[CustomActionResources]:
    """Every declared action. The pipeline stack must wait for `stack` (no value flows from the
    types to the pipeline): `pipeline_stack.after.append(stack)`."""
    return [custom_action(stack, names, action) for action in actions]


def dynamic_reference(secret: ActionSecret) -> str:
    """CloudFormation resolves this from Secrets Manager at deploy time."""
    key = f":SecretString:{secret.json_key}" if secret.json_key else ""
    return f"{{{{resolve:secretsmanager:{secret.secret}{key}}}}}"


def _text(value: str | bool | int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def configuration(action: CustomAction) -> dict[str, str]:
    """The pipeline action's Configuration: every value as text, secrets as references."""
    values = {name: _text(value) for name, value in action.configuration.items()}
    values.update({name: dynamic_reference(s) for name, s in action.secrets.items()})
    return dict(sorted(values.items()))


def custom_step(action: CustomAction, run_order: int) -> Step:
    """The pipeline action (Owner Custom) that hands a job to the action type's workers."""
    return Step(
        name=action.name or action.provider,
        category=action.category,
        provider=action.provider,
        owner="Custom",
        version=action.version,
        configuration=configuration(action),
        inputs=tuple(action.inputs),
        outputs=tuple(action.outputs),
        run_order=run_order,
        namespace=action.namespace,
    )


def worker_environment(action: CustomAction) -> dict[str, str]:
    """The PIPEGEN_WORKER_* variables that configure job_worker.py for this action (for a
    systemd unit, an ECS task definition or an env file next to the worker)."""
    env = {
        "PIPEGEN_WORKER_CATEGORY": action.category,
        "PIPEGEN_WORKER_PROVIDER": action.provider,
        "PIPEGEN_WORKER_VERSION": action.version,
    }
    if action.worker.command is not None:
        env["PIPEGEN_WORKER_COMMAND"] = action.worker.command
    queryable = [p for p in action.configuration_properties if p.queryable]
    if queryable and queryable[0].name in action.configuration:
        name = queryable[0].name
        # PollForJobs must name the queryable property; this worker takes this pipeline's jobs.
        env["PIPEGEN_WORKER_QUERY"] = f"{name}={_text(action.configuration[name])}"
    return env


# -- cross-field checks ------------------------------------------------------------------------


def worker_variable(name: str) -> str:
    """How job_worker.py names a property's variable: PIPEGEN_CONFIG_<NAME>."""
    return "PIPEGEN_CONFIG_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def check_custom_actions(spec: PipelineSpec[Environment]) -> Iterator[SpecIssue]:
    """Rules that span the fields of spec.custom_actions (CodePipeline's CreateCustomActionType
    and pipeline validation rules, and what the job worker needs)."""
    actions = spec.custom_actions
    types = [type_id(a) for a in actions]
    for index, earlier, value in repeats(types):
        yield SpecIssue(
            ("custom_actions", index, "provider"),
            f"action type Custom/{value} is already declared at custom_actions[{earlier}]; "
            "declare each category, provider and version once",
        )
    duplicates = {index for index, _, _ in repeats(types)}
    prefixes = [logical_prefix(a) for a in actions]
    for index, earlier, _ in repeats(prefixes):
        if index not in duplicates:
            yield SpecIssue(
                ("custom_actions", index, "provider"),
                f"Custom/{types[index]} and Custom/{types[earlier]} (custom_actions[{earlier}]) "
                "differ only in '_' and '-', so their resources would have the same names; "
                "rename one provider or version",
            )
    named = [f"{a.stage}\n{a.name or a.provider}" for a in actions]
    for index, earlier, key in repeats(named):
        stage, name = key.split("\n")
        yield SpecIssue(
            ("custom_actions", index, "name"),
            f"stage {stage} already has an action named {name} (custom_actions[{earlier}]); "
            "action names are unique within a stage: set name",
        )
    for index, action in enumerate(actions):
        yield from _check_action(("custom_actions", index), action)


def _check_action(loc: Loc, action: CustomAction) -> Iterator[SpecIssue]:
    props = action.configuration_properties
    yield from _check_properties(loc, props)
    yield from _check_artifacts(loc, action)
    yield from _check_settings(loc, action)
    yield from _check_configuration(loc, action)
    if not action.register_type and "worker" in action.model_fields_set:
        yield SpecIssue(
            (*loc, "worker"),
            "worker applies only with register_type: true; the stack that registers the action "
            "type also sets up its worker",
        )
    worker = action.worker
    if worker.principal_arn is not None and worker.assumed_by != "role":
        yield SpecIssue(
            (*loc, "worker", "principal_arn"),
            f"principal_arn applies only with assumed_by: role, not {worker.assumed_by}",
        )


def _check_properties(loc: Loc, props: Sequence[CustomActionProperty]) -> Iterator[SpecIssue]:
    where = (*loc, "configuration_properties")
    for index, earlier, name in repeats([p.name for p in props]):
        yield SpecIssue(
            (*where, index, "name"),
            f"property {name!r} is already declared at configuration_properties[{earlier}]",
        )
    exact = {index for index, _, _ in repeats([p.name for p in props])}
    variables = [worker_variable(p.name) for p in props]
    for index, earlier, variable in repeats(variables):
        if index not in exact:
            yield SpecIssue(
                (*where, index, "name"),
                f"{props[index].name!r} and {props[earlier].name!r} both become {variable} for "
                "the job worker; rename one",
            )
    queryable = [index for index, p in enumerate(props) if p.queryable]
    for index in queryable[1:]:
        yield SpecIssue(
            (*where, index, "queryable"),
            f"an action type has at most one queryable property, and "
            f"configuration_properties[{queryable[0]}] is one already",
        )
    for index, prop in enumerate(props):
        if prop.queryable and (not prop.required or prop.secret):
            yield SpecIssue(
                (*where, index, "queryable"),
                "a queryable property must be required and not secret (CodePipeline); set "
                "required: true and secret: false",
            )


def _check_artifacts(loc: Loc, action: CustomAction) -> Iterator[SpecIssue]:
    for field, names, counts in (
        ("input_artifacts", action.inputs, action.input_counts()),
        ("output_artifacts", action.outputs, action.output_counts()),
    ):
        listed = "inputs" if field == "input_artifacts" else "outputs"
        if counts.minimum > counts.maximum:
            yield SpecIssue(
                (*loc, field, "minimum"),
                f"minimum {counts.minimum} is more than maximum {counts.maximum}",
            )
        elif not counts.minimum <= len(names) <= counts.maximum:
            yield SpecIssue(
                (*loc, listed),
                f"{len(names)} {listed[:-1]} artifact(s) listed, but the action type takes "
                f"{counts.minimum} to {counts.maximum} ({field}); list that many or change "
                f"{field}",
            )
        for index, earlier, name in repeats(names):
            yield SpecIssue(
                (*loc, listed, index),
                f"artifact {name!r} is already listed at {listed}[{earlier}]; list it once",
            )
    for index, name in enumerate(action.outputs):
        if name in action.inputs:
            yield SpecIssue(
                (*loc, "outputs", index),
                f"{name!r} is also an input; an action cannot write the artifact it reads",
            )
    if action.category == "Source" and (action.inputs or action.input_counts().maximum > 0):
        yield SpecIssue(
            (*loc, "inputs" if action.inputs else "input_artifacts"),
            "a Source action takes no input artifacts; remove inputs and set input_artifacts "
            "maximum to 0",
        )


def _check_settings(loc: Loc, action: CustomAction) -> Iterator[SpecIssue]:
    props = {p.name: p for p in action.configuration_properties}
    for field in SETTINGS_FIELDS:
        url = getattr(action.settings, field)
        for name in URL_PLACEHOLDER.findall(url or ""):
            prop = props.get(name)
            if prop is None:
                yield SpecIssue(
                    (*loc, "settings", field),
                    f"{{Config:{name}}} names no configuration property{_hint(name, props)}",
                )
            elif prop.secret:
                yield SpecIssue(
                    (*loc, "settings", field),
                    f"{{Config:{name}}} would show the secret property {name} in the console; "
                    "link with a property that is not secret",
                )


def _hint(name: str, known: dict[str, Any]) -> str:
    close = get_close_matches(name, list(known), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    listed = ", ".join(known) or "none declared"
    return f" (declared: {listed})"


def _check_configuration(loc: Loc, action: CustomAction) -> Iterator[SpecIssue]:
    props = {p.name: p for p in action.configuration_properties}
    for field, values in (("configuration", action.configuration), ("secrets", action.secrets)):
        for name in values:
            prop = props.get(name)
            if prop is None:
                yield SpecIssue(
                    (*loc, field, name),
                    f"{name!r} is not a configuration property of this action{_hint(name, props)}",
                )
            elif prop.secret and field == "configuration":
                yield SpecIssue(
                    (*loc, field, name),
                    f"{name} is a secret property: give it under secrets as a Secrets Manager "
                    "reference ({secret: NAME, json_key: KEY}), never as a literal value",
                )
            elif not prop.secret and field == "secrets":
                yield SpecIssue(
                    (*loc, field, name),
                    f"{name} is not a secret property, so CodePipeline would show its value; "
                    "set secret: true on the property, or give a plain value under "
                    "configuration",
                )
    for name, prop in props.items():
        given = name in action.configuration or name in action.secrets
        if prop.required and not given:
            field = "secrets" if prop.secret else "configuration"
            yield SpecIssue(
                (*loc, field),
                f"the required property {name} has no value; add it under {field}",
            )
    for name, value in action.configuration.items():
        prop = props.get(name)
        if prop is None or prop.secret:
            continue
        problem = _type_problem(prop, value)
        if problem:
            yield SpecIssue((*loc, "configuration", name), problem)
        elif prop.queryable and not QUERYABLE_VALUE.fullmatch(_text(value)):
            yield SpecIssue(
                (*loc, "configuration", name),
                f"{_text(value)!r} cannot be the value of the queryable property {name}: use "
                "1-20 letters, digits, _ and - (CodePipeline)",
            )


def _type_problem(prop: CustomActionProperty, value: str | bool | int | float) -> str | None:
    if prop.type == "Boolean" and not isinstance(value, bool):
        return f"{prop.name} is a Boolean property: use true or false, not {value!r}"
    if prop.type == "Number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"{prop.name} is a Number property: use a number, not {value!r}"
    if prop.type == "String" and isinstance(value, bool):
        return f"{prop.name} is a String property: quote the value ('{_text(value)}')"
    return None
