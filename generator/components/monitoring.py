"""Pipeline monitoring: every execution event of the pipeline in an encrypted log group, metrics
filtered from it, a dashboard, and alarms for repeated failures and approvals left waiting.

EventBridge writes each CodePipeline event as JSON into the log group; metric filters count
them into the `pipegen/<pipeline>` namespace. The filters tell pipeline, stage and action
events apart by their shape (`detail.stage`, `detail.action` present or not) instead of by the
hyphenated `detail-type` key, using only selectors and NOT EXISTS as in AWS's own CIS metric
filters.

Every name here is fixed by the pipeline name (naming.py's rule), so that the topic policies
(notifications.py) can admit these alarms by ARN before the alarms exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from awacs import logs as logs_actions
from awacs.aws import (
    Allow,
    ArnEquals,
    Condition,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import Ref, Sub, cloudwatch, events, logs

from generator.assembly.stack import ChildStack, Exported, StackValue, pascal
from generator.components.alarms import RollbackAlarm
from generator.components.artifact_store import RETAIN, same_account
from generator.components.iam import POLICY_VERSION
from generator.components.notifications import (
    ACTION_EXECUTION,
    PIPELINE_EXECUTION,
    STAGE_EXECUTION,
)
from generator.errors import AssemblyError
from generator.naming import Names, arn, literal
from generator.spec.model import Monitoring

HOUR = 3600
# An alarm-status widget shows at most this many alarms.
MAX_DASHBOARD_ALARMS = 100
CODEBUILD_NAMESPACE = "AWS/CodeBuild"

# -- names -------------------------------------------------------------------------------------


def namespace(names: Names) -> str:
    return f"pipegen/{names.pipeline}"


def events_log_group_name(names: Names) -> str:
    """Under `/pipegen/<pipeline>/`, which the artifact key already admits for CloudWatch Logs
    (`Names.log_group_patterns`)."""
    return f"/pipegen/{names.pipeline}/pipeline-events"


def events_rule_name(names: Names) -> str:
    """Fixed, so that the log group's policy can name the rule's ARN without a cycle."""
    return f"{names.pipeline}-pipeline-events-to-logs"


def dashboard_name(names: Names) -> str:
    return f"{names.pipeline}-pipeline"


def failure_alarm_name(names: Names) -> str:
    return f"{names.pipeline}-repeated-failures"


def approval_alarm_name(names: Names, environment: str) -> str:
    return names.alarm(environment, "approval-waiting")


def dashboard_url(names: Names) -> Sub:
    return Sub(
        "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}"
        f"#dashboards/dashboard/{dashboard_name(names)}"
    )


def alarm_publishers(
    names: Names, gated_environments: Sequence[str]
) -> tuple[list[Any], dict[str, list[Any]]]:
    """The alarm ARNs that may publish to the pipeline's topic, and to each gated environment's
    approval topic: `notifications(alarm_arns=..., approval_alarm_arns=...)`."""
    return (
        [names.alarm_arn(failure_alarm_name(names))],
        {env: [names.alarm_arn(approval_alarm_name(names, env))] for env in gated_environments},
    )


# -- metric filters ----------------------------------------------------------------------------

PIPELINE_EVENT = ("$.detail.stage NOT EXISTS",)
STAGE_EVENT = ("$.detail.stage = *", "$.detail.action NOT EXISTS")
APPROVAL_EVENT = (
    "$.detail.stage = *",
    "$.detail.action = *",
    '$.detail.type.category = "Approval"',
)


@dataclass(frozen=True)
class EventMetric:
    """One metric filter: which logged events count, and whether per stage."""

    metric: str
    conditions: tuple[str, ...]
    per_stage: bool = False


EVENT_METRICS = (
    EventMetric("ExecutionsSucceeded", (*PIPELINE_EVENT, '$.detail.state = "SUCCEEDED"')),
    EventMetric("ExecutionsFailed", (*PIPELINE_EVENT, '$.detail.state = "FAILED"')),
    EventMetric("StageFailures", (*STAGE_EVENT, '$.detail.state = "FAILED"'), per_stage=True),
    EventMetric("ApprovalsRequested", (*APPROVAL_EVENT, '$.detail.state = "STARTED"'), True),
    # SUCCEEDED (approved), FAILED (rejected or timed out), ABANDONED, CANCELED: no longer waits.
    EventMetric("ApprovalsCompleted", (*APPROVAL_EVENT, '$.detail.state != "STARTED"'), True),
)


def filter_pattern(pipeline: str, conditions: Sequence[str]) -> str:
    """A CloudWatch Logs JSON filter pattern: this pipeline's CodePipeline events, and
    `conditions`."""
    terms = ['$.source = "aws.codepipeline"', f'$.detail.pipeline = "{pipeline}"', *conditions]
    return "{ " + " && ".join(terms) + " }"


def metric_filter(stack: ChildStack, names: Names, group: logs.LogGroup, spec: EventMetric) -> None:
    transformation: dict[str, Any] = {
        "MetricNamespace": namespace(names),
        "MetricName": spec.metric,
        "MetricValue": "1",
        "Unit": "Count",
    }
    if spec.per_stage:
        # CloudWatch Logs takes no DefaultValue on a filter with dimensions.
        transformation["Dimensions"] = [logs.Dimension(Key="Stage", Value="$.detail.stage")]
    else:
        transformation["DefaultValue"] = 0
    stack.add(
        logs.MetricFilter(
            f"{spec.metric}Filter",
            FilterName=spec.metric,
            LogGroupName=Ref(group),
            FilterPattern=filter_pattern(names.pipeline, spec.conditions),
            MetricTransformations=[logs.MetricTransformation(**transformation)],
        )
    )


# -- the event log ---------------------------------------------------------------------------


def events_log_policy(names: Names, name: str) -> PolicyDocument:
    """EventBridge (and the log-delivery service it may hand off to) writes into this log
    group only: streams may be created by EventBridge, events written only by this pipeline's
    rule (the rule's ARN is a condition of PutLogEvents only, as in AWS's sample), the delivery
    service only for this account."""
    group = [arn("logs", f"log-group:{name}"), arn("logs", f"log-group:{name}:*")]
    return PolicyDocument(
        Version=POLICY_VERSION,
        Statement=[
            Statement(
                Sid="EventBridgeCreatesLogStreams",
                Effect=Allow,
                Principal=Principal("Service", ["events.amazonaws.com"]),
                Action=[logs_actions.CreateLogStream],
                Resource=group,
            ),
            Statement(
                Sid="PipelineEventsRuleWritesEvents",
                Effect=Allow,
                Principal=Principal("Service", ["events.amazonaws.com"]),
                Action=[logs_actions.PutLogEvents],
                Resource=group,
                Condition=Condition(
                    ArnEquals({"aws:SourceArn": arn("events", f"rule/{events_rule_name(names)}")})
                ),
            ),
            Statement(
                Sid="LogDeliveryWritesForThisAccount",
                Effect=Allow,
                Principal=Principal("Service", ["delivery.logs.amazonaws.com"]),
                Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents],
                Resource=group,
                Condition=Condition(StringEquals(same_account())),
            ),
        ],
    )


def events_log_group(
    stack: ChildStack, names: Names, key_arn: Any, retention_days: int
) -> logs.LogGroup:
    """Encrypted with the artifact key, with retention; its resource policy is the log group's
    own (ResourcePolicyDocument), not one of the account's ten AWS::Logs::ResourcePolicy."""
    name = events_log_group_name(names)
    return stack.add(
        logs.LogGroup(
            "PipelineEventsLogGroup",
            LogGroupName=name,
            KmsKeyId=key_arn,
            RetentionInDays=retention_days,
            # troposphere types the policy as a plain dict.
            ResourcePolicyDocument=events_log_policy(names, name).JSONrepr(),
            **RETAIN,
        )
    )


def events_rule(stack: ChildStack, names: Names, group: logs.LogGroup) -> events.Rule:
    """Every pipeline, stage and action execution event of this pipeline, as it is."""
    return stack.add(
        events.Rule(
            "PipelineEventsToLogsRule",
            Name=events_rule_name(names),
            Description=f"Every execution event of pipeline {names.pipeline} into its log group",
            State="ENABLED",
            EventPattern={
                "source": ["aws.codepipeline"],
                "detail-type": [PIPELINE_EXECUTION, STAGE_EXECUTION, ACTION_EXECUTION],
                "detail": {"pipeline": [names.pipeline]},
            },
            Targets=[
                events.Target(
                    Id="PipelineEventsLogGroup",
                    Arn=names.log_group_arn(events_log_group_name(names)),
                )
            ],
            # The target is named, not referenced: the group and its policy must exist first.
            DependsOn=[group.title],
        )
    )


# -- alarms ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalWatch:
    """A gated environment: the stage its approval action runs in, and its approvers' topic."""

    stage: str
    topic_arn: Exported


def failure_alarm(
    stack: ChildStack, names: Names, settings: Monitoring, topic: Any
) -> cloudwatch.Alarm:
    """`failures` failed executions within `window_minutes` (one period of that length)."""
    rule = settings.failure_alarm
    return stack.add(
        cloudwatch.Alarm(
            "RepeatedFailuresAlarm",
            AlarmName=failure_alarm_name(names),
            AlarmDescription=(
                f"{rule.failures} or more executions of pipeline {names.pipeline} failed within "
                f"{rule.window_minutes} minutes"
            ),
            Namespace=namespace(names),
            MetricName="ExecutionsFailed",
            Statistic="Sum",
            Period=rule.window_minutes * 60,
            EvaluationPeriods=1,
            Threshold=rule.failures,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            # No data: no execution ended in the window, so none failed.
            TreatMissingData="notBreaching",
            AlarmActions=[topic],
        )
    )


def waiting_expression(requested: str, completed: str) -> str:
    """Approvals waiting at the end of each period: requests minus completions, summed from
    the start of the queried range."""
    return f"RUNNING_SUM(FILL({requested}, 0) - FILL({completed}, 0))"


def stage_metric(names: Names, metric: str, stage: str) -> cloudwatch.MetricStat:
    return cloudwatch.MetricStat(
        Metric=cloudwatch.Metric(
            Namespace=namespace(names),
            MetricName=metric,
            Dimensions=[cloudwatch.MetricDimension(Name="Stage", Value=stage)],
        ),
        Period=HOUR,
        Stat="Sum",
    )


def approval_alarm(
    stack: ChildStack, names: Names, environment: str, watch: ApprovalWatch, hours: int
) -> cloudwatch.Alarm:
    """An approval of `environment` has waited longer than `hours`.

    Hourly datapoints of `waiting` (requests minus completions of the stage's approval, summed
    over the range the alarm queries); the alarm needs all of the last `hours + 1` to show at
    least one approval waiting, so it fires between `hours` and `hours + 1` after the request,
    once. A request older than the queried range no longer counts; by then the alarm has fired.
    `(hours + 1) x 3600` must stay within CloudWatch's 7-day evaluation range
    (`MAX_APPROVAL_WAIT_HOURS`).
    """
    periods = hours + 1
    return stack.add(
        cloudwatch.Alarm(
            f"{pascal(environment)}ApprovalWaitingAlarm",
            AlarmName=approval_alarm_name(names, environment),
            AlarmDescription=(
                f"An approval to deploy {environment} (pipeline {names.pipeline}, stage "
                f"{watch.stage}) has waited more than {hours} hours"
            ),
            Metrics=[
                cloudwatch.MetricDataQuery(
                    Id="requested",
                    MetricStat=stage_metric(names, "ApprovalsRequested", watch.stage),
                    ReturnData=False,
                ),
                cloudwatch.MetricDataQuery(
                    Id="completed",
                    MetricStat=stage_metric(names, "ApprovalsCompleted", watch.stage),
                    ReturnData=False,
                ),
                cloudwatch.MetricDataQuery(
                    Id="waiting",
                    Expression=waiting_expression("requested", "completed"),
                    Label=f"{environment} approvals waiting",
                    ReturnData=True,
                ),
            ],
            EvaluationPeriods=periods,
            DatapointsToAlarm=periods,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            # No data: nothing was requested in the range, so nothing waits.
            TreatMissingData="notBreaching",
            AlarmActions=[stack.use(watch.topic_arn)],
        )
    )


# -- the dashboard ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SubText:
    """A dashboard string made of Fn::Sub template text (`${AWS::Region}`, `${Alarm.Arn}`,
    taken as is) and stack values (which become Fn::Sub variables)."""

    parts: tuple[str | StackValue, ...]


def sub_json(stack: ChildStack, value: Any) -> Sub:
    """`value` as JSON text with sorted keys inside an Fn::Sub. Plain strings are literal
    (`${` escaped); SubText parts are template text or stack values."""
    variables: dict[str, Any] = {}

    def text(part: str | StackValue) -> str:
        if isinstance(part, str):
            return part
        variables[part.name] = stack.use(part)
        return f"${{{part.name}}}"

    def encode(item: Any) -> Any:
        if isinstance(item, SubText):
            return "".join(text(part) for part in item.parts)
        if isinstance(item, str):
            return literal(item)
        if isinstance(item, dict):
            return {key: encode(v) for key, v in item.items()}
        if isinstance(item, list | tuple):
            return [encode(v) for v in item]
        if isinstance(item, bool | int | float) or item is None:
            return item
        raise AssemblyError(f"dashboard body: cannot encode {item!r}")

    body = json.dumps(encode(value), sort_keys=True, separators=(",", ":"))
    return Sub(body, dict(sorted(variables.items()))) if variables else Sub(body)


REGION = SubText(("${AWS::Region}",))
ALARM_ARN_PREFIX = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"


def project_value(project: StackValue | str) -> Any:
    return project if isinstance(project, str) else SubText((project,))


def rollback_alarm_arn(alarm: RollbackAlarm) -> SubText:
    if alarm.handle is not None:
        return SubText((ALARM_ARN_PREFIX, alarm.handle))
    return SubText((ALARM_ARN_PREFIX, literal(alarm.name)))


def metric_widget(title: str, metrics: list[Any], stat: str) -> dict[str, Any]:
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "region": REGION,
            "metrics": metrics,
            "stat": stat,
            "period": HOUR,
            "view": "timeSeries",
            "stacked": False,
        },
    }


def laid_out(widgets: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two widgets a row (a text widget takes a row of its own), top to bottom."""
    placed, x, y = [], 0, 0
    for widget in widgets:
        full = widget["type"] == "text"
        width, height = (24, 2) if full else (12, 6)
        if x + width > 24:
            x, y = 0, y + 6
        placed.append({**widget, "x": x, "y": y, "width": width, "height": height})
        x += width
        if x >= 24:
            x, y = 0, y + height
    return placed


def dashboard_body(
    names: Names,
    *,
    approvals: Mapping[str, ApprovalWatch],
    projects: Sequence[StackValue | str],
    alarm_arns: Sequence[Any],
    extra_widgets: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    ns = namespace(names)
    console = (
        "https://${AWS::Region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/"
        f"{names.pipeline}/view?region=${{AWS::Region}}"
    )
    header = SubText(
        (
            f"# Pipeline {names.pipeline}\n[Open in CodePipeline]({console}). Every execution "
            f"event is in log group `{events_log_group_name(names)}`, metrics in `{ns}`",
        )
    )
    widgets: list[dict[str, Any]] = [
        {"type": "text", "properties": {"markdown": header}},
        metric_widget(
            "Executions",
            [
                [ns, "ExecutionsSucceeded", {"label": "Succeeded", "color": "#2ca02c"}],
                [ns, "ExecutionsFailed", {"label": "Failed", "color": "#d62728"}],
            ],
            "Sum",
        ),
        metric_widget(
            "Stage failures",
            [
                [
                    {
                        "id": "stages",
                        "expression": f'SEARCH(\'{{"{ns}",Stage}} MetricName="StageFailures"\', '
                        f"'Sum', {HOUR})",
                        "label": "",
                    }
                ]
            ],
            "Sum",
        ),
    ]
    if approvals:
        lines: list[Any] = []
        for index, (env, watch) in enumerate(sorted(approvals.items())):
            lines += [
                [
                    ns,
                    "ApprovalsRequested",
                    "Stage",
                    watch.stage,
                    {"id": f"r{index}", "label": f"{env} requested"},
                ],
                [
                    ns,
                    "ApprovalsCompleted",
                    "Stage",
                    watch.stage,
                    {"id": f"c{index}", "label": f"{env} completed"},
                ],
                [
                    {
                        "id": f"w{index}",
                        "expression": waiting_expression(f"r{index}", f"c{index}"),
                        "label": f"{env} waiting",
                    }
                ],
            ]
        widgets.append(metric_widget("Approvals", lines, "Sum"))
    widgets.append({"type": "alarm", "properties": {"title": "Alarms", "alarms": list(alarm_arns)}})
    if projects:
        widgets += [
            metric_widget(
                "CodeBuild builds",
                [
                    [CODEBUILD_NAMESPACE, metric, "ProjectName", project_value(project)]
                    for project in projects
                    for metric in ("Builds", "FailedBuilds")
                ],
                "Sum",
            ),
            metric_widget(
                "CodeBuild duration (seconds)",
                [
                    [CODEBUILD_NAMESPACE, "Duration", "ProjectName", project_value(project)]
                    for project in projects
                ],
                "Average",
            ),
        ]
    return {"widgets": laid_out([*widgets, *extra_widgets])}


# -- the component ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitoringOutputs:
    dashboard_name: Exported
    dashboard_url: Exported
    log_group_name: Exported
    failure_alarm_name: Exported
    approval_alarm_names: dict[str, Exported]  # environment name -> alarm name


def monitoring(
    stack: ChildStack,
    names: Names,
    *,
    key_arn: Exported,
    settings: Monitoring,
    log_retention_days: int,
    topic_arn: Exported,
    approvals: Mapping[str, ApprovalWatch],
    project_names: Sequence[StackValue | str],
    deployment_alarms: Sequence[RollbackAlarm],
    extra_widgets: Sequence[dict[str, Any]] = (),
) -> MonitoringOutputs:
    """The pipeline's event log, metrics, dashboard and alarms.

    `approvals`: gated environment -> its approval stage and approvers' topic; `project_names`:
    the CodeBuild projects to chart; `deployment_alarms`: the rollback alarms (in this account
    and region) to show on the dashboard. Both topics must admit the alarms
    (`alarm_publishers`), and the artifact key must let CloudWatch use it for them.
    """
    group = events_log_group(stack, names, stack.use(key_arn), log_retention_days)
    events_rule(stack, names, group)
    for spec in EVENT_METRICS:
        metric_filter(stack, names, group, spec)

    failures = failure_alarm(stack, names, settings, stack.use(topic_arn))
    waiting = {
        env: approval_alarm(stack, names, env, watch, settings.approval_wait_hours)
        for env, watch in sorted(approvals.items())
    }
    alarm_arns: list[Any] = [
        SubText((f"${{{alarm.title}.Arn}}",)) for alarm in [failures, *waiting.values()]
    ]
    alarm_arns += [rollback_alarm_arn(alarm) for alarm in deployment_alarms]
    if len(alarm_arns) > MAX_DASHBOARD_ALARMS:
        raise AssemblyError(
            f"pipeline {names.pipeline}: {len(alarm_arns)} alarms do not fit one dashboard "
            f"alarm widget (at most {MAX_DASHBOARD_ALARMS})"
        )
    body = dashboard_body(
        names,
        approvals=approvals,
        projects=project_names,
        alarm_arns=alarm_arns,
        extra_widgets=extra_widgets,
    )
    dashboard = stack.add(
        cloudwatch.Dashboard(
            "PipelineDashboard",
            DashboardName=dashboard_name(names),
            DashboardBody=sub_json(stack, body),
        )
    )
    return MonitoringOutputs(
        dashboard_name=stack.export(
            "DashboardName", Ref(dashboard), f"CloudWatch dashboard of pipeline {names.pipeline}"
        ),
        dashboard_url=stack.export(
            "DashboardUrl", dashboard_url(names), "The pipeline's dashboard in the console"
        ),
        log_group_name=stack.export(
            "PipelineEventsLogGroupName", Ref(group), "Log group of every execution event"
        ),
        failure_alarm_name=stack.export(
            "RepeatedFailuresAlarmName", Ref(failures), "Alarm on repeated failed executions"
        ),
        approval_alarm_names={
            env: stack.export(
                f"{alarm.title}Name", Ref(alarm), f"Alarm on approvals of {env} left waiting"
            )
            for env, alarm in waiting.items()
        },
    )
