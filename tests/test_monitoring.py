"""The monitoring component: event log, metric filters, dashboard and alarms, on a fresh
ChildStack. Filter patterns are also run against sample CodePipeline events with a small
evaluator of the pattern syntax they use, so that each event counts in exactly the metrics it
should; the stack passes the lint gate (stock rules and guardrails) with no finding at all."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from generator.assembly.stack import ChildStack, Exported
from generator.components import monitoring as mon
from generator.components import notifications
from generator.components.alarms import RollbackAlarm
from generator.components.artifact_store import artifact_store
from generator.errors import AssemblyError
from generator.naming import Names
from generator.spec.model import MAX_APPROVAL_WAIT_HOURS, FailureAlarm, Monitoring, PipelineSpec
from tests.component_lint import ACCOUNT, REGION, lint_stacks, substitute
from tests.template_reading import sub_text

PIPELINE = "demo"
NAMES = Names(PIPELINE)

KEY = Exported("artifact-store", "ArtifactKeyArn", None, "Artifact key")
TOPIC = Exported("notifications", "PipelineEventsTopicArn", None, "Pipeline events topic")
PROD_TOPIC = Exported("notifications", "ProdApprovalTopicArn", None, "Approval topic for prod")
STAGING_TOPIC = Exported("notifications", "StagingApprovalTopicArn", None, "Approval topic")
BUILD = Exported("build-projects", "BuildProjectName", None, "CodeBuild project demo-build")
UNIT = Exported("build-projects", "UnitTestsProjectName", None, "CodeBuild project")
PROD_5XX = Exported("deploy", "ProdTarget5xxAlarmName", None, "demo-prod-target-5xx alarm")
APPROVALS = {
    "prod": mon.ApprovalWatch("ApproveProd", PROD_TOPIC),
    "staging": mon.ApprovalWatch("DeployStaging", STAGING_TOPIC),
}
DEPLOYMENT_ALARMS = [
    RollbackAlarm("demo-prod-target-5xx", PROD_5XX),
    RollbackAlarm("team-owned-latency"),  # an existing alarm, by name only
]


def build(settings: Monitoring | None = None, **overrides: Any) -> ChildStack:
    stack = ChildStack("monitoring", "demo: monitoring")
    arguments: dict[str, Any] = {
        "key_arn": KEY,
        "settings": settings or Monitoring(),
        "log_retention_days": 365,
        "topic_arn": TOPIC,
        "approvals": APPROVALS,
        "project_names": [BUILD, UNIT, "demo-smoke-test"],
        "deployment_alarms": DEPLOYMENT_ALARMS,
        **overrides,
    }
    mon.monitoring(stack, NAMES, **arguments)
    return stack


@pytest.fixture(scope="module")
def stack() -> ChildStack:
    return build()


@pytest.fixture(scope="module")
def template(stack: ChildStack) -> dict[str, Any]:
    return stack.template.to_dict()


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: res for name, res in template["Resources"].items() if res["Type"] == resource_type
    }


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return dict(template["Resources"][logical_id]["Properties"])


def alarm_arn(name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"


# -- a small evaluator of the filter-pattern syntax the filters use ----------------------------

TERM = re.compile(r'^(\$(?:\.[A-Za-z0-9_-]+)+) (?:(=|!=) ("[^"]*"|\*)|(NOT EXISTS))$')
MISSING = object()


def lookup(event: dict[str, Any], selector: str) -> Any:
    value: Any = event
    for key in selector.split(".")[1:]:
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def matches(pattern: str, event: dict[str, Any]) -> bool:
    """`{ term && term ... }` with terms `$.a.b = "text"`, `= *`, `!= "text"`, `NOT EXISTS`."""
    assert pattern.startswith("{ ") and pattern.endswith(" }"), pattern
    for term in pattern[2:-2].split(" && "):
        parsed = TERM.match(term)
        assert parsed, f"unexpected term {term!r}"
        selector, operator, operand, not_exists = parsed.groups()
        value = lookup(event, selector)
        if not_exists:
            ok = value is MISSING
        elif operand == "*":
            ok = value is not MISSING
        else:
            equal = value is not MISSING and value == json.loads(operand)
            ok = equal if operator == "=" else value is not MISSING and not equal
        if not ok:
            return False
    return True


def event(detail_type: str, **detail: Any) -> dict[str, Any]:
    """An event as EventBridge writes it into the log group."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": "aws.codepipeline",
        "account": ACCOUNT,
        "time": "2026-01-01T12:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{PIPELINE}"],
        "detail": {"pipeline": PIPELINE, "execution-id": "1234", "version": 3, **detail},
    }


def action(state: str, category: str, stage: str = "ApproveProd") -> dict[str, Any]:
    return event(
        notifications.ACTION_EXECUTION,
        stage=stage,
        action="Approve" if category == "Approval" else "Build",
        state=state,
        region=REGION,
        type={"owner": "AWS", "provider": "Manual", "category": category, "version": "1"},
    )


SAMPLES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "pipeline failed": (
        event(notifications.PIPELINE_EXECUTION, state="FAILED"),
        {"ExecutionsFailed"},
    ),
    "pipeline succeeded": (
        event(notifications.PIPELINE_EXECUTION, state="SUCCEEDED"),
        {"ExecutionsSucceeded"},
    ),
    "pipeline started": (event(notifications.PIPELINE_EXECUTION, state="STARTED"), set()),
    "stage failed": (
        event(notifications.STAGE_EXECUTION, stage="DeployProd", state="FAILED"),
        {"StageFailures"},
    ),
    "stage succeeded": (
        event(notifications.STAGE_EXECUTION, stage="DeployProd", state="SUCCEEDED"),
        set(),
    ),
    "approval requested": (action("STARTED", "Approval"), {"ApprovalsRequested"}),
    "approval approved": (action("SUCCEEDED", "Approval"), {"ApprovalsCompleted"}),
    "approval rejected or expired": (action("FAILED", "Approval"), {"ApprovalsCompleted"}),
    "approval abandoned": (action("ABANDONED", "Approval"), {"ApprovalsCompleted"}),
    "build action failed": (action("FAILED", "Build", "Build"), set()),
    "build action started": (action("STARTED", "Build", "Build"), set()),
    "another pipeline failed": (
        {
            **event(notifications.PIPELINE_EXECUTION, state="FAILED"),
            "detail": {"pipeline": "other", "execution-id": "1", "state": "FAILED"},
        },
        set(),
    ),
}


# -- the event log ---------------------------------------------------------------------------


class TestEventLog:
    def test_rule_sends_every_execution_event_of_this_pipeline(self, template: dict[str, Any]):
        (rule,) = resources(template, "AWS::Events::Rule").values()
        properties = rule["Properties"]
        assert properties["State"] == "ENABLED"
        assert properties["Name"] == mon.events_rule_name(NAMES)
        assert properties["EventPattern"] == {
            "source": ["aws.codepipeline"],
            "detail-type": [
                notifications.PIPELINE_EXECUTION,
                notifications.STAGE_EXECUTION,
                notifications.ACTION_EXECUTION,
            ],
            "detail": {"pipeline": [PIPELINE]},
        }
        (target,) = properties["Targets"]
        assert "RoleArn" not in target  # CloudWatch Logs targets use the resource policy
        assert "InputTransformer" not in target and "Input" not in target  # the whole event
        assert substitute(target["Arn"]) == (
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/pipegen/{PIPELINE}/pipeline-events"
        )
        assert rule["DependsOn"] == ["PipelineEventsLogGroup"]

    def test_log_group_is_encrypted_with_retention_and_kept(self, template: dict[str, Any]):
        group = template["Resources"]["PipelineEventsLogGroup"]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["LogGroupName"] == f"/pipegen/{PIPELINE}/pipeline-events"
        assert group["Properties"]["KmsKeyId"] == {"Ref": "ArtifactKeyArn"}
        assert group["Properties"]["RetentionInDays"] == 365
        assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Retain"
        assert (
            build(log_retention_days=731).template.to_dict()["Resources"]["PipelineEventsLogGroup"][
                "Properties"
            ]["RetentionInDays"]
            == 731
        )

    def test_artifact_key_admits_cloudwatch_logs_for_this_log_group(self):
        """The key policy's CloudWatch Logs statement covers the group's encryption context."""
        store = ChildStack("artifact-store", "demo: store")
        artifact_store(store, NAMES, retention_days=14, log_retention_days=365)
        policy = store.template.to_dict()["Resources"]["ArtifactKey"]["Properties"]["KeyPolicy"]
        (logs,) = [s for s in policy["Statement"] if s["Sid"] == "LogsEncryptPipelineLogGroups"]
        assert logs["Principal"] == {"Service": [{"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}]}
        patterns = [
            substitute(p)
            for p in logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
        ]
        group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{mon.events_log_group_name(NAMES)}"
        assert any(fnmatch.fnmatchcase(group_arn, pattern) for pattern in patterns)

    def test_resource_policy_admits_the_rule_into_this_log_group_only(
        self, template: dict[str, Any]
    ):
        policy = props(template, "PipelineEventsLogGroup")["ResourcePolicyDocument"]
        statements = {s["Sid"]: s for s in policy["Statement"]}
        group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/pipegen/{PIPELINE}/pipeline-events"
        for statement in statements.values():
            assert statement["Effect"] == "Allow"
            assert [substitute(r) for r in statement["Resource"]] == [group, f"{group}:*"]
            assert set(statement["Action"]) <= {"logs:CreateLogStream", "logs:PutLogEvents"}
        assert statements["EventBridgeCreatesLogStreams"]["Principal"] == {
            "Service": ["events.amazonaws.com"]
        }
        assert statements["EventBridgeCreatesLogStreams"]["Action"] == ["logs:CreateLogStream"]
        writes = statements["PipelineEventsRuleWritesEvents"]
        assert writes["Principal"] == {"Service": ["events.amazonaws.com"]}
        assert writes["Action"] == ["logs:PutLogEvents"]
        rule_arn = substitute(writes["Condition"]["ArnEquals"]["aws:SourceArn"])
        assert rule_arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{mon.events_rule_name(NAMES)}"
        delivery = statements["LogDeliveryWritesForThisAccount"]
        assert delivery["Principal"] == {"Service": ["delivery.logs.amazonaws.com"]}
        assert delivery["Condition"] == {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        }
        # The group's own policy: no account-wide AWS::Logs::ResourcePolicy (10 per region).
        assert not resources(template, "AWS::Logs::ResourcePolicy")


# -- metric filters ----------------------------------------------------------------------------


BASE = '{ $.source = "aws.codepipeline" && $.detail.pipeline = "demo" && '
EXPECTED_PATTERNS = {
    "ExecutionsSucceeded": BASE + '$.detail.stage NOT EXISTS && $.detail.state = "SUCCEEDED" }',
    "ExecutionsFailed": BASE + '$.detail.stage NOT EXISTS && $.detail.state = "FAILED" }',
    "StageFailures": BASE
    + '$.detail.stage = * && $.detail.action NOT EXISTS && $.detail.state = "FAILED" }',
    "ApprovalsRequested": BASE + "$.detail.stage = * && $.detail.action = * && "
    '$.detail.type.category = "Approval" && $.detail.state = "STARTED" }',
    "ApprovalsCompleted": BASE + "$.detail.stage = * && $.detail.action = * && "
    '$.detail.type.category = "Approval" && $.detail.state != "STARTED" }',
}
PER_STAGE = {"StageFailures", "ApprovalsRequested", "ApprovalsCompleted"}


def filters(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Metric name -> the filter's properties."""
    found = {}
    for res in resources(template, "AWS::Logs::MetricFilter").values():
        (transformation,) = res["Properties"]["MetricTransformations"]
        found[transformation["MetricName"]] = res["Properties"]
    return found


class TestMetricFilters:
    def test_each_filter_pattern_and_metric(self, template: dict[str, Any]):
        found = filters(template)
        assert set(found) == set(EXPECTED_PATTERNS)
        for metric, properties in found.items():
            assert properties["FilterPattern"] == EXPECTED_PATTERNS[metric], metric
            assert properties["LogGroupName"] == {"Ref": "PipelineEventsLogGroup"}
            assert len(properties["FilterPattern"]) <= 1024
            (transformation,) = properties["MetricTransformations"]
            assert transformation["MetricNamespace"] == f"pipegen/{PIPELINE}"
            assert transformation["MetricValue"] == "1"
            assert transformation["Unit"] == "Count"
            if metric in PER_STAGE:
                assert transformation["Dimensions"] == [{"Key": "Stage", "Value": "$.detail.stage"}]
                assert "DefaultValue" not in transformation  # not allowed with dimensions
            else:
                assert "Dimensions" not in transformation
                assert transformation["DefaultValue"] == 0

    def test_patterns_avoid_hyphenated_keys(self, template: dict[str, Any]):
        """Events are told apart by shape, not by `detail-type` (or `execution-id`)."""
        for properties in filters(template).values():
            selectors = re.findall(r"\$[.\w-]+", properties["FilterPattern"])
            assert selectors and all("-" not in s for s in selectors)

    @pytest.mark.parametrize("sample", sorted(SAMPLES))
    def test_each_event_counts_in_exactly_its_metrics(self, template: dict[str, Any], sample: str):
        logged, expected = SAMPLES[sample]
        counted = {
            metric
            for metric, properties in filters(template).items()
            if matches(properties["FilterPattern"], logged)
        }
        assert counted == expected
        for metric in counted & PER_STAGE:
            assert lookup(logged, "$.detail.stage") is not MISSING, metric  # the dimension


# -- alarms ----------------------------------------------------------------------------------


class TestAlarms:
    def test_repeated_failures_notify_the_pipeline_topic(self, template: dict[str, Any]):
        alarm = props(template, "RepeatedFailuresAlarm")
        assert (
            alarm["AlarmName"] == mon.failure_alarm_name(NAMES) == f"{PIPELINE}-repeated-failures"
        )
        assert alarm["Namespace"] == f"pipegen/{PIPELINE}"
        assert alarm["MetricName"] == "ExecutionsFailed"
        assert alarm["Statistic"] == "Sum"
        assert (alarm["Period"], alarm["EvaluationPeriods"]) == (3600, 1)
        assert alarm["Threshold"] == 3
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [{"Ref": "PipelineEventsTopicArn"}]

    def test_failure_settings_set_threshold_and_window(self):
        settings = Monitoring(failure_alarm=FailureAlarm(failures=5, window_minutes=30))
        alarm = props(build(settings).template.to_dict(), "RepeatedFailuresAlarm")
        assert (alarm["Threshold"], alarm["Period"], alarm["EvaluationPeriods"]) == (5, 1800, 1)

    @pytest.mark.parametrize(
        ("environment", "stage", "topic"),
        [("prod", "ApproveProd", "ProdApprovalTopicArn"),
         ("staging", "DeployStaging", "StagingApprovalTopicArn")],
    )  # fmt: skip
    def test_approval_left_waiting_notifies_the_approvers(
        self, template: dict[str, Any], environment: str, stage: str, topic: str
    ):
        alarm = props(template, f"{environment.capitalize()}ApprovalWaitingAlarm")
        assert alarm["AlarmName"] == f"{PIPELINE}-{environment}-approval-waiting"
        assert alarm["AlarmActions"] == [{"Ref": topic}]
        assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 12 + 1
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert not {"Namespace", "MetricName", "Period", "Statistic"} & set(alarm)
        queries = {q["Id"]: q for q in alarm["Metrics"]}
        assert set(queries) == {"requested", "completed", "waiting"}
        stat_queries = {"requested": "ApprovalsRequested", "completed": "ApprovalsCompleted"}
        for query_id, metric in stat_queries.items():
            query = queries[query_id]
            assert query["ReturnData"] is False
            assert query["MetricStat"] == {
                "Metric": {
                    "Namespace": f"pipegen/{PIPELINE}",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "Stage", "Value": stage}],
                },
                "Period": 3600,
                "Stat": "Sum",
            }
        waiting = queries["waiting"]
        assert waiting["ReturnData"] is True
        assert waiting["Expression"] == "RUNNING_SUM(FILL(requested, 0) - FILL(completed, 0))"

    def test_waiting_hours_set_the_evaluation_range(self):
        settings = Monitoring(approval_wait_hours=MAX_APPROVAL_WAIT_HOURS)
        alarm = props(build(settings).template.to_dict(), "ProdApprovalWaitingAlarm")
        (period,) = {q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q}
        assert alarm["EvaluationPeriods"] == MAX_APPROVAL_WAIT_HOURS + 1
        # CloudWatch: Period x EvaluationPeriods <= 7 days for periods of an hour or more.
        assert period >= 3600
        assert period * alarm["EvaluationPeriods"] <= 7 * 24 * 3600

    def test_no_gates_no_approval_alarms(self):
        template = build(approvals={}).template.to_dict()
        assert set(resources(template, "AWS::CloudWatch::Alarm")) == {"RepeatedFailuresAlarm"}

    def test_alarm_publishers_name_the_alarms_created(self, template: dict[str, Any]):
        events_topic, approval_topics = mon.alarm_publishers(NAMES, sorted(APPROVALS))
        alarms = resources(template, "AWS::CloudWatch::Alarm").values()
        created = {alarm["Properties"]["AlarmName"] for alarm in alarms}
        arns = [*events_topic, *(arn for listed in approval_topics.values() for arn in listed)]
        named = [sub_text(arn.to_dict()).rsplit(":alarm:", 1)[1] for arn in arns]
        assert sorted(named) == sorted(created)
        assert [sub_text(a.to_dict()) for a in approval_topics["prod"]] == [
            "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"
            f"{PIPELINE}-prod-approval-waiting"
        ]


class TestSpec:
    def test_defaults_give_every_spec_monitoring(self):
        assert PipelineSpec.model_fields["monitoring"].default_factory is Monitoring
        settings = Monitoring()
        assert (settings.failure_alarm.failures, settings.failure_alarm.window_minutes) == (3, 60)
        assert settings.approval_wait_hours == 12

    @pytest.mark.parametrize(
        "bad",
        [
            {"approval_wait_hours": 0},
            {"approval_wait_hours": MAX_APPROVAL_WAIT_HOURS + 1},
            {"failure_alarm": {"failures": 0}},
            {"failure_alarm": {"window_minutes": 4}},
            {"failure_alarm": {"window_minutes": 1441}},
            {"failure_alarm": {"failure": 3}},
            {"dashboard": False},
        ],
    )
    def test_out_of_range_or_unknown_is_an_error(self, bad: dict[str, Any]):
        with pytest.raises(ValidationError):
            Monitoring.model_validate(bad)

    def test_max_wait_fits_cloudwatch(self):
        assert (
            (MAX_APPROVAL_WAIT_HOURS + 1) * 3600 <= 604_800 < (MAX_APPROVAL_WAIT_HOURS + 2) * 3600
        )


# -- the dashboard ---------------------------------------------------------------------------


def dashboard(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dashboard's properties and its body as CloudFormation would resolve it."""
    (res,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    return res["Properties"], json.loads(substitute(res["Properties"]["DashboardBody"]))


def widget(body: dict[str, Any], title: str) -> dict[str, Any]:
    (found,) = [w for w in body["widgets"] if w["properties"].get("title") == title]
    return dict(found["properties"])


class TestDashboard:
    def test_name_and_outputs(self, stack: ChildStack, template: dict[str, Any]):
        properties, _ = dashboard(template)
        assert properties["DashboardName"] == f"{PIPELINE}-pipeline"
        outputs = template["Outputs"]
        assert outputs["DashboardName"]["Value"] == {"Ref": "PipelineDashboard"}
        assert substitute(outputs["DashboardUrl"]["Value"]) == (
            f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
            f"#dashboards/dashboard/{PIPELINE}-pipeline"
        )
        assert outputs["PipelineEventsLogGroupName"]["Value"] == {"Ref": "PipelineEventsLogGroup"}
        assert outputs["RepeatedFailuresAlarmName"]["Value"] == {"Ref": "RepeatedFailuresAlarm"}
        assert outputs["ProdApprovalWaitingAlarmName"]["Value"] == {
            "Ref": "ProdApprovalWaitingAlarm"
        }

    def test_body_is_deterministic_json_with_sorted_keys(self, template: dict[str, Any]):
        properties, _ = dashboard(template)
        text = sub_text(properties["DashboardBody"])
        assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
        again, _ = dashboard(build().template.to_dict())
        assert again["DashboardBody"] == properties["DashboardBody"]
        # Sub variables are only this stack's parameters.
        variables = properties["DashboardBody"]["Fn::Sub"][1]
        parameters = ("BuildProjectName", "ProdTarget5xxAlarmName", "UnitTestsProjectName")
        assert variables == {name: {"Ref": name} for name in parameters}
        assert set(variables) <= set(template["Parameters"])

    def test_widgets_fit_the_grid_without_overlap(self, template: dict[str, Any]):
        _, body = dashboard(template)
        cells: set[tuple[int, int]] = set()
        for item in body["widgets"]:
            assert item["x"] >= 0 and item["x"] + item["width"] <= 24
            for x in range(item["x"], item["x"] + item["width"]):
                for y in range(item["y"], item["y"] + item["height"]):
                    assert (x, y) not in cells
                    cells.add((x, y))
            if item["type"] == "metric":
                assert item["properties"]["region"] == REGION

    def test_pipeline_metrics_are_charted(self, template: dict[str, Any]):
        _, body = dashboard(template)
        executions = widget(body, "Executions")
        assert [m[:2] for m in executions["metrics"]] == [
            [f"pipegen/{PIPELINE}", "ExecutionsSucceeded"],
            [f"pipegen/{PIPELINE}", "ExecutionsFailed"],
        ]
        ((stages,),) = widget(body, "Stage failures")["metrics"]
        assert stages["expression"] == (
            f"SEARCH('{{\"pipegen/{PIPELINE}\",Stage}} MetricName=\"StageFailures\"', 'Sum', 3600)"
        )
        approvals = widget(body, "Approvals")["metrics"]
        staged = {(m[1], m[3]) for m in approvals if isinstance(m[0], str)}
        assert staged == {
            (metric, stage)
            for stage in ("ApproveProd", "DeployStaging")
            for metric in ("ApprovalsRequested", "ApprovalsCompleted")
        }
        expressions = [m[0]["expression"] for m in approvals if isinstance(m[0], dict)]
        assert expressions == [
            "RUNNING_SUM(FILL(r0, 0) - FILL(c0, 0))",
            "RUNNING_SUM(FILL(r1, 0) - FILL(c1, 0))",
        ]

    def test_every_project_is_charted(self, template: dict[str, Any]):
        _, body = dashboard(template)
        projects = ["<BuildProjectName>", "<UnitTestsProjectName>", "demo-smoke-test"]
        builds = widget(body, "CodeBuild builds")
        assert builds["stat"] == "Sum"
        assert builds["metrics"] == [
            ["AWS/CodeBuild", metric, "ProjectName", project]
            for project in projects
            for metric in ("Builds", "FailedBuilds")
        ]
        duration = widget(body, "CodeBuild duration (seconds)")
        assert duration["stat"] == "Average"
        assert duration["metrics"] == [
            ["AWS/CodeBuild", "Duration", "ProjectName", project] for project in projects
        ]

    def test_every_alarm_is_listed(self, template: dict[str, Any]):
        _, body = dashboard(template)
        (alarms,) = [w for w in body["widgets"] if w["type"] == "alarm"]
        assert alarms["properties"]["alarms"] == [
            "<RepeatedFailuresAlarm.Arn>",
            "<ProdApprovalWaitingAlarm.Arn>",
            "<StagingApprovalWaitingAlarm.Arn>",
            alarm_arn("<ProdTarget5xxAlarmName>"),
            alarm_arn("team-owned-latency"),
        ]

    def test_literal_text_is_escaped_for_fn_sub(self):
        odd = RollbackAlarm("odd-${name}")
        template = build(deployment_alarms=[odd], project_names=[]).template.to_dict()
        properties, body = dashboard(template)
        assert "${!name}" in sub_text(properties["DashboardBody"])
        (alarms,) = [w for w in body["widgets"] if w["type"] == "alarm"]
        assert alarms["properties"]["alarms"][-1] == alarm_arn("odd-${name}")
        assert not [w for w in body["widgets"] if "CodeBuild" in w["properties"].get("title", "")]

    def test_too_many_alarms_for_one_widget(self):
        many = [RollbackAlarm(f"alarm-{i}") for i in range(mon.MAX_DASHBOARD_ALARMS)]
        with pytest.raises(AssemblyError, match="alarm widget"):
            build(deployment_alarms=many)


# -- topic policies: the alarms may publish --------------------------------------------------


@pytest.fixture(scope="module")
def topics() -> ChildStack:
    """The notification topics, admitting the alarms that `alarm_publishers` names."""
    stack = ChildStack("notifications", "demo: topics")
    events_topic, approval_topics = mon.alarm_publishers(NAMES, ["prod"])
    notifications.notifications(
        stack,
        NAMES,
        key_arn=KEY,
        events_wanted=["failed"],
        email=notifications.notification_email(None),
        approval_emails={"prod": notifications.approver_email("prod", None)},
        alarm_arns=events_topic,
        approval_alarm_arns=approval_topics,
    )
    return stack


class TestTopicPolicies:
    @staticmethod
    def cloudwatch_statement(stack: ChildStack, policy: str, topic: str) -> dict[str, Any]:
        document = props(stack.template.to_dict(), policy)["PolicyDocument"]
        statements = {s["Sid"]: s for s in document["Statement"]}
        statement = statements["CloudWatchAlarmsOfThisPipelinePublish"]
        assert statement["Principal"] == {"Service": ["cloudwatch.amazonaws.com"]}
        assert statement["Action"] == ["sns:Publish"]
        assert statement["Resource"] == [{"Ref": topic}]
        assert statement["Condition"]["StringEquals"] == {
            "aws:SourceAccount": {"Ref": "AWS::AccountId"}
        }
        return statement

    def test_events_topic_admits_its_rules_and_the_failure_alarm(self, topics: ChildStack):
        document = props(topics.template.to_dict(), "PipelineEventsTopicPolicy")["PolicyDocument"]
        assert [s["Sid"] for s in document["Statement"]] == [
            "EventBridgeRulesOfThisAccountPublish",
            "CloudWatchAlarmsOfThisPipelinePublish",
        ]
        statement = self.cloudwatch_statement(
            topics, "PipelineEventsTopicPolicy", "PipelineEventsTopic"
        )
        assert [substitute(a) for a in statement["Condition"]["ArnLike"]["aws:SourceArn"]] == [
            alarm_arn(f"{PIPELINE}-repeated-failures")
        ]

    def test_approval_topic_admits_the_roles_and_its_alarm(self, topics: ChildStack):
        statement = self.cloudwatch_statement(
            topics, "ProdApprovalTopicPolicy", "ProdApprovalTopic"
        )
        assert [substitute(a) for a in statement["Condition"]["ArnLike"]["aws:SourceArn"]] == [
            alarm_arn(f"{PIPELINE}-prod-approval-waiting")
        ]
        document = props(topics.template.to_dict(), "ProdApprovalTopicPolicy")["PolicyDocument"]
        assert {s["Sid"] for s in document["Statement"]} == {
            "PipelineRolesPublish",
            "CloudWatchAlarmsOfThisPipelinePublish",
        }

    def test_alarms_alone_still_get_a_policy(self):
        stack = ChildStack("notifications", "demo")
        events_topic, _ = mon.alarm_publishers(NAMES, [])
        notifications.notifications(
            stack,
            NAMES,
            key_arn=KEY,
            events_wanted=[],
            email=notifications.notification_email(None),
            approval_emails={},
            alarm_arns=events_topic,
        )
        document = props(stack.template.to_dict(), "PipelineEventsTopicPolicy")["PolicyDocument"]
        assert [s["Sid"] for s in document["Statement"]] == [
            "CloudWatchAlarmsOfThisPipelinePublish"
        ]

    def test_topics_pass_the_lint_gate(self, topics: ChildStack, tmp_path: Path):
        assert lint_stacks(tmp_path, topics) == []


# -- the lint gate -----------------------------------------------------------------------------


def test_stack_passes_the_lint_gate_with_no_finding(stack: ChildStack, tmp_path: Path):
    """Stock rules (errors, warnings, informational) and the guardrails, in two regions."""
    assert lint_stacks(tmp_path, stack) == []
