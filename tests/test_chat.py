"""Chat notifications through AWS Chatbot (generator/components/chat.py): the spec model's
messages, the checks, the launch parameters against the CloudFormation resource schemas that
cfn-lint ships, the emitted resources, and a cfn-lint run with the guardrail rules."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint
import pytest

from generator.assembly.stack import ChildStack, Exported
from generator.components import chat
from generator.components.iam import wildcard_only_actions
from generator.components.notifications import pipeline_notices
from generator.errors import SpecError
from generator.naming import Names
from generator.spec.loader import format_loc, validate_model
from generator.spec.model import (
    CHAT_GUARDRAIL_POLICIES,
    NOTICE_KINDS,
    Chat,
    ChatGuardrailPolicy,
    Environment,
    PipelineSpec,
)
from tests.component_lint import lint_stacks, spec_data

NAMES = Names("demo")
KEY = Exported("artifact-store", "ArtifactKeyArn", "key", "Artifact key")
ALARMS = Exported("monitoring", "AlarmTopicArn", "topic", "Alarm topic")
BASE = spec_data("demo", "dev")
SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"


@cache
def schema(resource_type: str) -> dict[str, Any]:
    """cfn-lint's bundled resource provider schema: what the linter accepts."""
    index = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text())
    return dict(json.loads((SCHEMAS / "resources" / f"{index[resource_type]}.json").read_text()))


def spec_of(**fields: Any) -> PipelineSpec[Environment]:
    return PipelineSpec[Environment].model_validate({**BASE, **fields})


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as error:
        validate_model(PipelineSpec[Environment], {**BASE, "chat": data}, "spec.yaml", {})
    return [(p.field, p.message) for p in error.value.problems]


def channel(
    service: str, *, alarms: bool = False, **settings: Any
) -> tuple[ChildStack, chat.ChatChannel]:
    stack = ChildStack("notifications", "demo: notifications")
    made = chat.chat_channel(
        stack,
        NAMES,
        settings=Chat.model_validate({"service": service, **settings}),
        key_arn=KEY,
        events_wanted=NOTICE_KINDS,
        alarm_topic_arns=[ALARMS] if alarms else (),
    )
    return stack, made


def resources(stack: ChildStack) -> dict[str, Any]:
    return dict(stack.template.to_dict()["Resources"])


# -- the spec model ----------------------------------------------------------------------------


ALLOWED = ", ".join(CHAT_GUARDRAIL_POLICIES)


class TestModel:
    def test_defaults(self) -> None:
        settings = Chat.model_validate({"service": "slack"})
        assert settings.logging_level == "ERROR"
        assert settings.guardrail == ["ReadOnlyAccess"]
        assert settings.events is None
        assert spec_of().chat is None

    def test_read_only_and_a_list_of_read_only_policies(self) -> None:
        assert Chat.model_validate({"service": "teams", "guardrail": "read-only"}).guardrail == [
            "ReadOnlyAccess"
        ]
        listed = ["CloudWatchReadOnlyAccess", "AWSCodePipeline_ReadOnlyAccess"]
        assert Chat.model_validate({"service": "teams", "guardrail": listed}).guardrail == listed

    def test_the_allow_list_is_the_literal(self) -> None:
        from typing import get_args

        assert get_args(ChatGuardrailPolicy) == CHAT_GUARDRAIL_POLICIES

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            (
                {"service": "discord", "logging_level": "DEBUG"},
                [
                    ("chat.logging_level", "'DEBUG' is not one of ERROR, INFO, NONE"),
                    ("chat.service", "'discord' is not one of slack, teams"),
                ],
            ),
            (
                {"logging_level": "INFO"},
                [("chat.service", "missing required field 'service'; add it")],
            ),
            (
                {"service": "slack", "guardrail": "admin"},
                [
                    (
                        "chat.guardrail",
                        "'admin' is not a guardrail: use read-only, or a list of these AWS "
                        f"managed policies: {ALLOWED}",
                    )
                ],
            ),
            (
                {"service": "slack", "guardrail": "ReadOnly"},
                [
                    (
                        "chat.guardrail",
                        "'ReadOnly' is not a guardrail: did you mean 'read-only'? use "
                        f"read-only, or a list of these AWS managed policies: {ALLOWED}",
                    )
                ],
            ),
            (
                {"service": "slack", "guardrail": "CloudWatchReadOnly"},
                [
                    (
                        "chat.guardrail",
                        "'CloudWatchReadOnly' is not a guardrail: did you mean "
                        "[CloudWatchReadOnlyAccess]? use read-only, or a list of these AWS "
                        f"managed policies: {ALLOWED}",
                    )
                ],
            ),
            (
                {"service": "slack", "guardrail": ["AdministratorAccess"]},
                [("chat.guardrail[0]", f"'AdministratorAccess' is not one of {ALLOWED}")],
            ),
            (
                {"service": "slack", "guardrail": [], "events": []},
                [
                    ("chat.events", "needs at least 1 item"),
                    ("chat.guardrail", "needs at least 1 item"),
                ],
            ),
            (
                {"service": "slack", "events": ["failed", "deployed"]},
                [
                    (
                        "chat.events[1]",
                        "'deployed' is not one of failed, succeeded, approval-needed, stage-failed",
                    )
                ],
            ),
            (
                {"service": "teams", "channel": "x"},
                [
                    (
                        "chat.channel",
                        "unknown field 'channel'; allowed: service, logging_level, guardrail, "
                        "events",
                    )
                ],
            ),
        ],
        ids=[
            "service-and-level",
            "service-missing",
            "guardrail-word",
            "guardrail-near-miss",
            "guardrail-policy-not-in-a-list",
            "guardrail-not-read-only",
            "empty-lists",
            "event-kind",
            "unknown-field",
        ],
    )
    def test_bad_fields_name_the_field(
        self, data: dict[str, Any], expected: list[tuple[str, str]]
    ) -> None:
        assert problems(data) == expected


class TestChecks:
    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({"chat": {"service": "slack"}}, []),
            ({}, []),
            (
                {
                    "chat": {
                        "service": "slack",
                        "guardrail": ["ReadOnlyAccess", "ReadOnlyAccess"],
                        "events": ["failed", "succeeded", "failed"],
                    }
                },
                [
                    (
                        "chat.guardrail[1]",
                        "'ReadOnlyAccess' is already listed at chat.guardrail[0]; list it once",
                    ),
                    (
                        "chat.events[2]",
                        "'failed' is already listed at chat.events[0]; list it once",
                    ),
                ],
            ),
            (
                {"chat": {"service": "teams"}, "notifications": {"events": []}},
                [
                    (
                        "chat",
                        "the channel would receive nothing: notifications.events is empty; list "
                        "the events for the channel in chat.events",
                    )
                ],
            ),
            (
                {
                    "chat": {"service": "teams", "events": ["failed"]},
                    "notifications": {"events": []},
                },
                [],
            ),
        ],
        ids=["plain", "no-chat", "repeats", "nothing-to-send", "own-events"],
    )
    def test_issues(self, fields: dict[str, Any], expected: list[tuple[str, str]]) -> None:
        spec = spec_of(**fields)
        assert [(format_loc(i.loc), i.message) for i in chat.check_chat(spec)] == expected

    def test_events_default_to_the_notifications(self) -> None:
        spec = spec_of(chat={"service": "slack"}, notifications={"events": ["failed"]})
        assert chat.chat_events(spec) == ["failed"]
        spec = spec_of(chat={"service": "slack", "events": ["succeeded"]})
        assert chat.chat_events(spec) == ["succeeded"]


# -- launch parameters ---------------------------------------------------------------------------


# (parameter, resource type, property): each parameter feeds exactly that property.
FEEDS = [
    ("SlackWorkspaceId", "AWS::Chatbot::SlackChannelConfiguration", "SlackWorkspaceId"),
    ("SlackChannelId", "AWS::Chatbot::SlackChannelConfiguration", "SlackChannelId"),
    ("TeamsTenantId", "AWS::Chatbot::MicrosoftTeamsChannelConfiguration", "TeamsTenantId"),
    ("TeamsTeamId", "AWS::Chatbot::MicrosoftTeamsChannelConfiguration", "TeamId"),
    ("TeamsChannelId", "AWS::Chatbot::MicrosoftTeamsChannelConfiguration", "TeamsChannelId"),
]


def parameters() -> dict[str, Any]:
    every = [
        *chat.chat_parameters(Chat(service="slack")),
        *chat.chat_parameters(Chat(service="teams")),
    ]
    return {p.name: p for p in every}


class TestParameters:
    def test_one_set_per_service(self) -> None:
        slack = [p.name for p in chat.chat_parameters(Chat(service="slack"))]
        teams = [p.name for p in chat.chat_parameters(Chat(service="teams"))]
        assert slack == ["SlackWorkspaceId", "SlackChannelId"]
        assert teams == ["TeamsTenantId", "TeamsTeamId", "TeamsChannelId"]
        assert {p.group for p in parameters().values()} == {chat.CHAT_GROUP}

    @pytest.mark.parametrize(("name", "resource_type", "prop"), FEEDS)
    def test_pattern_and_length_are_the_resource_schemas(
        self, name: str, resource_type: str, prop: str
    ) -> None:
        parameter = parameters()[name]
        rules = schema(resource_type)["properties"][prop]
        assert parameter.allowed_pattern == rules["pattern"]
        assert parameter.min_length == rules["minLength"]
        assert parameter.max_length == rules["maxLength"]
        assert parameter.constraint_description

    @pytest.mark.parametrize(
        ("name", "good", "bad"),
        [
            ("SlackWorkspaceId", ["T0123ABCD"], ["t0123abcd", "T0123-ABC", ""]),
            ("SlackChannelId", ["C0123ABCDEF", "c01abc"], ["#general", "C01 23"]),
            (
                "TeamsTenantId",
                ["0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"],
                ["0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d", "tenant"],
            ),
            (
                "TeamsChannelId",
                ["19%3a0123abcd%40thread.tacv2", "19%3AAbC-_=+%40thread.skype"],
                ["19:0123abcd@thread.tacv2", "general"],
            ),
        ],
    )
    def test_patterns_accept_real_ids(self, name: str, good: list[str], bad: list[str]) -> None:
        parameter = parameters()[name]
        for value in good:
            assert re.fullmatch(parameter.allowed_pattern, value), value
        for value in bad:
            assert not re.fullmatch(parameter.allowed_pattern, value), value


# -- resources -----------------------------------------------------------------------------------


class TestChannel:
    def test_slack_configuration(self) -> None:
        stack, made = channel("slack", logging_level="INFO")
        res = resources(stack)
        assert res["SlackChannel"]["Type"] == "AWS::Chatbot::SlackChannelConfiguration"
        p = res["SlackChannel"]["Properties"]
        assert p["SlackWorkspaceId"] == {"Ref": "SlackWorkspaceId"}
        assert p["SlackChannelId"] == {"Ref": "SlackChannelId"}
        assert p["ConfigurationName"] == {"Fn::Sub": "pipegen-demo-${AWS::Region}"}
        assert p["IamRoleArn"] == {"Fn::GetAtt": ["ChatbotChannelRole", "Arn"]}
        assert p["SnsTopicArns"] == [{"Ref": "PipelineChatTopic"}]
        assert p["LoggingLevel"] == "INFO"
        assert p["UserRoleRequired"] is True
        assert p["GuardrailPolicies"] == [
            {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess"}
        ]
        assert made.configuration_arn.local.to_dict() == {"Ref": "SlackChannel"}
        assert "TeamsChannel" not in res

    def test_teams_configuration(self) -> None:
        stack, made = channel("teams", guardrail=["CloudWatchReadOnlyAccess"])
        p = resources(stack)["TeamsChannel"]["Properties"]
        assert resources(stack)["TeamsChannel"]["Type"] == (
            "AWS::Chatbot::MicrosoftTeamsChannelConfiguration"
        )
        assert p["TeamsTenantId"] == {"Ref": "TeamsTenantId"}
        assert p["TeamId"] == {"Ref": "TeamsTeamId"}
        assert p["TeamsChannelId"] == {"Ref": "TeamsChannelId"}
        assert p["LoggingLevel"] == "ERROR"
        assert p["GuardrailPolicies"] == [
            {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/CloudWatchReadOnlyAccess"}
        ]
        outputs = stack.template.to_dict()["Outputs"]
        assert outputs["ChatChannelConfigurationArn"]["Value"] == {"Ref": "TeamsChannel"}
        assert made.topic_arn.name == "PipelineChatTopicArn"

    def test_alarm_topics_are_subscribed_too(self) -> None:
        stack, _ = channel("slack", alarms=True)
        p = resources(stack)["SlackChannel"]["Properties"]
        assert p["SnsTopicArns"] == [{"Ref": "PipelineChatTopic"}, {"Ref": "AlarmTopicArn"}]

    def test_topic_uses_the_customer_key_and_only_eventbridge_publishes(self) -> None:
        stack, _ = channel("slack")
        res = resources(stack)
        assert res["PipelineChatTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "ArtifactKeyArn"}
        (statement,) = res["PipelineChatTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": ["events.amazonaws.com"]}
        assert statement["Action"] == ["sns:Publish"]
        rules = [f"Chat{n.logical_id}" for n in pipeline_notices(NOTICE_KINDS)]
        assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == [
            {"Fn::Sub": f"${{{rule}.Arn}}"} for rule in rules
        ]

    @pytest.mark.parametrize("kind", NOTICE_KINDS)
    def test_rules_send_chatbot_custom_notifications(self, kind: str) -> None:
        stack, _ = channel("slack")
        (notice,) = pipeline_notices([kind])
        rule = resources(stack)[f"Chat{notice.logical_id}"]["Properties"]
        assert rule["EventPattern"]["detail"]["pipeline"] == ["demo"]
        assert rule["EventPattern"]["detail-type"] == [notice.detail_type]
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Ref": "PipelineChatTopic"}
        transformer = target["InputTransformer"]
        template = transformer["InputTemplate"]
        placeholders = set(re.findall(r"<([a-z]+)>", template))
        assert placeholders == set(transformer["InputPathsMap"])
        message = json.loads(re.sub(r"<([a-z]+)>", r"sample-\1", template))
        assert message["version"] == "1.0"
        assert message["source"] == "custom"
        assert message["content"]["textType"] == "client-markdown"
        assert "sample-pipeline" in message["content"]["title"]
        assert "https://sample-region.console.aws.amazon.com/" in message["content"]["description"]

    def test_channel_role_has_no_permission_without_alarm_topics(self) -> None:
        stack, _ = channel("slack")
        res = resources(stack)
        trust = res["ChatbotChannelRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["chatbot.amazonaws.com"]},
                "Action": ["sts:AssumeRole"],
            }
        ]
        assert [r for r in res.values() if r["Type"] == "AWS::IAM::Policy"] == []

    def test_alarm_charts_are_the_only_permission(self) -> None:
        stack, _ = channel("teams", alarms=True)
        policies = {
            name: r["Properties"]
            for name, r in resources(stack).items()
            if r["Type"] == "AWS::IAM::Policy"
        }
        assert list(policies) == ["ChatbotChannelRoleWildcardOnlyPolicy"]
        (statement,) = policies["ChatbotChannelRoleWildcardOnlyPolicy"]["PolicyDocument"][
            "Statement"
        ]
        assert statement["Action"] == ["cloudwatch:GetMetricWidgetImage"]
        assert statement["Resource"] == ["*"]
        assert wildcard_only_actions()["cloudwatch:GetMetricWidgetImage"]


@pytest.mark.parametrize("service", ["slack", "teams"])
def test_templates_pass_cfn_lint_and_the_guardrails(service: str, tmp_path: Path) -> None:
    stack, _ = channel(service, alarms=True, guardrail=list(CHAT_GUARDRAIL_POLICIES))
    assert lint_stacks(tmp_path, stack) == []
