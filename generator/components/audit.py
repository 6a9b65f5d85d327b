"""The audit trail: what was deployed, when, by whom, through which approval.

- A multi-region CloudTrail trail (`<pipeline>-audit`, log file validation on) into an S3
  bucket with Object Lock in COMPLIANCE mode (`audit.retention_days`: nobody, not even the
  account root, deletes or overwrites a log file sooner), encrypted with a KMS key of its own
  whose policy lets CloudTrail encrypt for this trail only (aws:SourceArn), versioned, TLS-only,
  public access blocked, with server access logging. The trail also writes to the encrypted log
  group `/pipegen/<pipeline>/audit/cloudtrail` through a role that may write to that group only.
- With `audit.account`, the bucket and key live in that account: `audit/audit-bucket.yaml` is
  launched there first (its parameter is the pipeline's account id), the trail names the bucket
  (`<pipeline>-audit-<audit account>`) and takes the key's ARN as the root parameter
  `AuditKeyArn` (the audit stack's output).
- EventBridge rules write into the encrypted log group `/pipegen/<pipeline>/audit/pipeline-events`
  (retention `audit.log_retention_days`): every pipeline execution state change (with what
  started it), the Source, Approval and Deploy action state changes (the commit, the approval's
  outcome, what each deploy did), and CloudTrail's PutApprovalResult calls for the pipeline,
  which carry who approved (userIdentity): CodePipeline's action events do not name the
  approver. EventBridge receives those API-call events only because a trail is logging.

Auditor's queries (CloudWatch Logs Insights; `auditor_queries()` has them for a pipeline):

1. Executions, and who or what started them (log group /pipegen/<pipeline>/audit/pipeline-events):

       filter `detail-type` = "CodePipeline Pipeline Execution State Change"
       | fields @timestamp, `detail.execution-id` as execution, detail.state as state,
         `detail.execution-trigger.trigger-type` as trigger,
         `detail.execution-trigger.trigger-detail` as started_by
       | sort @timestamp desc

2. The commit each execution deployed (pipeline-events):

       filter `detail-type` = "CodePipeline Action Execution State Change"
         and `detail.type.category` = "Source" and detail.state = "SUCCEEDED"
       | fields @timestamp, `detail.execution-id` as execution,
         `detail.execution-result.external-execution-id` as commit,
         `detail.execution-result.external-execution-summary` as message
       | sort @timestamp desc

3. Deployments per stage, and how they ended (pipeline-events):

       filter `detail-type` = "CodePipeline Action Execution State Change"
         and `detail.type.category` = "Deploy"
       | fields @timestamp, `detail.execution-id` as execution, detail.stage as stage,
         detail.action as action, detail.state as state
       | sort @timestamp desc

4. Who approved or rejected, when, with which comment (pipeline-events):

       filter detail.eventName = "PutApprovalResult"
       | fields @timestamp, detail.requestParameters.stageName as stage,
         detail.requestParameters.actionName as action,
         detail.requestParameters.result.status as decision,
         detail.requestParameters.result.summary as comment,
         detail.userIdentity.arn as approver, detail.sourceIPAddress as source_ip
       | sort @timestamp desc

5. One execution's whole story: its events, and every approval decision in its time span
   (pipeline-events; give the execution id; the approval event of a gate follows its decision):

       filter `detail.execution-id` = "EXECUTION_ID" or detail.eventName = "PutApprovalResult"
       | fields @timestamp, `detail-type`, detail.stage, detail.action, detail.state,
         detail.requestParameters.result.status, detail.userIdentity.arn
       | sort @timestamp asc

6. Changes to the pipeline itself and manual interventions (log group
   /pipegen/<pipeline>/audit/cloudtrail):

       filter eventSource = "codepipeline.amazonaws.com"
         and eventName not like /^(Get|List|Poll|Acknowledge|PutJob)/
       | fields @timestamp, eventName, userIdentity.arn as who, sourceIPAddress,
         errorCode
       | sort @timestamp desc

The log files in the bucket are the record that outlives the log groups: CloudTrail's digest
files prove them unchanged (`aws cloudtrail validate-logs`), and Object Lock keeps them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from awacs import kms as kms_actions
from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs.aws import (
    Allow,
    ArnEquals,
    Condition,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
    StringLike,
)
from troposphere import GetAtt, Output, Parameter, Ref, Sub, Template, cloudtrail, events, kms, logs
from troposphere import s3 as s3_resources

from generator.assembly.stack import ChildStack, Exported, RootParameter
from generator.components.artifact_store import (
    RETAIN,
    access_logged_bucket,
    account_administers_key,
    account_root,
    log_bucket,
    log_bucket_policy,
    tls_only,
)
from generator.components.iam import POLICY_VERSION, RoleBuilder, service
from generator.components.log_groups import encrypted_log_group
from generator.components.notifications import ACTION_EXECUTION, PIPELINE_EXECUTION
from generator.naming import Names
from generator.spec.model import Audit

AUDIT_GROUP = "Audit"
AUDIT_TEMPLATE = "audit/audit-bucket.yaml"
API_CALL = "AWS API Call via CloudTrail"
# Action categories whose state changes are kept: the commit, the approval, the deployment.
RECORDED_CATEGORIES = ("Source", "Approval", "Deploy")
BUCKET_LOG_PREFIX = "audit-bucket/"
PIPELINE_ACCOUNT = "PipelineAccountId"  # the audit-account template's parameter


# -- names -------------------------------------------------------------------------------------


def trail_name(names: Names) -> str:
    return f"{names.pipeline}-audit"


def trail_arn(
    names: Names, region: str = "${AWS::Region}", account: str = "${AWS::AccountId}"
) -> Sub:
    """Known before the trail exists (fixed name), so policies can name it without a cycle."""
    return Sub(f"arn:${{AWS::Partition}}:cloudtrail:{region}:{account}:trail/{trail_name(names)}")


def audit_bucket_name(names: Names, account: str) -> str:
    """The bucket in a separate audit account: fixed, so the trail can name it."""
    return f"{names.pipeline}-audit-{account}"


def trail_log_group_name(names: Names) -> str:
    """Under /pipegen/<pipeline>/, which the artifact key admits for CloudWatch Logs."""
    return f"/pipegen/{names.pipeline}/audit/cloudtrail"


def events_log_group_name(names: Names) -> str:
    return f"/pipegen/{names.pipeline}/audit/pipeline-events"


def rule_name(names: Names, what: str) -> str:
    """Fixed, so that the log group's resource policy can name the rules' ARNs."""
    return f"{names.pipeline}-audit-{what}"


RULES = ("executions", "actions", "approvals")

AUDIT_KEY_ARN = RootParameter(
    name="AuditKeyArn",
    description="ARN of the audit trail's KMS key in the audit account: the AuditKeyArn "
    "output of the audit/audit-bucket.yaml stack launched there.",
    label="Audit key ARN",
    group=AUDIT_GROUP,
    allowed_pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$",
    constraint_description="A KMS key ARN: arn:aws:kms:REGION:ACCOUNT:key/KEY-ID.",
    min_length=20,
    max_length=2048,
)


# -- the key and the bucket (this account's or the audit account's) ---------------------------


def audit_key_policy(trail: Any, trail_account: str) -> PolicyDocument:
    """The key policy CloudTrail's guide documents for trail encryption, narrowed to one trail:
    CloudTrail encrypts for it (aws:SourceArn, and the encryption context of the trail's
    account), describes the key for it; this account administers the key, and its principals
    that IAM allows may decrypt log files of the trail's account (auditors, validate-logs)."""
    trail_context = {
        "kms:EncryptionContext:aws:cloudtrail:arn": Sub(
            f"arn:${{AWS::Partition}}:cloudtrail:*:{trail_account}:trail/*"
        )
    }
    cloudtrail = Principal("Service", ["cloudtrail.amazonaws.com"])
    return PolicyDocument(
        Version=POLICY_VERSION,
        Statement=[
            account_administers_key(),
            Statement(
                Sid="CloudTrailEncryptsThisTrailsLogs",
                Effect=Allow,
                Principal=cloudtrail,
                Action=[kms_actions.GenerateDataKey],
                Resource=["*"],
                Condition=Condition(
                    [StringEquals({"aws:SourceArn": trail}), StringLike(trail_context)]
                ),
            ),
            Statement(
                Sid="CloudTrailDescribesKey",
                Effect=Allow,
                Principal=cloudtrail,
                Action=[kms_actions.DescribeKey],
                Resource=["*"],
                Condition=Condition(StringEquals({"aws:SourceArn": trail})),
            ),
            Statement(
                Sid="AccountPrincipalsDecryptLogFiles",
                Effect=Allow,
                Principal=account_root(),
                Action=[kms_actions.Decrypt, kms_actions.ReEncryptFrom],
                Resource=["*"],
                Condition=Condition(
                    [
                        StringEquals({"kms:CallerAccount": Ref("AWS::AccountId")}),
                        StringLike(trail_context),
                    ]
                ),
            ),
        ],
    )


def audit_key(stack: ChildStack, names: Names, trail: Any, trail_account: str) -> kms.Key:
    key = stack.add(
        kms.Key(
            "AuditKey",
            Description=f"Encrypts the audit trail of pipeline {names.pipeline}",
            EnableKeyRotation=True,
            PendingWindowInDays=30,
            KeyPolicy=audit_key_policy(trail, trail_account),
            **RETAIN,
        )
    )
    stack.add(
        kms.Alias(
            "AuditKeyAlias",
            AliasName=f"alias/pipegen/{names.pipeline}/audit",
            TargetKeyId=key.ref(),
        )
    )
    return key


def object_lock(retention_days: int) -> s3_resources.ObjectLockConfiguration:
    return s3_resources.ObjectLockConfiguration(
        ObjectLockEnabled="Enabled",
        Rule=s3_resources.ObjectLockRule(
            DefaultRetention=s3_resources.DefaultRetention(Mode="COMPLIANCE", Days=retention_days)
        ),
    )


def audit_bucket(
    stack: ChildStack,
    key: kms.Key,
    logs_bucket: s3_resources.Bucket,
    retention_days: int,
    bucket_name: str | None = None,
) -> s3_resources.Bucket:
    """Versioned (Object Lock needs it), SSE-KMS, no public access, access-logged, and locked:
    every object version is kept in COMPLIANCE mode for `retention_days`. Lifecycle expiry
    starts after the lock, so nothing expires while it holds."""
    return stack.add(
        access_logged_bucket(
            "AuditBucket",
            key,
            logs_bucket,
            BUCKET_LOG_PREFIX,
            retention_days,
            bucket_name,
            ObjectLockEnabled=True,
            ObjectLockConfiguration=object_lock(retention_days),
        )
    )


def audit_bucket_policy(
    stack: ChildStack, bucket: s3_resources.Bucket, trail: Any, trail_account: str
) -> s3_resources.BucketPolicy:
    """TLS only; CloudTrail checks the ACL and writes the trail account's log files, for this
    trail only (aws:SourceArn), handing them to the bucket owner."""
    cloudtrail = Principal("Service", ["cloudtrail.amazonaws.com"])
    for_this_trail = {"aws:SourceArn": trail}
    return stack.add(
        s3_resources.BucketPolicy(
            "AuditBucketPolicy",
            Bucket=bucket.ref(),
            PolicyDocument=PolicyDocument(
                Version=POLICY_VERSION,
                Statement=[
                    tls_only(bucket),
                    Statement(
                        Sid="CloudTrailChecksTheBucketAcl",
                        Effect=Allow,
                        Principal=cloudtrail,
                        Action=[s3_actions.GetBucketAcl],
                        Resource=[GetAtt(bucket, "Arn")],
                        Condition=Condition(StringEquals(for_this_trail)),
                    ),
                    Statement(
                        Sid="CloudTrailWritesThisTrailsLogFiles",
                        Effect=Allow,
                        Principal=cloudtrail,
                        Action=[s3_actions.PutObject],
                        Resource=[Sub(f"${{{bucket.title}.Arn}}/AWSLogs/{trail_account}/*")],
                        Condition=Condition(
                            StringEquals(
                                {**for_this_trail, "s3:x-amz-acl": "bucket-owner-full-control"}
                            )
                        ),
                    ),
                ],
            ),
        )
    )


@dataclass(frozen=True)
class TrailStore:
    """Where the trail delivers: the bucket's name and the key's ARN, as expressions valid in
    the trail's stack, and what the trail must wait for."""

    bucket: Any
    key_arn: Any
    depends_on: tuple[str, ...] = ()


def trail_store(
    stack: ChildStack,
    names: Names,
    settings: Audit,
    trail: Any,
    trail_account: str,
    bucket_name: str | None = None,
) -> tuple[TrailStore, s3_resources.Bucket, kms.Key]:
    """The key, the access-log bucket, the locked bucket and their policies, in `stack`."""
    key = audit_key(stack, names, trail, trail_account)
    logs_bucket = log_bucket(stack, settings.log_retention_days)
    bucket = audit_bucket(stack, key, logs_bucket, settings.retention_days, bucket_name)
    log_bucket_policy(stack, logs_bucket, bucket, BUCKET_LOG_PREFIX)
    policy = audit_bucket_policy(stack, bucket, trail, trail_account)
    return TrailStore(bucket.ref(), GetAtt(key, "Arn"), (policy.title,)), bucket, key


def audit_account_template(names: Names, settings: Audit, region: str) -> Template:
    """audit/audit-bucket.yaml, launched in the audit account (in `region`, the pipeline's)
    before the pipeline: the locked bucket, its access-log bucket and the trail's key, admitting
    the pipeline account's trail only. Its outputs feed the pipeline's AuditKeyArn parameter."""
    if settings.account is None:
        raise ValueError("audit_account_template needs audit.account")
    stack = ChildStack(
        "audit-bucket",
        f"pipegen audit store of pipeline {names.pipeline}: launch in account "
        f"{settings.account}, region {region}, before the pipeline",
    )
    stack.template.add_parameter(
        Parameter(
            PIPELINE_ACCOUNT,
            Type="String",
            Description=f"The account pipeline {names.pipeline} runs in; only its trail "
            f"{trail_name(names)} may write here.",
            AllowedPattern=r"^\d{12}$",
            ConstraintDescription="A 12-digit AWS account id.",
        )
    )
    trail = trail_arn(names, region, f"${{{PIPELINE_ACCOUNT}}}")
    _, bucket, key = trail_store(
        stack,
        names,
        settings,
        trail,
        f"${{{PIPELINE_ACCOUNT}}}",
        audit_bucket_name(names, settings.account),
    )
    template = stack.template
    template.add_output(
        Output("AuditBucketName", Value=bucket.ref(), Description="The audit trail's bucket")
    )
    template.add_output(
        Output(
            "AuditKeyArn",
            Value=GetAtt(key, "Arn"),
            Description="Pass it to the pipeline's stack as its AuditKeyArn parameter",
        )
    )
    return template


# -- the trail (pipeline account) --------------------------------------------------------------


def trail_logs_role(names: Names) -> RoleBuilder:
    """CloudTrail writes the trail's events into its log group, and nowhere else."""
    group = trail_log_group_name(names)
    role = RoleBuilder(
        logical_id="AuditTrailLogsRole",
        description=f"CloudTrail writes trail {trail_name(names)} into log group {group}",
        trust=service("cloudtrail"),
        pipeline=names.pipeline,
        trust_condition=Condition(
            [
                StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")}),
                ArnEquals({"aws:SourceArn": trail_arn(names)}),
            ]
        ),
    )
    role.allow(
        "WriteTheTrailsLogGroup",
        [logs_actions.CreateLogStream, logs_actions.PutLogEvents],
        [names.log_stream_arn(group)],
    )
    return role


def trail_resource(
    stack: ChildStack,
    names: Names,
    store: TrailStore,
    log_group: logs.LogGroup,
    logs_role_arn: Any,
) -> cloudtrail.Trail:
    return stack.add(
        cloudtrail.Trail(
            "AuditTrail",
            TrailName=trail_name(names),
            IsLogging=True,
            IsMultiRegionTrail=True,
            IncludeGlobalServiceEvents=True,
            EnableLogFileValidation=True,
            S3BucketName=store.bucket,
            KMSKeyId=store.key_arn,
            CloudWatchLogsLogGroupArn=GetAtt(log_group, "Arn"),
            CloudWatchLogsRoleArn=logs_role_arn,
            # CloudTrail checks the bucket policy when the trail is created.
            **({"DependsOn": list(store.depends_on)} if store.depends_on else {}),
        )
    )


# -- the pipeline's events -------------------------------------------------------------------


def event_patterns(names: Names) -> dict[str, dict[str, Any]]:
    """Rule (see RULES) -> its EventBridge pattern."""
    return {
        "executions": {
            "source": ["aws.codepipeline"],
            "detail-type": [PIPELINE_EXECUTION],
            "detail": {"pipeline": [names.pipeline]},
        },
        "actions": {
            "source": ["aws.codepipeline"],
            "detail-type": [ACTION_EXECUTION],
            "detail": {
                "pipeline": [names.pipeline],
                "type": {"category": list(RECORDED_CATEGORIES)},
            },
        },
        "approvals": {
            "source": ["aws.codepipeline"],
            "detail-type": [API_CALL],
            "detail": {
                "eventSource": ["codepipeline.amazonaws.com"],
                "eventName": ["PutApprovalResult"],
                "requestParameters": {"pipelineName": [names.pipeline]},
            },
        },
    }


RULE_DESCRIPTIONS = {
    "executions": "Every execution state change of pipeline {pipeline}, into its audit log",
    "actions": "Source, approval and deploy action state changes of pipeline {pipeline}, into "
    "its audit log",
    "approvals": "Who approved or rejected in pipeline {pipeline} (CloudTrail PutApprovalResult), "
    "into its audit log",
}


def events_log_policy(names: Names) -> dict[str, Any]:
    """EventBridge writes into the audit events log group only: streams may be created by
    EventBridge, events written only by the audit rules (aws:SourceArn, as in AWS's sample,
    on PutLogEvents), the log-delivery service only for this account. Plain JSON with
    `${AWS::...}` placeholders: AWS::Logs::ResourcePolicy takes the policy as text (Fn::Sub)."""
    prefix = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
    name = events_log_group_name(names)
    group = [f"{prefix}{name}", f"{prefix}{name}:*"]
    rules = [
        f"arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/"
        f"{rule_name(names, what)}"
        for what in RULES
    ]
    events_service = {"Service": ["events.amazonaws.com"]}
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "EventBridgeCreatesLogStreams",
                "Effect": "Allow",
                "Principal": events_service,
                "Action": ["logs:CreateLogStream"],
                "Resource": group,
            },
            {
                "Sid": "AuditRulesWriteEvents",
                "Effect": "Allow",
                "Principal": events_service,
                "Action": ["logs:PutLogEvents"],
                "Resource": group,
                "Condition": {"ArnEquals": {"aws:SourceArn": rules}},
            },
            {
                "Sid": "LogDeliveryWritesForThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": ["delivery.logs.amazonaws.com"]},
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": group,
                "Condition": {"StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"}},
            },
        ],
    }


def event_rules(stack: ChildStack, names: Names, waits_for: list[str]) -> list[events.Rule]:
    target = names.log_group_arn(events_log_group_name(names))
    rules = []
    for what, pattern in event_patterns(names).items():
        rules.append(
            stack.add(
                events.Rule(
                    f"Audit{what.capitalize()}Rule",
                    Name=rule_name(names, what),
                    Description=RULE_DESCRIPTIONS[what].format(pipeline=names.pipeline),
                    State="ENABLED",
                    EventPattern=pattern,
                    Targets=[events.Target(Id="AuditEventsLogGroup", Arn=target)],
                    # The target is named, not referenced: the group and its policy come first.
                    DependsOn=list(waits_for),
                )
            )
        )
    return rules


# -- the component -----------------------------------------------------------------------------


@dataclass
class AuditTrail:
    """What the composer wires: the trail's ARN and log groups, the root parameter the trail
    takes with a separate audit account, and the audit-account template to place in
    TemplateSet.extra_templates."""

    trail_arn: Sub
    trail_log_group: str
    events_log_group: str
    bucket_name: Exported
    extra_templates: dict[str, Template] = field(default_factory=dict)
    root_parameters: tuple[RootParameter, ...] = ()


def audit(
    stack: ChildStack,
    names: Names,
    settings: Audit,
    *,
    region: str,
    key_arn: Exported,
    add_role: Callable[[RoleBuilder], Exported],
) -> AuditTrail:
    """Add the audit trail to `stack` (a child of its own, e.g. "audit").

    `region` is the pipeline's (the audit-account template is launched there); `key_arn` the
    artifact key, which encrypts the two log groups; `add_role` registers a role for the iam
    stack and returns its exported ARN (the composer's `role`)."""
    trail = trail_arn(names)
    extra: dict[str, Template] = {}
    parameters: tuple[RootParameter, ...] = ()
    if settings.account is None:
        store, _, _ = trail_store(stack, names, settings, trail, "${AWS::AccountId}")
    else:
        extra[AUDIT_TEMPLATE] = audit_account_template(names, settings, region)
        store = TrailStore(
            bucket=audit_bucket_name(names, settings.account), key_arn=stack.use(AUDIT_KEY_ARN)
        )
        parameters = (AUDIT_KEY_ARN,)
    group_key = stack.use(key_arn)
    days = settings.log_retention_days
    trail_group = encrypted_log_group(
        stack, "AuditTrailLogGroup", trail_log_group_name(names), group_key, days
    )
    role_arn = stack.use(add_role(trail_logs_role(names)))
    trail_resource(stack, names, store, trail_group, role_arn)
    events_group = encrypted_log_group(
        stack, "AuditEventsLogGroup", events_log_group_name(names), group_key, days
    )
    policy = stack.add(
        logs.ResourcePolicy(
            "AuditEventsLogPolicy",
            PolicyName=rule_name(names, "events-to-logs"),
            PolicyDocument=Sub(json.dumps(events_log_policy(names), separators=(",", ":"))),
        )
    )
    event_rules(stack, names, [events_group.title, policy.title])
    bucket_name = stack.export(
        "AuditBucketName",
        store.bucket,
        f"Bucket of the audit trail {trail_name(names)} (Object Lock, COMPLIANCE)",
    )
    return AuditTrail(
        trail_arn=trail,
        trail_log_group=trail_log_group_name(names),
        events_log_group=events_log_group_name(names),
        bucket_name=bucket_name,
        extra_templates=extra,
        root_parameters=parameters,
    )


# -- the auditor's queries ---------------------------------------------------------------------


@dataclass(frozen=True)
class AuditorQuery:
    question: str
    log_group: str
    query: str


def auditor_queries(names: Names) -> list[AuditorQuery]:
    """The module docstring's queries, for one pipeline's log groups (for its docs)."""
    events_group = events_log_group_name(names)
    trail_group = trail_log_group_name(names)
    action = '`detail-type` = "CodePipeline Action Execution State Change"'
    return [
        AuditorQuery(
            "Which executions ran, and who or what started them?",
            events_group,
            'filter `detail-type` = "CodePipeline Pipeline Execution State Change"\n'
            "| fields @timestamp, `detail.execution-id` as execution, detail.state as state, "
            "`detail.execution-trigger.trigger-type` as trigger, "
            "`detail.execution-trigger.trigger-detail` as started_by\n"
            "| sort @timestamp desc",
        ),
        AuditorQuery(
            "Which commit did each execution deploy?",
            events_group,
            f'filter {action} and `detail.type.category` = "Source" '
            'and detail.state = "SUCCEEDED"\n'
            "| fields @timestamp, `detail.execution-id` as execution, "
            "`detail.execution-result.external-execution-id` as commit, "
            "`detail.execution-result.external-execution-summary` as message\n"
            "| sort @timestamp desc",
        ),
        AuditorQuery(
            "What did each deployment do, and how did it end?",
            events_group,
            f'filter {action} and `detail.type.category` = "Deploy"\n'
            "| fields @timestamp, `detail.execution-id` as execution, detail.stage as stage, "
            "detail.action as action, detail.state as state\n"
            "| sort @timestamp desc",
        ),
        AuditorQuery(
            "Who approved or rejected, when, and with which comment?",
            events_group,
            'filter detail.eventName = "PutApprovalResult"\n'
            "| fields @timestamp, detail.requestParameters.stageName as stage, "
            "detail.requestParameters.actionName as action, "
            "detail.requestParameters.result.status as decision, "
            "detail.requestParameters.result.summary as comment, "
            "detail.userIdentity.arn as approver, detail.sourceIPAddress as source_ip\n"
            "| sort @timestamp desc",
        ),
        AuditorQuery(
            "One execution's whole story, with the approval decisions in its time span "
            "(replace EXECUTION_ID)",
            events_group,
            'filter `detail.execution-id` = "EXECUTION_ID" '
            'or detail.eventName = "PutApprovalResult"\n'
            "| fields @timestamp, `detail-type`, detail.stage, detail.action, detail.state, "
            "detail.requestParameters.result.status, detail.userIdentity.arn\n"
            "| sort @timestamp asc",
        ),
        AuditorQuery(
            "Who changed the pipeline or intervened in a run?",
            trail_group,
            'filter eventSource = "codepipeline.amazonaws.com" '
            "and eventName not like /^(Get|List|Poll|Acknowledge|PutJob)/\n"
            "| fields @timestamp, eventName, userIdentity.arn as who, sourceIPAddress, "
            "errorCode\n"
            "| sort @timestamp desc",
        ),
    ]
