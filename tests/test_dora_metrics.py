"""DORA metrics: the Lambda run offline on recorded EventBridge events and CodePipeline responses
(tests/data/dora, whose README tells the pipeline's history) with botocore Stubbers for
CodePipeline and CloudWatch; then the component's function, role, rule and permission on a fresh
ChildStack, its dashboard widgets, and a lint-gate run with no finding at all."""

from __future__ import annotations

import ast
import importlib
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from generator.assembly.stack import ChildStack, Exported
from generator.components import dora
from generator.components.lambda_function import INLINE_SOURCE_LIMIT
from generator.naming import Names
from generator.spec.loader import load_spec
from tests.component_lint import lint_stacks
from tests.offline_aws import offline_aws
from tests.template_reading import sub_text

DATA = Path(__file__).resolve().parent / "data" / "dora"
PIPELINES = Path(__file__).resolve().parent.parent / "pipelines"
PIPELINE, PRODUCTION, NAMESPACE = "web-app", "DeployProd", "pipegen/web-app"
S0 = "0a6c1f52-8d0e-4b7a-9f3e-2c1d5e7b9a01"  # succeeded
F1 = "1b7d2e63-9e1f-4c8b-a04f-3d2e6f8c0b12"  # failed in DeployProd
F2 = "2c8e3f74-af20-4d9c-b15a-4e3f7a9d1c23"  # failed in Build
S3 = "3d9f4085-b031-4ead-8c26-5f4a8b0e2d34"  # succeeded after F1 and F2: restores production
S4 = "4e0a5196-c142-4fbe-9d37-6a5b9c1f3e45"  # succeeded after S3
R6 = "6a2c73b8-e364-41d0-bf59-8c7dbe315a67"  # rollback of DeployProd after F1
TIMESTAMPS = {"created", "startTime", "lastUpdateTime"}


def recorded(path: str) -> Any:
    """A fixture, with its timestamps as the datetimes boto3 parses them into."""

    def parse(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: datetime.fromisoformat(item) if key in TIMESTAMPS else parse(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [parse(item) for item in value]
        return value

    return parse(json.loads((DATA / path).read_text()))


# -- the function ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings = {
        "PIPELINE_NAME": PIPELINE,
        "PRODUCTION_STAGE": PRODUCTION,
        "METRIC_NAMESPACE": NAMESPACE,
    }
    with offline_aws(monkeypatch, **settings):
        yield


@pytest.fixture
def function(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = importlib.import_module("generator.functions.dora_metrics")
    monkeypatch.setattr(module, "clients", {})
    return module


class Recorded:
    """Stubbed CodePipeline and CloudWatch clients, expecting calls in the order added."""

    def __init__(self, function: Any) -> None:
        self.codepipeline = boto3.client("codepipeline")
        self.cloudwatch = boto3.client("cloudwatch")
        self.pipeline = Stubber(self.codepipeline)
        self.metrics = Stubber(self.cloudwatch)
        function.clients.update(codepipeline=self.codepipeline, cloudwatch=self.cloudwatch)
        self.next_page: str | None = None  # the history's token, across calls of `history`

    def execution(self, execution_id: str) -> Recorded:
        self.pipeline.add_response(
            "get_pipeline_execution",
            recorded(f"get-pipeline-execution/{execution_id}.json"),
            {"pipelineName": PIPELINE, "pipelineExecutionId": execution_id},
        )
        return self

    def history(self, *pages: str) -> Recorded:
        for page in pages:
            params: dict[str, Any] = {"pipelineName": PIPELINE, "maxResults": 100}
            if self.next_page:
                params["nextToken"] = self.next_page
            response = recorded(f"list-pipeline-executions/{page}.json")
            self.pipeline.add_response("list_pipeline_executions", response, params)
            self.next_page = response.get("nextToken")
        return self

    def actions(self, execution_id: str, *pages: str) -> Recorded:
        token = None
        for page in pages or ("",):
            params: dict[str, Any] = {
                "pipelineName": PIPELINE,
                "filter": {"pipelineExecutionId": execution_id},
                "maxResults": 100,
            }
            if token:
                params["nextToken"] = token
            suffix = f"-{page}" if page else ""
            response = recorded(f"list-action-executions/{execution_id}{suffix}.json")
            self.pipeline.add_response("list_action_executions", response, params)
            token = response.get("nextToken")
        return self

    def published(self, ended: str, **metrics: float) -> Recorded:
        units = dora.METRICS
        data = [
            {
                "MetricName": name,
                "Dimensions": [{"Name": "Pipeline", "Value": PIPELINE}],
                "Timestamp": datetime.fromisoformat(ended),
                "Value": float(value),
                "Unit": units[name],
            }
            for name, value in metrics.items()
        ]
        self.metrics.add_response(
            "put_metric_data", {}, {"Namespace": NAMESPACE, "MetricData": data}
        )
        return self

    def __enter__(self) -> Recorded:
        self.pipeline.activate()
        self.metrics.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.pipeline.assert_no_pending_responses()
            self.metrics.assert_no_pending_responses()


def log(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    (line,) = capsys.readouterr().out.splitlines()
    return dict(json.loads(line))


def test_ships_inline_with_the_standard_library_and_boto3_only() -> None:
    spec = dora.dora_function(Names(PIPELINE), PRODUCTION)
    assert len(spec.source().encode()) < INLINE_SOURCE_LIMIT
    tree = ast.parse(spec.source())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(str(node.module).split(".")[0])
    assert imported <= {"json", "os", "datetime", "typing", "boto3"}
    assert str(ast.get_docstring(tree)).startswith("DORA metrics of one pipeline")


def test_every_fixture_event_is_what_the_rule_matches() -> None:
    stack = component()
    pattern = stack.template.to_dict()["Resources"]["DoraMetricsRule"]["Properties"]
    pattern = pattern["EventPattern"]
    for path in sorted((DATA / "events").glob("*.json")):
        event = json.loads(path.read_text())
        assert event["source"] in pattern["source"]
        assert event["detail-type"] in pattern["detail-type"]
        assert event["detail"]["pipeline"] in pattern["detail"]["pipeline"]
        matched = event["detail"]["state"] in pattern["detail"]["state"]
        assert matched == (path.stem != "started"), path.name


def test_a_success_after_a_commit_is_a_deployment_with_its_lead_time(
    function: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Commit 8f3a6d1 was made at 08:51:12, S4 ended at 09:37:45; the execution before S4
    # (S3) succeeded, so nothing was down and only the first history page is read.
    with Recorded(function) as calls:
        calls.execution(S4).history("page-1")
        calls.published(
            "2026-03-04T09:37:45+00:00",
            Deployments=1,
            DeploymentFailures=0,
            LeadTimeForChanges=46 * 60 + 33,
        )
        assert function.handler(recorded("events/deployed.json"), None) is None
    assert log(capsys) == {
        "executionId": S4,
        "outcome": "deployed",
        "metrics": {"Deployments": 1, "DeploymentFailures": 0, "LeadTimeForChanges": 2793.0},
    }


def test_a_failure_in_production_counts_a_failure(
    function: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with Recorded(function) as calls:
        calls.execution(F1).actions(F1)
        calls.published("2026-03-03T10:42:10+00:00", Deployments=0, DeploymentFailures=1)
        function.handler(recorded("events/failed-in-production.json"), None)
    assert log(capsys)["outcome"] == "failed in production"


def test_a_failure_before_production_publishes_nothing(
    function: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """F2 failed in Build: no deployment, no failure, so frequency and failure rate stay as they
    were. Its action executions come in two pages, and neither names DeployProd."""
    with Recorded(function) as calls:
        calls.execution(F2).actions(F2, "page-1", "page-2")
        # CloudWatch expects nothing: a put_metric_data call would fail the stub.
        function.handler(recorded("events/failed-before-production.json"), None)
    assert log(capsys) == {
        "executionId": F2,
        "outcome": "failed before production",
        "metrics": {},
    }


def test_a_restore_is_timed_from_the_first_production_failure(
    function: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """S3 succeeded at 12:14:40. Walking back over three pages of history: F2 (Build failure,
    two pages of actions) does not count, X was stopped, F1 failed in DeployProd at 10:42:10,
    and S0 succeeded before it. Time to restore: 12:14:40 - 10:42:10."""
    with Recorded(function) as calls:
        calls.execution(S3).history("page-1", "page-2")
        calls.actions(F2, "page-1", "page-2").actions(F1).history("page-3")
        calls.published(
            "2026-03-03T12:14:40+00:00",
            Deployments=1,
            DeploymentFailures=0,
            LeadTimeForChanges=50 * 60 + 35,
            TimeToRestore=1 * 3600 + 32 * 60 + 30,
        )
        function.handler(recorded("events/restored.json"), None)
    assert log(capsys)["metrics"]["TimeToRestore"] == 5550.0


def test_a_rollback_restores_without_counting_a_deployment(
    function: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """DeployProd's automatic rollback (R6, ended 10:58:25) after F1 (ended 10:42:10): no new
    change reached production, but production works again."""
    with Recorded(function) as calls:
        calls.execution(R6).history("after-rollback").actions(F1)
        calls.published("2026-03-03T10:58:25+00:00", TimeToRestore=16 * 60 + 15)
        function.handler(recorded("events/rolled-back.json"), None)
    assert log(capsys)["outcome"] == "rollback succeeded"


def test_a_failed_rollback_publishes_nothing(
    function: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = recorded("events/rolled-back.json")
    event["detail"]["state"] = "FAILED"
    with Recorded(function) as calls:
        calls.execution(R6)
        function.handler(event, None)
    assert log(capsys)["outcome"] == "rollback failed"


def test_no_earlier_success_means_nothing_to_restore(
    function: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """S0 is the oldest execution: the history ends without a success before it."""
    event = recorded("events/deployed.json")
    event["detail"]["execution-id"], event["time"] = S0, "2026-03-02T09:31:07Z"
    with Recorded(function) as calls:
        calls.execution(S0).history("page-3")
        calls.published(
            "2026-03-02T09:31:07+00:00",
            Deployments=1,
            DeploymentFailures=0,
            LeadTimeForChanges=43 * 60 + 36,
        )
        function.handler(event, None)
    assert "TimeToRestore" not in log(capsys)["metrics"]


@pytest.mark.parametrize(
    "change",
    [
        {"state": "STARTED"},
        {"state": "STOPPED"},
        {"state": "SUCCEEDED", "pipeline": "another-pipeline"},
    ],
)
def test_other_events_call_nothing(
    function: Any, capsys: pytest.CaptureFixture[str], change: dict[str, str]
) -> None:
    event = recorded("events/started.json")
    event["detail"].update(change)
    with Recorded(function):
        function.handler(event, None)
    assert "ignored" in log(capsys)


def test_an_api_error_raises_before_anything_is_published(function: Any) -> None:
    """Lambda retries a failed asynchronous invocation; nothing published yet, nothing twice."""
    with Recorded(function) as calls:
        calls.execution(F1)
        calls.pipeline.add_client_error(
            "list_action_executions", "ThrottlingException", "Rate exceeded"
        )
        with pytest.raises(ClientError, match="Rate exceeded"):
            function.handler(recorded("events/failed-in-production.json"), None)
        calls.metrics.assert_no_pending_responses()


def test_lead_time_counts_from_the_newest_revision(function: Any) -> None:
    """An unchanged second source (made long ago) is not the change being deployed."""
    execution = recorded(f"get-pipeline-execution/{S4}.json")["pipelineExecution"]
    older = {**execution["artifactRevisions"][0], "name": "Config"}
    older["created"] = datetime.fromisoformat("2025-11-20T16:02:00+00:00")
    ended = datetime.fromisoformat("2026-03-04T09:37:45+00:00")
    both = {"artifactRevisions": [older, execution["artifactRevisions"][0]]}
    assert function.lead_time(both, ended) == 2793.0
    undated = {"artifactRevisions": [{"name": "Source", "revisionId": "abc"}]}
    assert function.lead_time(undated, ended) is None
    assert function.lead_time({"artifactRevisions": []}, ended) is None


# -- the component -----------------------------------------------------------------------------

NAMES = Names(PIPELINE)
KEY = Exported("artifact-store", "ArtifactKeyArn", None, "Artifact key")


def component(**overrides: Any) -> ChildStack:
    stack = ChildStack("monitoring", "web-app: monitoring")
    arguments: dict[str, Any] = {
        "key_arn": KEY,
        "production_stage": PRODUCTION,
        "log_retention_days": 365,
        **overrides,
    }
    dora.dora_metrics(stack, NAMES, **arguments)
    return stack


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return component().template.to_dict()


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return dict(template["Resources"][logical_id]["Properties"])


def statements(template: dict[str, Any], policy: str) -> dict[str, dict[str, Any]]:
    document = props(template, policy)["PolicyDocument"]
    return {s["Sid"]: s for s in document["Statement"]}


class TestComponent:
    def test_function_is_hardened_and_configured(self, template: dict[str, Any]) -> None:
        function = props(template, "DoraMetrics")
        assert function["FunctionName"] == "web-app-dora-metrics"
        assert function["TracingConfig"] == {"Mode": "Active"}
        assert function["ReservedConcurrentExecutions"] >= 1
        assert function["DeadLetterConfig"] == {
            "TargetArn": {"Fn::GetAtt": ["DoraMetricsDeadLetters", "Arn"]}
        }
        assert function["Code"]["ZipFile"] == dora.dora_function(NAMES, PRODUCTION).source()
        assert function["Environment"]["Variables"] == {
            "METRIC_NAMESPACE": NAMESPACE,
            "PIPELINE_NAME": PIPELINE,
            "PRODUCTION_STAGE": PRODUCTION,
        }
        log_group = props(template, "DoraMetricsLogGroup")
        assert log_group["LogGroupName"] == "/aws/lambda/web-app-dora-metrics"
        assert log_group["RetentionInDays"] == 365
        assert log_group["KmsKeyId"] == {"Ref": "ArtifactKeyArn"}
        assert props(template, "DoraMetricsDeadLetters")["KmsMasterKeyId"] == {
            "Ref": "ArtifactKeyArn"
        }

    def test_role_reads_this_pipeline_and_writes_its_namespace_only(
        self, template: dict[str, Any]
    ) -> None:
        scoped = statements(template, "DoraMetricsRolePolicy")["ReadThisPipelinesExecutions"]
        assert scoped["Action"] == [
            "codepipeline:GetPipelineExecution",
            "codepipeline:ListPipelineExecutions",
            "codepipeline:ListActionExecutions",
        ]
        assert [sub_text(r) for r in scoped["Resource"]] == [
            "arn:${AWS::Partition}:codepipeline:${AWS::Region}:${AWS::AccountId}:web-app"
        ]
        publish = statements(template, "DoraMetricsRoleWildcardOnlyPolicy")["PublishDoraMetrics"]
        assert publish["Action"] == ["cloudwatch:PutMetricData"]
        assert publish["Resource"] == ["*"]
        assert publish["Condition"] == {"StringEquals": {"cloudwatch:namespace": NAMESPACE}}
        trust = props(template, "DoraMetricsRole")["AssumeRolePolicyDocument"]["Statement"]
        assert trust[0]["Principal"] == {"Service": ["lambda.amazonaws.com"]}

    def test_rule_sends_this_pipelines_finished_executions(self, template: dict[str, Any]) -> None:
        rule = props(template, "DoraMetricsRule")
        assert "Name" not in rule  # named after the stack, as Service Catalog launch roles need
        assert rule["EventPattern"] == {
            "source": ["aws.codepipeline"],
            "detail-type": ["CodePipeline Pipeline Execution State Change"],
            "detail": {"pipeline": [PIPELINE], "state": ["SUCCEEDED", "FAILED"]},
        }
        assert rule["Targets"] == [
            {"Id": "DoraMetricsFunction", "Arn": {"Fn::GetAtt": ["DoraMetrics", "Arn"]}}
        ]

    def test_only_the_rule_may_invoke_the_function(self, template: dict[str, Any]) -> None:
        assert props(template, "DoraMetricsInvokePermission") == {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": ["DoraMetrics", "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": ["DoraMetricsRule", "Arn"]},
        }

    def test_a_role_built_elsewhere_is_taken_as_a_parameter(self) -> None:
        role = Exported("iam", "DoraMetricsRoleArn", None, "DORA metrics role")
        built = component(role_arn=role).template.to_dict()
        assert not [r for r in built["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
        assert props(built, "DoraMetrics")["Role"] == {"Ref": "DoraMetricsRoleArn"}
        assert set(built["Parameters"]) == {"ArtifactKeyArn", "DoraMetricsRoleArn"}

    def test_the_role_passes_the_iam_helpers_wildcard_list(self) -> None:
        # RoleBuilder refuses Resource "*" unless every action is on the wildcard-only list.
        function = dora.dora_function(NAMES, PRODUCTION)
        role = dora.dora_role(NAMES, function, "arn:aws:kms:us-east-1:123456789012:key/k")
        assert "PublishDoraMetrics" in [g.sid for g in role.grants]


class TestSpec:
    def test_on_by_default_and_can_be_turned_off(self, tmp_path: Path) -> None:
        assert load_spec(PIPELINES / "web-app.yaml").spec.dora is True
        text = (PIPELINES / "web-app.yaml").read_text() + "dora: false\n"
        (tmp_path / "web-app.yaml").write_text(text)
        assert load_spec(tmp_path / "web-app.yaml").spec.dora is False


# -- dashboard widgets -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def widgets() -> list[dict[str, Any]]:
    return dora.dora_widgets(NAMES, region="us-east-1")


class TestWidgets:
    def test_four_metric_widgets_of_this_pipeline(self, widgets: list[dict[str, Any]]) -> None:
        assert [w["properties"]["title"].split(" (")[0] for w in widgets] == [
            "Deployment frequency",
            "Lead time for changes",
            "Change failure rate",
            "Time to restore",
        ]
        for widget in widgets:
            assert widget["type"] == "metric" and "x" not in widget  # the dashboard lays out
            assert widget["properties"]["region"] == "us-east-1"
            for line in widget["properties"]["metrics"]:
                if "expression" not in line[-1]:
                    namespace, metric, dimension, value, _ = line
                    assert (namespace, dimension, value) == (NAMESPACE, "Pipeline", PIPELINE)
                    assert metric in dora.METRICS

    def test_expressions_use_the_ids_of_their_widget(self, widgets: list[dict[str, Any]]) -> None:
        for widget in widgets:
            lines = widget["properties"]["metrics"]
            ids = [line[-1]["id"] for line in lines if "id" in line[-1]]
            assert len(ids) == len(set(ids))
            for line in lines:
                expression = line[-1].get("expression")
                if expression:
                    used = set(re.findall(r"\b[a-z][A-Za-z0-9_]*\b", expression))
                    assert used <= set(ids), expression
                    assert re.fullmatch(r"[a-z][A-Za-z0-9_]*", line[-1]["id"])

    def test_change_failure_rate_is_failures_over_both_sums(
        self, widgets: list[dict[str, Any]]
    ) -> None:
        lines = widgets[2]["properties"]["metrics"]
        hidden = {line[1]: line[-1] for line in lines if len(line) == 5}
        assert hidden["Deployments"] == {"id": "deployments", "stat": "Sum", "visible": False}
        assert hidden["DeploymentFailures"] == {"id": "failures", "stat": "Sum", "visible": False}
        assert lines[-1][0]["expression"] == "100 * failures / (deployments + failures)"
        # One success and one failure on a day: 50 %.
        rate = lines[-1][0]["expression"]
        assert eval(rate, {"__builtins__": {}}, {"deployments": 1, "failures": 1}) == 50

    def test_widgets_are_json(self, widgets: list[dict[str, Any]]) -> None:
        assert json.loads(json.dumps(widgets)) == widgets


# -- the lint gate -----------------------------------------------------------------------------


def test_stack_passes_the_lint_gate_with_no_finding(tmp_path: Path) -> None:
    """Stock rules (errors, warnings, informational) and the guardrails, in two regions."""
    assert lint_stacks(tmp_path, component()) == []
