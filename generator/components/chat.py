"""Pipeline events in a Slack or Microsoft Teams channel, through AWS Chatbot.

AWS Chatbot renders only two kinds of SNS message: events of the AWS services it knows, and its
"custom notification" JSON (version 1.0, source custom). The pipeline events topic
(notifications.py) carries plain-text messages for e-mail, which Chatbot drops, so the channel
gets a topic of its own: the same EventBridge events, transformed into custom notifications.

The topic is encrypted with the pipeline's customer managed key. Only EventBridge publishes to
it (the key policy's EventBridgePublishesToEncryptedTopics statement and the topic policy);
Chatbot only subscribes, and SNS decrypts a message before it delivers it to a subscriber, so
Chatbot needs no key grant.

Channel members act only through their own IAM roles (UserRoleRequired), capped by the channel
guardrail (read-only managed policies). The channel role itself is what Chatbot uses to deliver
notifications: nothing, or only chart rendering when CloudWatch alarm topics are subscribed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from awacs import cloudwatch
from troposphere import Sub, chatbot, events, sns

from generator.assembly.stack import ChildStack, Exported, RootParameter
from generator.components.iam import RoleBuilder, service
from generator.components.notifications import (
    EventNotice,
    encrypted_topic,
    events_only_topic_policy,
    notice_rule,
    notice_target,
    pipeline_notices,
)
from generator.naming import Names
from generator.spec.checks import SpecIssue, repeats
from generator.spec.model import Chat, Environment, PipelineSpec

CHAT_GROUP = "Chat notifications"

# The patterns and lengths of the CloudFormation resource schemas (AWS::Chatbot::*).
SLACK_WORKSPACE_PATTERN = r"^[0-9A-Z]{1,255}$"
SLACK_CHANNEL_PATTERN = r"^[A-Za-z0-9]+$"
TEAMS_GUID_PATTERN = r"^[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$"
_TEAMS_CHARS = r"([a-zA-Z0-9-_=+/.,])*"
TEAMS_CHANNEL_PATTERN = f"^{_TEAMS_CHARS}%3[aA]{_TEAMS_CHARS}%40{_TEAMS_CHARS}$"

CONSOLE = (
    "https://<region>.console.aws.amazon.com/codesuite/codepipeline/pipelines/<pipeline>"
    "/executions/<execution>/timeline"
)
# Title and description of each event kind, in Chatbot's custom notification format.
MESSAGES = {
    "PipelineFailedRule": (
        "Pipeline <pipeline> failed",
        "Execution `<execution>` failed.",
    ),
    "PipelineSucceededRule": (
        "Pipeline <pipeline> succeeded",
        "Execution `<execution>` succeeded.",
    ),
    "StageFailedRule": (
        "Stage <stage> of <pipeline> failed",
        "Stage <stage> failed in execution `<execution>`.",
    ),
    "ApprovalNeededRule": (
        "<pipeline> waits for approval",
        "Stage <stage> waits for a manual approval (execution `<execution>`).",
    ),
}


def _channel_parameter(
    name: str,
    label: str,
    description: str,
    pattern: str,
    constraint: str,
    length: tuple[int, int] = (1, 256),
) -> RootParameter:
    return RootParameter(
        name=name,
        description=description,
        label=label,
        group=CHAT_GROUP,
        allowed_pattern=pattern,
        min_length=length[0],
        max_length=length[1],
        constraint_description=constraint,
    )


def _teams_guid(name: str, label: str, description: str) -> RootParameter:
    constraint = "A GUID such as 0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d."
    return _channel_parameter(name, label, description, TEAMS_GUID_PATTERN, constraint, (36, 36))


def chat_parameters(settings: Chat) -> list[RootParameter]:
    """The ids of the channel, entered when the stack is launched."""
    if settings.service == "slack":
        return [
            _channel_parameter(
                "SlackWorkspaceId",
                "Slack workspace ID",
                "ID of the Slack workspace authorised in the AWS Chatbot console "
                "(Configured clients), such as T0123ABCD.",
                SLACK_WORKSPACE_PATTERN,
                "Capital letters and digits, such as T0123ABCD.",
            ),
            _channel_parameter(
                "SlackChannelId",
                "Slack channel ID",
                "ID of the Slack channel (channel details, at the bottom), such as "
                "C0123ABCDEF. Invite @aws to a private channel first.",
                SLACK_CHANNEL_PATTERN,
                "Letters and digits, such as C0123ABCDEF.",
            ),
        ]
    return [
        _teams_guid(
            "TeamsTenantId",
            "Teams tenant ID",
            "Microsoft Teams tenant ID (the tenantId in the channel link).",
        ),
        _teams_guid(
            "TeamsTeamId",
            "Teams team ID",
            "Microsoft Teams team ID (the groupId in the channel link), authorised "
            "in the AWS Chatbot console (Configured clients).",
        ),
        _channel_parameter(
            "TeamsChannelId",
            "Teams channel ID",
            "Microsoft Teams channel ID as it appears in the channel link, "
            "URL-encoded: 19%3a...%40thread.tacv2.",
            TEAMS_CHANNEL_PATTERN,
            "The URL-encoded channel ID, such as 19%3aabc%40thread.tacv2.",
        ),
    ]


def custom_notification(notice: EventNotice) -> str:
    """The EventBridge InputTemplate that turns `notice`'s event into a Chatbot custom
    notification (<pipeline>, <execution>, <region>, <stage> are input paths)."""
    title, description = MESSAGES[notice.logical_id]
    return json.dumps(
        {
            "version": "1.0",
            "source": "custom",
            "content": {
                "textType": "client-markdown",
                "title": title,
                "description": f"{description} [Open in the console]({CONSOLE})",
            },
            "metadata": {
                "threadId": "<pipeline>-<execution>",
                "summary": title,
                "eventType": notice.detail_type,
                "relatedResources": ["<pipeline>"],
            },
        },
        separators=(",", ":"),
    )


def chat_rule(
    stack: ChildStack, notice: EventNotice, pipeline: str, topic: sns.Topic
) -> events.Rule:
    target = notice_target("ChatTopic", topic, custom_notification(notice))
    description = f"{notice.description} (chat): {pipeline}"
    return notice_rule(stack, f"Chat{notice.logical_id}", description, notice, pipeline, target)


def guardrail_arns(settings: Chat) -> list[Sub]:
    return [Sub(f"arn:${{AWS::Partition}}:iam::aws:policy/{name}") for name in settings.guardrail]


def chatbot_role(names: Names, *, charts: bool) -> RoleBuilder:
    """The channel role. Notifications need no permission; CloudWatch alarm notifications show
    a chart that Chatbot draws with GetMetricWidgetImage, which takes no narrower resource."""
    role = RoleBuilder(
        logical_id="ChatbotChannelRole",
        description=f"AWS Chatbot channel of pipeline {names.pipeline}: delivers notifications",
        trust=service("chatbot"),
        pipeline=names.pipeline,
    )
    if charts:
        role.allow("DrawAlarmCharts", [cloudwatch.GetMetricWidgetImage], ["*"])
    return role


@dataclass(frozen=True)
class ChatChannel:
    configuration_arn: Exported
    topic_arn: Exported


def chat_channel(
    stack: ChildStack,
    names: Names,
    *,
    settings: Chat,
    key_arn: Exported,
    events_wanted: Sequence[str],
    alarm_topic_arns: Sequence[Exported] = (),
) -> ChatChannel:
    """The channel's topic and rules, its role, and the Slack or Teams channel configuration.

    `events_wanted`: NoticeKinds (settings.events, else the spec's notifications.events).
    `alarm_topic_arns`: topics of CloudWatch alarms to show in the channel too (Chatbot renders
    alarm notifications natively); their publishers need the key already.
    """
    key = stack.use(key_arn)
    topic = encrypted_topic(stack, "PipelineChatTopic", f"{names.pipeline} chat", key)
    rules = [chat_rule(stack, n, names.pipeline, topic) for n in pipeline_notices(events_wanted)]
    if rules:
        events_only_topic_policy(stack, topic, [Sub(f"${{{rule.title}.Arn}}") for rule in rules])
    role_arn = chatbot_role(names, charts=bool(alarm_topic_arns)).build(stack)
    common: dict[str, Any] = {
        "ConfigurationName": Sub(f"pipegen-{names.pipeline}-${{AWS::Region}}"),
        "IamRoleArn": role_arn,
        "SnsTopicArns": [topic.ref(), *(stack.use(t) for t in alarm_topic_arns)],
        "LoggingLevel": settings.logging_level,
        "GuardrailPolicies": guardrail_arns(settings),
        "UserRoleRequired": True,
    }
    ids = {p.name: stack.use(p) for p in chat_parameters(settings)}
    channel: Any
    if settings.service == "slack":
        channel = chatbot.SlackChannelConfiguration(
            "SlackChannel",
            SlackWorkspaceId=ids["SlackWorkspaceId"],
            SlackChannelId=ids["SlackChannelId"],
            **common,
        )
    else:
        channel = chatbot.MicrosoftTeamsChannelConfiguration(
            "TeamsChannel",
            TeamsTenantId=ids["TeamsTenantId"],
            TeamId=ids["TeamsTeamId"],
            TeamsChannelId=ids["TeamsChannelId"],
            **common,
        )
    stack.add(channel)
    return ChatChannel(
        configuration_arn=stack.export(
            "ChatChannelConfigurationArn", channel.ref(), "AWS Chatbot channel configuration"
        ),
        topic_arn=stack.export("PipelineChatTopicArn", topic.ref(), "Topic of the chat channel"),
    )


def chat_events(spec: PipelineSpec[Environment]) -> list[str]:
    """The events the channel receives: chat.events, else notifications.events."""
    chat = spec.chat
    if chat is not None and chat.events is not None:
        return list(chat.events)
    return list(spec.notifications.events)


def check_chat(spec: PipelineSpec[Environment]) -> Iterator[SpecIssue]:
    """Cross-field rules of the chat block."""
    chat = spec.chat
    if chat is None:
        return
    for field in ("guardrail", "events"):
        for index, earlier, value in repeats(getattr(chat, field) or []):
            yield SpecIssue(
                ("chat", field, index),
                f"{value!r} is already listed at chat.{field}[{earlier}]; list it once",
            )
    if len(chat_events(spec)) == 0:
        yield SpecIssue(
            ("chat",),
            "the channel would receive nothing: notifications.events is empty; list the events "
            "for the channel in chat.events",
        )
