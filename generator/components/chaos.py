"""Chaos experiments: an AWS FIS experiment template per spec, and the pipeline action that runs it.

- `experiment_role`: the role FIS assumes (trusted by fis.amazonaws.com from this account's
  experiments only). It may do exactly what the spec's FIS actions need (generator/data/
  fis_actions.yaml, from the FIS actions reference), on the target type's resources in this
  account and region, limited by the target's tag with an aws:ResourceTag condition; plus the
  CloudWatch Logs delivery calls experiment logging makes (which accept only Resource "*").
- `experiment_template`: targets by tag, the spec's actions, the environment's alarms as stop
  conditions, and experiment logging to a log group encrypted with the artifact key.
- `runner_project` / `chaos_step`: a CodeBuild action that starts the experiment, polls it until
  it ends and fails unless it completed with every stop-condition alarm quiet. Its role may start
  only templates tagged for this experiment (`pipegen:experiment`), read and stop experiments,
  create FIS's service-linked role the first time (fis:StartExperiment needs no iam:PassRole: the
  template's role was passed when the template was created), and describe the alarms.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from functools import cache
from importlib import resources
from typing import Any, cast

import yaml
from awacs import cloudwatch as cw
from awacs import fis as fis_actions
from awacs import iam as iam_actions
from awacs import logs as logs_actions
from awacs.aws import Action, ArnLike, Condition, StringEquals
from troposphere import GetAtt, Ref, Sub, fis

from generator.assembly.stack import ChildStack, Exported, StackValue
from generator.components import codebuild
from generator.components.alarms import RollbackAlarm
from generator.components.grants import Grant
from generator.components.iam import RoleBuilder, service
from generator.components.log_groups import encrypted_log_group
from generator.components.source import SOURCE_ARTIFACT
from generator.errors import AssemblyError
from generator.naming import Names, arn, literal
from generator.pipeline_plan import ActionEnvironment, Step
from generator.spec.checks import Loc, SpecIssue, repeats, unknown_environment
from generator.spec.model import Chaos, ChaosAction, Environment, PipelineSpec

EXPERIMENT_TAG = "pipegen:experiment"
MAX_STOP_CONDITIONS = 5  # FIS: stop conditions per experiment template
FIS_SERVICE_LINKED_ROLE = (
    "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/fis.amazonaws.com/"
    "AWSServiceRoleForFIS"
)
DURATION = re.compile(r"PT(?=\d)(\d+H)?(\d+M)?(\d+S)?")
TERMINAL_STATES = ("completed", "stopped", "failed", "cancelled")


# -- the allow-list of FIS actions -------------------------------------------------------------


@dataclass(frozen=True)
class Permission:
    actions: tuple[str, ...]
    scope: str  # targets | any | ssm-command | ecs-container-instances


@dataclass(frozen=True)
class FisAction:
    id: str
    source: str
    target_key: str | None
    resource_type: str | None
    parameters: Mapping[str, Mapping[str, Any]]
    permissions: tuple[Permission, ...]
    ssm_documents: tuple[str, ...] = ()


@dataclass(frozen=True)
class FisCatalog:
    resource_types: Mapping[str, Mapping[str, Any]]
    actions: Mapping[str, FisAction]


@cache
def fis_catalog() -> FisCatalog:
    text = resources.files("generator.data").joinpath("fis_actions.yaml").read_text()
    data = yaml.safe_load(text)
    actions = {}
    for action_id, entry in data["actions"].items():
        target = entry.get("target") or {}
        actions[action_id] = FisAction(
            id=action_id,
            source=entry["source"],
            target_key=target.get("key"),
            resource_type=target.get("resource_type"),
            parameters=entry.get("parameters") or {},
            permissions=tuple(
                Permission(tuple(p["actions"]), p["scope"]) for p in entry.get("permissions") or []
            ),
            ssm_documents=tuple(entry.get("ssm_documents") or ()),
        )
    return FisCatalog(resource_types=data["resource_types"], actions=actions)


def _iam_action(name: str) -> Action:
    prefix, _, action = name.partition(":")
    return Action(prefix, action)


# -- names -------------------------------------------------------------------------------------


def _pascal(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def experiment_tag_value(names: Names, environment: str) -> str:
    return f"{names.pipeline}-{environment}"


def log_group_name(names: Names, environment: str) -> str:
    """Under /pipegen/<pipeline>/, which the artifact key lets CloudWatch Logs encrypt."""
    return f"/pipegen/{names.pipeline}/fis-{environment}"


def action_names(settings: Chaos) -> list[str]:
    """The template's action names: the spec's, else `<service>-<action>` (numbered when the
    same FIS action appears twice)."""
    defaults = [
        re.sub(r"[^A-Za-z0-9-]", "-", a.action.removeprefix("aws:")) for a in settings.actions
    ]
    chosen: list[str] = []
    for index, action in enumerate(settings.actions):
        if action.name:
            chosen.append(action.name)
            continue
        name = defaults[index]
        if defaults.count(name) > 1:
            name = f"{name}-{defaults[: index + 1].count(name)}"
        chosen.append(name[:64])
    return chosen


def target_of(settings: Chaos, action: ChaosAction) -> str | None:
    """The target name an action uses: its own, or the only target."""
    if action.target is not None:
        return action.target
    return next(iter(settings.targets)) if len(settings.targets) == 1 else None


# -- the experiment role -----------------------------------------------------------------------


def _target_resources(resource_type: str) -> Sub:
    return Sub(str(fis_catalog().resource_types[resource_type]["arn"]))


def experiment_role(names: Names, settings: Chaos) -> RoleBuilder:
    """The role FIS assumes to run the experiment (register it with `PipelineComposer.role`)."""
    catalog = fis_catalog()
    environment = settings.environment
    role = RoleBuilder(
        logical_id=f"{environment.capitalize()}ChaosExperimentRole",
        description=f"AWS FIS experiment of {names.pipeline} in {environment}",
        trust=service("fis"),
        pipeline=names.pipeline,
        trust_condition=Condition(
            [
                StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")}),
                ArnLike({"aws:SourceArn": arn("fis", "experiment/*")}),
            ]
        ),
    )
    on_targets: dict[str, list[str]] = {}  # target name -> IAM actions
    wildcard: list[str] = []
    ssm_documents: list[str] = []
    ssm_send: list[str] = []
    container_instances: list[str] = []
    for action in settings.actions:
        known = catalog.actions.get(action.action)
        if known is None:  # check_chaos reports it at its line first
            raise AssemblyError(f"chaos: {action.action} is not in fis_actions.yaml")
        target = target_of(settings, action)
        for permission in known.permissions:
            if permission.scope == "targets" and target is not None:
                bucket = on_targets.setdefault(target, [])
            elif permission.scope == "any":
                bucket = wildcard
            elif permission.scope == "ssm-command":
                bucket = ssm_send
                ssm_documents += [d for d in known.ssm_documents if d not in ssm_documents]
            elif permission.scope == "ecs-container-instances":
                bucket = container_instances
            else:
                raise AssemblyError(f"{action.action}: unknown permission scope {permission.scope}")
            bucket += [a for a in permission.actions if a not in bucket]
    sids: set[str] = set()
    for target, actions in on_targets.items():
        spec_target = settings.targets[target]
        sid = f"ActOnTarget{_pascal(target)}"
        while sid in sids:  # target names that differ only in case or punctuation
            sid += "X"
        sids.add(sid)
        resource_type = catalog.resource_types[spec_target.resource_type]
        condition = (
            Condition(
                StringEquals({f"aws:ResourceTag/{spec_target.tag_key}": spec_target.tag_value})
            )
            if resource_type.get("tag_condition")
            else None
        )
        role.allow(
            sid,
            [_iam_action(a) for a in actions],
            [_target_resources(spec_target.resource_type)],
            condition,
        )
    if ssm_send:
        role.allow(
            "RunFaultDocuments",
            [_iam_action(a) for a in ssm_send],
            [
                arn("ssm", "managed-instance/*"),
                *[arn("ssm", f"document/{d}", account=False) for d in ssm_documents],
            ],
        )
    if container_instances:
        role.allow(
            "ListTasksOfContainerInstances",
            [_iam_action(a) for a in container_instances],
            [arn("ecs", "container-instance/*")],
        )
    if wildcard:
        role.allow("DescribeTargets", [_iam_action(a) for a in wildcard], ["*"])
    # Experiment logging is a CloudWatch Logs "vended log" delivery that FIS sets up as this
    # role; none of these calls accepts a narrower resource.
    role.allow(
        "DeliverExperimentLogs",
        [
            logs_actions.CreateLogDelivery,
            logs_actions.PutResourcePolicy,
            logs_actions.DescribeResourcePolicies,
            logs_actions.DescribeLogGroups,
        ],
        ["*"],
    )
    return role


# -- the experiment template -------------------------------------------------------------------


def alarm_arn_in(stack: ChildStack, alarm: RollbackAlarm) -> Any:
    """The alarm's ARN inside `stack`, depending on the alarm when a stack of ours creates it."""
    if alarm.handle is None:
        return arn("cloudwatch", f"alarm:{literal(alarm.name)}")
    return Sub(
        "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${Name}",
        Name=stack.use(alarm.handle),
    )


def experiment_template(
    stack: ChildStack,
    names: Names,
    settings: Chaos,
    *,
    role_arn: StackValue,
    alarms: Sequence[RollbackAlarm],
    key_arn: StackValue,
    log_retention_days: int,
) -> Exported:
    """The encrypted experiment log group and the template (in the deploy-targets stack);
    returns the template id. `alarms`: the environment's rollback alarms, the stop conditions."""
    if not alarms:
        raise AssemblyError(
            f"chaos in {settings.environment}: an experiment needs the environment's alarms as "
            "stop conditions, and there are none"
        )
    if len(alarms) > MAX_STOP_CONDITIONS:
        raise AssemblyError(
            f"chaos in {settings.environment}: {len(alarms)} alarms, but an experiment template "
            f"takes at most {MAX_STOP_CONDITIONS} stop conditions"
        )
    catalog = fis_catalog()
    prefix = f"{settings.environment.capitalize()}Chaos"
    log_group = encrypted_log_group(
        stack,
        f"{prefix}LogGroup",
        log_group_name(names, settings.environment),
        stack.use(key_arn),
        log_retention_days,
    )
    targets = {
        name: fis.ExperimentTemplateTarget(
            ResourceType=target.resource_type,
            ResourceTags={target.tag_key: target.tag_value},
            SelectionMode=target.selection_mode,
        )
        for name, target in settings.targets.items()
    }
    actions = {}
    for name, action in zip(action_names(settings), settings.actions, strict=True):
        known = catalog.actions[action.action]
        props: dict[str, Any] = {"ActionId": action.action, "Description": f"{action.action}"}
        if action.parameters:
            props["Parameters"] = dict(action.parameters)
        target = target_of(settings, action)
        if known.target_key is not None and target is not None:
            props["Targets"] = {known.target_key: target}
        if action.start_after:
            props["StartAfter"] = list(action.start_after)
        actions[name] = fis.ExperimentTemplateAction(**props)
    template = stack.add(
        fis.ExperimentTemplate(
            f"{prefix}Experiment",
            Description=f"{names.pipeline}: fault injection in {settings.environment} (pipegen)",
            RoleArn=stack.use(role_arn),
            Targets=targets,
            Actions=actions,
            StopConditions=[
                fis.ExperimentTemplateStopCondition(
                    Source="aws:cloudwatch:alarm", Value=alarm_arn_in(stack, alarm)
                )
                for alarm in alarms
            ],
            LogConfiguration=fis.ExperimentTemplateLogConfiguration(
                CloudWatchLogsConfiguration=fis.CloudWatchLogsConfiguration(
                    LogGroupArn=GetAtt(log_group, "Arn")
                ),
                LogSchemaVersion=2,
            ),
            ExperimentOptions=fis.ExperimentTemplateExperimentOptions(
                AccountTargeting="single-account", EmptyTargetResolutionMode="fail"
            ),
            Tags={
                EXPERIMENT_TAG: experiment_tag_value(names, settings.environment),
                "Name": f"{names.pipeline}-{settings.environment}-chaos",
            },
        )
    )
    return stack.export(
        f"{prefix}ExperimentTemplateId",
        template.ref(),
        f"FIS experiment template of {settings.environment}",
    )


# -- the pipeline action -----------------------------------------------------------------------

RUNNER_SCRIPT = r"""set -euo pipefail
: "${TEMPLATE_ID:?TEMPLATE_ID names the experiment template}"
poll="${POLL_SECONDS:-15}"
deadline=$(( SECONDS + ${MAX_WAIT_MINUTES:-60} * 60 ))
experiment=$(aws fis start-experiment --experiment-template-id "$TEMPLATE_ID" \
  --tags "$EXPERIMENT_TAG=$EXPERIMENT,pipegen:build=${CODEBUILD_BUILD_ID:-local}" \
  --query experiment.id --output text)
echo "Started FIS experiment $experiment from template $TEMPLATE_ID"
finished=""
stop_unfinished() {
  if [ -z "$finished" ]; then
    echo "Stopping experiment $experiment"
    aws fis stop-experiment --id "$experiment" > /dev/null || true
  fi
}
trap stop_unfinished EXIT
trap 'exit 143' TERM INT
status=""
reason=""
while true; do
  state=$(aws fis get-experiment --id "$experiment" \
    --query 'experiment.state.[status,reason]' --output text)
  status=${state%%$'\t'*}
  reason=""
  if [[ "$state" == *$'\t'* ]]; then reason=${state#*$'\t'}; fi
  if [ "$reason" = "None" ]; then reason=""; fi
  echo "$(date -u +%H:%M:%S) experiment $experiment: $status${reason:+ ($reason)}"
  case "$status" in
    completed|stopped|failed|cancelled) finished=1; break ;;
  esac
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "FAILED: experiment $experiment did not end within ${MAX_WAIT_MINUTES:-60} minutes" >&2
    exit 1
  fi
  sleep "$poll"
done
if [ "$status" != "completed" ]; then
  echo "FAILED: experiment $experiment ended $status${reason:+: $reason}" >&2
  exit 1
fi
if [ -n "${ALARM_NAMES:-}" ]; then
  mapfile -t alarms <<< "$ALARM_NAMES"
  firing=$(aws cloudwatch describe-alarms --alarm-names "${alarms[@]}" --state-value ALARM \
    --query '[MetricAlarms[].AlarmName, CompositeAlarms[].AlarmName][]' --output text)
  if [ -n "$firing" ] && [ "$firing" != "None" ]; then
    echo "FAILED: stop-condition alarms in ALARM after the experiment: $firing" >&2
    exit 1
  fi
fi
echo "Experiment $experiment completed; no stop-condition alarm fired."
"""


def runner_script() -> str:
    """The bash the runner project runs: start, poll, judge. Reads TEMPLATE_ID, EXPERIMENT_TAG,
    EXPERIMENT, ALARM_NAMES (one a line), MAX_WAIT_MINUTES and POLL_SECONDS."""
    return RUNNER_SCRIPT


def runner_buildspec() -> str:
    # A subshell keeps `set -e`, the traps and `exit` inside the one command.
    return codebuild.pipeline_step_buildspec([f"(\n{runner_script()})"])


def _conditional(
    sid: str, actions: Sequence[Action], resources_: Sequence[Any], condition: Condition
) -> Grant:
    # RoleBuilder.allow(*grant) takes a condition as its fourth item; ProjectSpec.extra_grants is
    # typed for the three-item form only.
    return cast(Grant, (sid, actions, resources_, condition))


def runner_grants(names: Names, settings: Chaos, alarms: Sequence[RollbackAlarm]) -> list[Grant]:
    """What the runner project does beyond logs and artifacts."""
    experiments = arn("fis", "experiment/*")
    grants: list[Grant] = [
        _conditional(
            "StartThisExperimentTemplate",
            [fis_actions.StartExperiment],
            [arn("fis", "experiment-template/*")],
            Condition(
                StringEquals(
                    {
                        f"aws:ResourceTag/{EXPERIMENT_TAG}": experiment_tag_value(
                            names, settings.environment
                        )
                    }
                )
            ),
        ),
        (
            "StartAndTagExperiments",
            [fis_actions.StartExperiment, fis_actions.TagResource],
            [experiments],
        ),
        (
            "FollowExperiments",
            [fis_actions.GetExperiment, fis_actions.StopExperiment],
            [experiments],
        ),
        # FIS creates its service-linked role on an account's first experiment, as the caller.
        (
            "CreateFisServiceLinkedRole",
            [iam_actions.CreateServiceLinkedRole],
            [Sub(FIS_SERVICE_LINKED_ROLE)],
        ),
    ]
    if alarms:
        grants.append(
            (
                "ReadStopConditionAlarms",
                [cw.DescribeAlarms],
                [names.alarm_arn(a.name) for a in alarms],
            )
        )
    return grants


def runner_project(
    names: Names, settings: Chaos, alarms: Sequence[RollbackAlarm], *, image: str
) -> codebuild.ProjectSpec:
    """The project for `PipelineComposer.project()`; the action passes the template id."""
    return codebuild.ProjectSpec(
        purpose=f"chaos-{settings.environment}",
        description=f"Runs the FIS experiment of {names.pipeline} in {settings.environment} "
        "and waits for it",
        image=image,
        compute_type="BUILD_GENERAL1_SMALL",
        timeout_minutes=settings.timeout_minutes + 10,  # time to stop an overdue experiment
        buildspec=runner_buildspec(),
        inline=True,
        reports=False,
        writes_artifacts=False,
        cache="none",
        variables={
            "EXPERIMENT_TAG": EXPERIMENT_TAG,
            "EXPERIMENT": experiment_tag_value(names, settings.environment),
            "ALARM_NAMES": "\n".join(a.name for a in alarms),
            "MAX_WAIT_MINUTES": str(settings.timeout_minutes),
        },
        extra_grants=tuple(runner_grants(names, settings, alarms)),
    )


def chaos_step(
    settings: Chaos, project: Exported, template_id: Exported, *, role: StackValue, run_order: int
) -> Step:
    """The Test action that runs the experiment (`role`: the CodeBuild action role)."""
    return Step(
        name=f"ChaosExperiment{settings.environment.capitalize()}",
        category="Test",
        provider="CodeBuild",
        configuration={
            "ProjectName": project,
            "EnvironmentVariables": ActionEnvironment((("TEMPLATE_ID", template_id),)),
        },
        role=role,
        inputs=(SOURCE_ARTIFACT,),
        run_order=run_order,
    )


# -- spec checks -------------------------------------------------------------------------------


def _parameter_problem(kind: Any, value: str) -> str | None:
    if isinstance(kind, list):
        return None if value in kind else f"use one of {', '.join(kind)}"
    if kind == "duration":
        return None if DURATION.fullmatch(value) else "use an ISO 8601 duration such as PT5M"
    if kind == "boolean":
        return None if value.lower() in ("true", "false") else "use true or false"
    if kind == "percent":
        ok = value.isdigit() and 0 <= int(value) <= 100
        return None if ok else "use a whole number from 0 to 100"
    if kind == "count":
        return None if value.isdigit() else "use a whole number"
    return None


def _check_action(
    settings: Chaos, index: int, action: ChaosAction, names: list[str]
) -> Iterator[SpecIssue]:
    catalog = fis_catalog()
    at: Loc = ("chaos", "actions", index)
    known = catalog.actions.get(action.action)
    if known is None:
        close = get_close_matches(action.action, list(catalog.actions), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        yield SpecIssue(
            (*at, "action"),
            f"{action.action!r} is not an FIS action pipegen supports: {hint}use one of "
            f"{', '.join(sorted(catalog.actions))} (generator/data/fis_actions.yaml)",
        )
        return
    if known.resource_type is None:
        if action.target is not None:
            yield SpecIssue((*at, "target"), f"{action.action} takes no target; remove target")
    elif action.target is None and len(settings.targets) > 1:
        yield SpecIssue(
            (*at, "target"),
            f"{action.action} needs a target: name one of {', '.join(settings.targets)}",
        )
    else:
        target = target_of(settings, action)
        chosen = settings.targets.get(target or "")
        if chosen is None:
            yield SpecIssue(
                (*at, "target"),
                f"there is no target {target!r}; name one of {', '.join(settings.targets)}",
            )
        elif chosen.resource_type != known.resource_type:
            yield SpecIssue(
                (*at, "target"),
                f"{action.action} acts on {known.resource_type}, but target {target!r} is "
                f"{chosen.resource_type}",
            )
    for name, value in action.parameters.items():
        if name not in known.parameters:
            allowed = ", ".join(known.parameters) or "none"
            yield SpecIssue(
                (*at, "parameters", name),
                f"{action.action} has no parameter {name!r} (its parameters: {allowed})",
            )
            continue
        problem = _parameter_problem(known.parameters[name].get("kind"), value)
        if problem:
            yield SpecIssue((*at, "parameters", name), f"{value!r} is not valid: {problem}")
    for name, parameter in known.parameters.items():
        if parameter.get("required") and name not in action.parameters:
            yield SpecIssue(
                (*at, "parameters"),
                f"{action.action} needs the parameter {name}; add it under parameters",
            )
    own = names[index]
    for position, other in enumerate(action.start_after):
        if other == own:
            yield SpecIssue((*at, "start_after", position), "an action cannot start after itself")
        elif other not in names:
            yield SpecIssue(
                (*at, "start_after", position),
                f"there is no action {other!r}; name one of "
                f"{', '.join(dict.fromkeys(n for n in names if n != own))}",
            )


def check_chaos(spec: PipelineSpec[Environment]) -> Iterator[SpecIssue]:
    """Cross-field rules of the chaos block; first of all, production never runs chaos."""
    settings = spec.chaos
    if settings is None:
        return
    envs = [env.name for env in spec.environments]
    missing = unknown_environment(spec, "chaos", settings, " other than production")
    if missing:
        yield missing
    elif envs.index(settings.environment) == spec.production_index():
        yield SpecIssue(
            ("chaos", "environment"),
            f"{settings.environment} is the production environment, and production never runs "
            "chaos experiments; run them in an environment before it (such as staging)",
        )
    catalog = fis_catalog()
    for name, target in settings.targets.items():
        if target.resource_type not in catalog.resource_types:
            yield SpecIssue(
                ("chaos", "targets", name, "resource_type"),
                f"{target.resource_type!r} is not a target type pipegen supports; use one of "
                f"{', '.join(sorted(catalog.resource_types))}",
            )
    names = action_names(settings)
    for index, earlier, name in repeats(names):
        yield SpecIssue(
            ("chaos", "actions", index, "name"),
            f"action name {name!r} is already used by actions[{earlier}]; give each action its "
            "own name",
        )
    for index, action in enumerate(settings.actions):
        yield from _check_action(settings, index, action, names)
