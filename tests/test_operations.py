"""Operations in every shipped pipeline: the monitoring stack wired to the pipeline's own
projects, gates and alarms; the chat channel; custom actions with their shipped worker."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from generator.assembly.assemble import TemplateSet
from generator.spec.loader import load_spec
from tests.template_reading import Templates, every_resource, rendered, resources, stages

ROOT = Path(__file__).resolve().parent.parent
NAMES = sorted(p.stem for p in (ROOT / "pipelines").glob("*.yaml"))


@cache
def built(name: str) -> tuple[TemplateSet, Templates]:
    loaded = load_spec(ROOT / "pipelines" / f"{name}.yaml")
    template_set = loaded.blueprint.build(loaded.spec, "yaml")
    return template_set, rendered(template_set)


def dashboard_body(templates: Templates) -> dict[str, Any]:
    (dashboard,) = every_resource(templates, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    text = body[0] if isinstance(body, list) else body
    return dict(json.loads(text))


@pytest.mark.parametrize("name", NAMES)
def test_every_pipeline_has_its_dashboard_metrics_and_alarms(name: str) -> None:
    _, templates = built(name)
    monitoring = resources(templates, "monitoring")
    types = sorted(r["Type"] for r in monitoring.values())
    assert types.count("AWS::Logs::MetricFilter") == 5
    assert "AWS::CloudWatch::Dashboard" in types
    alarms = [r for r in monitoring.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    names = sorted(a["Properties"]["AlarmName"] for a in alarms)
    gates = [
        s
        for s in stages(templates).values()
        if any(a["ActionTypeId"]["Category"] == "Approval" for a in s["Actions"])
    ]
    assert f"{name}-repeated-failures" in names
    assert len(names) == 1 + len(gates), "one approval-wait alarm per gate"


@pytest.mark.parametrize("name", NAMES)
def test_the_dashboard_charts_every_project_of_the_pipeline(name: str) -> None:
    _, templates = built(name)
    projects = every_resource(templates, "AWS::CodeBuild::Project")
    body = json.dumps(dashboard_body(templates))
    # Project names reach the dashboard through the stack's parameters: ${<Project>Name}.
    parameters = templates["monitoring"]["Parameters"]
    charted = [p for p in parameters if p.endswith("ProjectName")]
    assert len(charted) == len(projects)
    for parameter in charted:
        assert f"${{{parameter}}}" in body


def test_web_app_dashboard_lists_its_own_and_its_deployment_alarms() -> None:
    _, templates = built("web-app")
    widget = next(w for w in dashboard_body(templates)["widgets"] if w["type"] == "alarm")
    prefix = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"
    assert widget["properties"]["alarms"] == [
        "${RepeatedFailuresAlarm.Arn}",
        "${ProdApprovalWaitingAlarm.Arn}",
        *[
            f"{prefix}${{{env}Target{kind}AlarmName}}"
            for env in ("Dev", "Staging", "Prod")
            for kind in ("5xx", "Latency")
        ],
    ]


def test_alarms_may_publish_to_the_encrypted_topics() -> None:
    _, templates = built("web-app")
    key = resources(templates, "artifact-store")["ArtifactKey"]["Properties"]["KeyPolicy"]
    statement = next(
        s for s in key["Statement"] if s.get("Sid") == "PipelineAlarmsPublishToEncryptedTopics"
    )
    assert statement["Principal"] == {"Service": ["cloudwatch.amazonaws.com"]}
    source = json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ":alarm:web-app-*" in source


def test_root_outputs_name_the_dashboard_and_the_event_log() -> None:
    template_set, _ = built("web-app")
    outputs = template_set.root.to_dict()["Outputs"]
    assert {"DashboardUrl", "PipelineEventsLogGroupName"} <= set(outputs)


class TestChat:
    def test_web_app_posts_to_slack_through_its_own_topic(self) -> None:
        template_set, templates = built("web-app")
        (channel,) = every_resource(templates, "AWS::Chatbot::SlackChannelConfiguration").values()
        properties = channel["Properties"]
        assert properties["GuardrailPolicies"] == [
            {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess"}
        ] or "ReadOnlyAccess" in json.dumps(properties["GuardrailPolicies"])
        assert properties["LoggingLevel"] == "ERROR"
        assert properties["SnsTopicArns"] == [{"Ref": "PipelineChatTopic"}]
        parameters = template_set.root.to_dict()["Parameters"]
        assert {"SlackWorkspaceId", "SlackChannelId"} <= set(parameters)

    def test_pipelines_without_chat_have_no_channel(self) -> None:
        _, templates = built("serverless")
        assert not every_resource(templates, "AWS::Chatbot::SlackChannelConfiguration")


class TestCustomActions:
    def test_microservice_runs_its_jenkins_action_after_the_tests(self) -> None:
        _, templates = built("microservice")
        test = stages(templates)["Test"]["Actions"]
        jenkins = next(a for a in test if a["Name"] == "JenkinsLoadTest")
        assert jenkins["ActionTypeId"] == {
            "Category": "Test",
            "Owner": "Custom",
            "Provider": "JenkinsLoadTest",
            "Version": "1",
        }
        assert jenkins["RunOrder"] == max(a.get("RunOrder", 1) for a in test)
        assert jenkins["RunOrder"] > min(a.get("RunOrder", 1) for a in test)
        assert jenkins["Configuration"] == {"ProjectName": "orders-load-test"}

    def test_the_type_is_created_before_the_pipeline(self) -> None:
        template_set, templates = built("microservice")
        (action_type,) = every_resource(templates, "AWS::CodePipeline::CustomActionType").values()
        assert action_type["Properties"]["Provider"] == "JenkinsLoadTest"
        root = template_set.root.to_dict()["Resources"]
        assert "CustomActionsStack" in root["PipelineStack"]["DependsOn"]

    def test_the_worker_and_its_settings_are_shipped(self) -> None:
        template_set, _ = built("microservice")
        worker = (ROOT / "generator" / "workers" / "job_worker.py").read_text()
        assert template_set.files["worker/job_worker.py"] == worker
        env = template_set.files["worker/JenkinsLoadTest-1.env"].splitlines()
        assert "PIPEGEN_WORKER_PROVIDER=JenkinsLoadTest" in env
        assert "PIPEGEN_WORKER_QUERY=ProjectName=orders-load-test" in env

    def test_pipelines_without_custom_actions_ship_no_worker(self) -> None:
        template_set, templates = built("web-app")
        assert not any(path.startswith("worker/") for path in template_set.files)
        assert "custom-actions" not in templates
