"""Encrypted SNS topics, e-mail subscriptions, and the EventBridge rules that feed them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from awacs import sns as sns_actions
from awacs.aws import Allow, ArnLike, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import Ref, Sub, events, sns

from generator.assembly.stack import ChildStack, Exported, RootParameter
from generator.components.artifact_store import account_root
from generator.components.iam import POLICY_VERSION, role_arn_pattern
from generator.naming import Names

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

# EventBridge detail-types CodePipeline emits.
PIPELINE_EXECUTION = "CodePipeline Pipeline Execution State Change"
STAGE_EXECUTION = "CodePipeline Stage Execution State Change"
ACTION_EXECUTION = "CodePipeline Action Execution State Change"


def email_parameter(
    name: str, label: str, group: str, purpose: str, default: str | None
) -> RootParameter:
    return RootParameter(
        name=name,
        description=f"E-mail address that receives {purpose}. Confirm the subscription e-mail.",
        label=label,
        group=group,
        default=default,
        allowed_pattern=EMAIL_PATTERN,
        constraint_description="An e-mail address such as team@example.com.",
        min_length=3,
        max_length=254,
    )


NOTIFICATIONS_GROUP = "Notifications"


def notification_email(default: str | None) -> RootParameter:
    return email_parameter(
        "NotificationEmail",
        "Notification e-mail",
        NOTIFICATIONS_GROUP,
        "pipeline failures, successes and approval requests",
        default,
    )


def approver_email(environment: str, default: str | None) -> RootParameter:
    return email_parameter(
        f"{environment.capitalize()}ApproverEmail",
        f"{environment} approver e-mail",
        NOTIFICATIONS_GROUP,
        f"requests to approve deployments to {environment}",
        default,
    )


@dataclass(frozen=True)
class EventNotice:
    """One EventBridge rule: which CodePipeline events, and how the message reads."""

    logical_id: str
    description: str
    detail_type: str
    detail: dict[str, Any]
    message: str  # InputTemplate text with <pipeline>, <state>, <execution>, <stage>, <region>


def pipeline_notices(events_wanted: Sequence[str]) -> list[EventNotice]:
    console = (
        "https://<region>.console.aws.amazon.com/codesuite/codepipeline/pipelines/<pipeline>"
        "/executions/<execution>/timeline"
    )
    catalogue = {
        "failed": EventNotice(
            "PipelineFailedRule",
            "Pipeline execution failed",
            PIPELINE_EXECUTION,
            {"state": ["FAILED"]},
            f"Pipeline <pipeline> FAILED (execution <execution>). {console}",
        ),
        "succeeded": EventNotice(
            "PipelineSucceededRule",
            "Pipeline execution succeeded",
            PIPELINE_EXECUTION,
            {"state": ["SUCCEEDED"]},
            f"Pipeline <pipeline> SUCCEEDED (execution <execution>). {console}",
        ),
        "stage-failed": EventNotice(
            "StageFailedRule",
            "A stage failed",
            STAGE_EXECUTION,
            {"state": ["FAILED"]},
            f"Stage <stage> of pipeline <pipeline> FAILED (execution <execution>). {console}",
        ),
        "approval-needed": EventNotice(
            "ApprovalNeededRule",
            "A manual approval is waiting",
            ACTION_EXECUTION,
            {"state": ["STARTED"], "type": {"category": ["Approval"]}},
            f"Pipeline <pipeline> waits for approval at stage <stage>. {console}",
        ),
    }
    return [catalogue[name] for name in events_wanted]


def encrypted_topic(stack: ChildStack, logical_id: str, display: str, key_arn: Any) -> sns.Topic:
    return stack.add(sns.Topic(logical_id, DisplayName=display[:100], KmsMasterKeyId=key_arn))


def email_subscription(stack: ChildStack, logical_id: str, topic: sns.Topic, email: Any) -> None:
    stack.add(
        sns.SubscriptionResource(logical_id, TopicArn=topic.ref(), Protocol="email", Endpoint=email)
    )


def publish_statement(
    topic: sns.Topic, sid: str, principal: Principal, condition: Condition
) -> Statement:
    """Who may publish to `topic`, under which condition."""
    return Statement(
        Sid=sid,
        Effect=Allow,
        Principal=principal,
        Action=[sns_actions.Publish],
        Resource=[topic.ref()],
        Condition=condition,
    )


def publish_only(stack: ChildStack, topic: sns.Topic, statements: Sequence[Statement]) -> None:
    """A topic policy whose statements say who may publish, and nothing else."""
    stack.add(
        sns.TopicPolicy(
            f"{topic.title}Policy",
            Topics=[topic.ref()],
            PolicyDocument=PolicyDocument(Version=POLICY_VERSION, Statement=list(statements)),
        )
    )


def alarms_publish(topic: sns.Topic, alarm_arns: Sequence[Any]) -> list[Statement]:
    """CloudWatch publishes alarm notifications as its service principal: only for these alarms
    of this account (none: no statement)."""
    if not alarm_arns:
        return []
    return [
        publish_statement(
            topic,
            "CloudWatchAlarmsOfThisPipelinePublish",
            Principal("Service", ["cloudwatch.amazonaws.com"]),
            Condition(
                [
                    StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")}),
                    ArnLike({"aws:SourceArn": list(alarm_arns)}),
                ]
            ),
        )
    ]


def events_only_topic_policy(
    stack: ChildStack, topic: sns.Topic, rule_arns: list[Any], alarm_arns: Sequence[Any] = ()
) -> None:
    """Only this account's EventBridge rules (and the given alarms) may publish."""
    rules = (
        [
            publish_statement(
                topic,
                "EventBridgeRulesOfThisAccountPublish",
                Principal("Service", ["events.amazonaws.com"]),
                Condition(
                    [
                        StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")}),
                        ArnLike({"aws:SourceArn": rule_arns}),
                    ]
                ),
            )
        ]
        if rule_arns
        else []
    )
    publish_only(stack, topic, [*rules, *alarms_publish(topic, alarm_arns)])


def pipeline_roles_topic_policy(
    stack: ChildStack, topic: sns.Topic, names: Names, alarm_arns: Sequence[Any] = ()
) -> None:
    """Only this pipeline's roles may publish (the approval action publishes as the pipeline),
    and the given alarms."""
    roles = publish_statement(
        topic,
        "PipelineRolesPublish",
        account_root(),
        Condition(ArnLike({"aws:PrincipalArn": role_arn_pattern(names.pipeline)})),
    )
    publish_only(stack, topic, [roles, *alarms_publish(topic, alarm_arns)])


def notice_target(target_id: str, topic: sns.Topic, input_template: str) -> events.Target:
    """`topic` as a rule's target, receiving the event as `input_template`, in which
    <pipeline>, <execution>, <region> and <stage> are input paths."""
    return events.Target(
        Id=target_id,
        Arn=topic.ref(),
        InputTransformer=events.InputTransformer(
            InputPathsMap={
                "pipeline": "$.detail.pipeline",
                "execution": "$.detail.execution-id",
                "region": "$.region",
                **({"stage": "$.detail.stage"} if "<stage>" in input_template else {}),
            },
            InputTemplate=input_template,
        ),
    )


def notice_rule(
    stack: ChildStack,
    logical_id: str,
    description: str,
    notice: EventNotice,
    pipeline: str,
    target: events.Target,
) -> events.Rule:
    """A rule sending `notice`'s events of `pipeline` to `target`."""
    return stack.add(
        events.Rule(
            logical_id,
            Description=description,
            State="ENABLED",
            EventPattern={
                "source": ["aws.codepipeline"],
                "detail-type": [notice.detail_type],
                "detail": {"pipeline": [pipeline], **notice.detail},
            },
            Targets=[target],
        )
    )


def event_rule(
    stack: ChildStack, notice: EventNotice, pipeline: str, topic: sns.Topic
) -> events.Rule:
    target = notice_target("NotificationTopic", topic, f'"{notice.message}"')
    description = f"{notice.description}: {pipeline}"
    return notice_rule(stack, notice.logical_id, description, notice, pipeline, target)


@dataclass(frozen=True)
class Notifications:
    topic_arn: Exported
    approval_topic_arns: dict[str, Exported]  # environment name -> topic ARN


def notifications(
    stack: ChildStack,
    names: Names,
    *,
    key_arn: Exported,
    events_wanted: Sequence[str],
    email: RootParameter,
    approval_emails: dict[str, RootParameter],
    alarm_arns: Sequence[Any] = (),
    approval_alarm_arns: Mapping[str, Sequence[Any]] | None = None,
) -> Notifications:
    """The pipeline's event topic, and one approval topic per gated environment.

    `alarm_arns` may publish to the event topic, `approval_alarm_arns[env]` to env's approval
    topic (CloudWatch alarms of `monitoring`, by their fixed names).
    """
    key = stack.use(key_arn)
    topic = encrypted_topic(stack, "PipelineEventsTopic", f"{names.pipeline} pipeline events", key)
    email_subscription(stack, "PipelineEventsEmail", topic, stack.use(email))
    rules = [event_rule(stack, n, names.pipeline, topic) for n in pipeline_notices(events_wanted)]
    rule_arns: list[Any] = [Sub(f"${{{rule.title}.Arn}}") for rule in rules]
    if rule_arns or alarm_arns:
        events_only_topic_policy(stack, topic, rule_arns, alarm_arns)
    approval_topics: dict[str, Exported] = {}
    for env, parameter in approval_emails.items():
        logical = f"{env.capitalize()}ApprovalTopic"
        gate_topic = encrypted_topic(stack, logical, f"{names.pipeline} approve {env}", key)
        email_subscription(stack, f"{logical}Email", gate_topic, stack.use(parameter))
        pipeline_roles_topic_policy(
            stack, gate_topic, names, (approval_alarm_arns or {}).get(env, ())
        )
        approval_topics[env] = stack.export(
            f"{env.capitalize()}ApprovalTopicArn", gate_topic.ref(), f"Approval topic for {env}"
        )
    return Notifications(
        topic_arn=stack.export("PipelineEventsTopicArn", topic.ref(), "Pipeline events topic"),
        approval_topic_arns=approval_topics,
    )
