"""The hardened artifact store: a rotating KMS key, the artifact bucket and its log bucket."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from awacs import kms as kms_actions
from awacs import s3 as s3_actions
from awacs.aws import (
    Allow,
    ArnLike,
    Bool,
    Condition,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import GetAtt, Ref, Sub, kms, s3

from generator.assembly.stack import ChildStack, Exported
from generator.components.iam import POLICY_VERSION, role_arn_pattern
from generator.naming import Names

RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
ARTIFACT_LOG_PREFIX = "artifact-bucket/"  # the artifact bucket's access logs in the log bucket

KEY_ADMIN_ACTIONS = [
    kms_actions.ReplicateKey,  # multi-Region primaries get replicas in other regions
    kms_actions.CreateAlias,
    kms_actions.DeleteAlias,
    kms_actions.DescribeKey,
    kms_actions.EnableKeyRotation,
    kms_actions.GetKeyPolicy,
    kms_actions.GetKeyRotationStatus,
    kms_actions.ListResourceTags,
    kms_actions.PutKeyPolicy,
    kms_actions.TagResource,
    kms_actions.UntagResource,
    kms_actions.UpdateAlias,
    kms_actions.UpdateKeyDescription,
    kms_actions.ScheduleKeyDeletion,
    kms_actions.CancelKeyDeletion,
    kms_actions.EnableKey,
    kms_actions.DisableKey,
    kms_actions.DisableKeyRotation,
    kms_actions.ListGrants,
    kms_actions.RevokeGrant,
]
KEY_USE_ACTIONS = [
    kms_actions.Encrypt,
    kms_actions.Decrypt,
    kms_actions.ReEncryptFrom,
    kms_actions.ReEncryptTo,
    kms_actions.GenerateDataKey,
    kms_actions.GenerateDataKeyWithoutPlaintext,
    kms_actions.DescribeKey,
]
SERVICE_PUBLISH_ACTIONS = [kms_actions.Decrypt, kms_actions.GenerateDataKey]


@dataclass(frozen=True)
class ArtifactStore:
    key_arn: Exported
    bucket_name: Exported
    bucket_arn: Exported
    log_bucket_name: Exported


def account_root() -> Principal:
    return Principal("AWS", [Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")])


def same_account() -> dict[str, Any]:
    return {"aws:SourceAccount": Ref("AWS::AccountId")}


def account_administers_key() -> Statement:
    return Statement(
        Sid="AccountAdministersKey",
        Effect=Allow,
        Principal=account_root(),
        Action=KEY_ADMIN_ACTIONS,
        Resource=["*"],
    )


def s3_decrypt_for_account() -> Statement:
    """Instances outside the pipeline (CodeDeploy agents) fetch revisions with their own roles,
    which IAM must also allow; the key admits them only through S3 in this account."""
    return Statement(
        Sid="AccountPrincipalsDecryptThroughS3",
        Effect=Allow,
        Principal=account_root(),
        Action=[kms_actions.Decrypt],
        Resource=["*"],
        Condition=Condition(
            StringEquals(
                {
                    "kms:ViaService": Sub("s3.${AWS::Region}.amazonaws.com"),
                    "kms:CallerAccount": Ref("AWS::AccountId"),
                }
            )
        ),
    )


def key_policy(
    names: Names,
    grant_services: Sequence[str] = (),
    decrypt_through_s3: bool = False,
    decrypters: Sequence[Any] = (),
) -> PolicyDocument:
    """Who may use the artifact key.

    The account administers it; this pipeline's roles use it; account principals that IAM
    allows may decrypt through S3 (instance roles fetching revisions); CloudWatch Logs encrypts
    this pipeline's log groups; EventBridge publishes to its encrypted topics (the EventBridge
    guide gives that grant without source conditions), and so do this pipeline's alarms.
    """
    return PolicyDocument(
        Version=POLICY_VERSION,
        Statement=[
            account_administers_key(),
            Statement(
                Sid="PipelineRolesUseKey",
                Effect=Allow,
                Principal=account_root(),
                Action=KEY_USE_ACTIONS,
                Resource=["*"],
                Condition=Condition(
                    ArnLike({"aws:PrincipalArn": role_arn_pattern(names.pipeline)})
                ),
            ),
            *([s3_decrypt_for_account()] if decrypt_through_s3 else []),
            Statement(
                Sid="LogsEncryptPipelineLogGroups",
                Effect=Allow,
                Principal=Principal("Service", [Sub("logs.${AWS::Region}.amazonaws.com")]),
                # DescribeKey carries no encryption context, so the condition could never admit it.
                Action=[a for a in KEY_USE_ACTIONS if a != kms_actions.DescribeKey],
                Resource=["*"],
                Condition=Condition(
                    ArnLike(
                        {
                            "kms:EncryptionContext:aws:logs:arn": [
                                names.log_group_arn(pattern)
                                for pattern in names.log_group_patterns()
                            ]
                        }
                    )
                ),
            ),
            *[service_grants(service) for service in grant_services],
            *([decrypt_for(decrypters)] if decrypters else []),
            Statement(
                Sid="EventBridgePublishesToEncryptedTopics",
                Effect=Allow,
                Principal=Principal("Service", ["events.amazonaws.com"]),
                Action=SERVICE_PUBLISH_ACTIONS,
                Resource=["*"],
            ),
            Statement(
                Sid="PipelineAlarmsPublishToEncryptedTopics",
                Effect=Allow,
                Principal=Principal("Service", ["cloudwatch.amazonaws.com"]),
                Action=SERVICE_PUBLISH_ACTIONS,
                Resource=["*"],
                Condition=Condition(
                    [
                        StringEquals(same_account()),
                        ArnLike({"aws:SourceArn": names.alarm_arn(f"{names.pipeline}-*")}),
                    ]
                ),
            ),
        ],
    )


def decrypt_for(roles: Sequence[Any]) -> Statement:
    """Roles of other accounts (cross-account deploys) read artifacts: decrypt, nothing more."""
    return Statement(
        Sid="TargetAccountRolesDecryptArtifacts",
        Effect=Allow,
        Principal=Principal("AWS", list(roles)),
        Action=[kms_actions.Decrypt],
        Resource=["*"],
    )


def service_grants(service: str) -> Statement:
    """Services such as ECR encrypt with the key through grants that they create as the
    caller; allow exactly that, for AWS resources of this account."""
    return Statement(
        Sid=f"{service.upper()}CreatesGrantsForItsResources",
        Effect=Allow,
        Principal=account_root(),
        Action=[kms_actions.CreateGrant],
        Resource=["*"],
        Condition=Condition(
            [
                StringEquals(
                    {
                        "kms:ViaService": Sub(f"{service}.${{AWS::Region}}.amazonaws.com"),
                        "kms:CallerAccount": Ref("AWS::AccountId"),
                    }
                ),
                Bool({"kms:GrantIsForAWSResource": True}),
            ]
        ),
    )


def artifact_key(
    stack: ChildStack,
    names: Names,
    grant_services: Sequence[str] = (),
    decrypt_through_s3: bool = False,
    decrypters: Sequence[Any] = (),
    key_home: Literal["single-region", "multi-region-primary"] | Any = "single-region",
) -> Any:
    """The artifact key. Cross-region pipelines make it a multi-Region primary and give each
    other region a replica (`key_home` = the primary's ARN): replicas share the key id, so the
    pipeline can name every region's key by ARN, which cross-account actions need."""
    common: dict[str, Any] = {
        "Description": f"Encrypts artifacts, logs and topics of pipeline {names.pipeline}",
        "PendingWindowInDays": 30,
        "KeyPolicy": key_policy(names, grant_services, decrypt_through_s3, decrypters),
        **RETAIN,
    }
    if key_home in ("single-region", "multi-region-primary"):
        multi = {"MultiRegion": True} if key_home == "multi-region-primary" else {}
        key: Any = stack.add(kms.Key("ArtifactKey", EnableKeyRotation=True, **multi, **common))
    else:
        # troposphere types ReplicaKey's policy as a plain dict.
        common["KeyPolicy"] = common["KeyPolicy"].JSONrepr()
        key = stack.add(kms.ReplicaKey("ArtifactKey", PrimaryKeyArn=key_home, **common))
    stack.add(kms.Alias("ArtifactKeyAlias", AliasName=names.key_alias, TargetKeyId=key.ref()))
    return key


def tls_only(bucket: s3.Bucket) -> Statement:
    return Statement(
        Sid="DenyInsecureTransport",
        Effect=Deny,
        Principal=Principal("*"),
        Action=[s3_actions.Action("*")],
        Resource=[GetAtt(bucket, "Arn"), Sub(f"${{{bucket.title}.Arn}}/*")],
        Condition=Condition(Bool({"aws:SecureTransport": False})),
    )


def kms_encryption(key: kms.Key) -> s3.ServerSideEncryptionByDefault:
    return s3.ServerSideEncryptionByDefault(
        SSEAlgorithm="aws:kms", KMSMasterKeyID=GetAtt(key, "Arn")
    )


def hardened_bucket(
    logical_id: str,
    encryption: s3.ServerSideEncryptionByDefault,
    lifecycle: list[s3.LifecycleRule],
    **extra: Any,
) -> s3.Bucket:
    """Versioned, encrypted by default, no public access and no ACLs; retained."""
    return s3.Bucket(
        logical_id,
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        BucketEncryption=s3.BucketEncryption(
            ServerSideEncryptionConfiguration=[
                s3.ServerSideEncryptionRule(
                    BucketKeyEnabled=encryption.properties["SSEAlgorithm"] == "aws:kms",
                    ServerSideEncryptionByDefault=encryption,
                )
            ]
        ),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True,
            BlockPublicPolicy=True,
            IgnorePublicAcls=True,
            RestrictPublicBuckets=True,
        ),
        OwnershipControls=s3.OwnershipControls(
            Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
        ),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=lifecycle),
        **RETAIN,
        **extra,
    )


def expiry_rules(days: int) -> list[s3.LifecycleRule]:
    return [
        s3.LifecycleRule(
            Id="ExpireOldObjects",
            Status="Enabled",
            ExpirationInDays=days,
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=days),
            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7),
        )
    ]


def log_bucket(stack: ChildStack, retention_days: int, bucket_name: Any = None) -> s3.Bucket:
    named = {"BucketName": bucket_name} if bucket_name else {}
    return stack.add(
        hardened_bucket(
            "AccessLogBucket",
            s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256"),
            expiry_rules(retention_days),
            **named,
            Metadata={
                "pipegen": {
                    "exempt": {
                        "access-logging": "This bucket receives the access logs; logging it "
                        "to itself would loop and to another bucket would only move the question.",
                        "sse-kms": "The S3 User Guide (enable-server-access-logging) supports "
                        "only SSE-S3 default encryption on a server-access-log destination.",
                    }
                },
                "checkov": {
                    "skip": [
                        {
                            "id": "CKV_AWS_18",
                            "comment": "Access-log target bucket; it does not log itself.",
                        }
                    ]
                },
            },
        )
    )


def access_logged_bucket(
    logical_id: str,
    key: kms.Key,
    logs: s3.Bucket,
    log_prefix: str,
    retention_days: int,
    bucket_name: Any = None,
    **extra: Any,
) -> s3.Bucket:
    """A hardened bucket encrypted with `key`, logging its access to `logs` under `log_prefix`
    (which `log_bucket_policy` must admit)."""
    named = {"BucketName": bucket_name} if bucket_name else {}
    return hardened_bucket(
        logical_id,
        kms_encryption(key),
        expiry_rules(retention_days),
        **named,
        **extra,
        LoggingConfiguration=s3.LoggingConfiguration(
            DestinationBucketName=logs.ref(), LogFilePrefix=log_prefix
        ),
    )


def artifact_bucket(
    stack: ChildStack,
    key: kms.Key,
    logs: s3.Bucket,
    retention_days: int,
    bucket_name: Any = None,
) -> s3.Bucket:
    return stack.add(
        access_logged_bucket(
            "ArtifactBucket", key, logs, ARTIFACT_LOG_PREFIX, retention_days, bucket_name
        )
    )


def log_bucket_policy(
    stack: ChildStack, logs: s3.Bucket, source: s3.Bucket, log_prefix: str = ARTIFACT_LOG_PREFIX
) -> None:
    """TLS only; S3 delivers `source`'s access logs as the logging service, under `log_prefix`,
    for this account only."""
    stack.add(
        s3.BucketPolicy(
            "AccessLogBucketPolicy",
            Bucket=logs.ref(),
            PolicyDocument=PolicyDocument(
                Version=POLICY_VERSION,
                Statement=[
                    tls_only(logs),
                    Statement(
                        Sid="S3ServerAccessLogDelivery",
                        Effect=Allow,
                        Principal=Principal("Service", ["logging.s3.amazonaws.com"]),
                        Action=[s3_actions.PutObject],
                        Resource=[Sub(f"${{{logs.title}.Arn}}/{log_prefix}*")],
                        Condition=Condition(
                            [
                                ArnLike({"aws:SourceArn": GetAtt(source, "Arn")}),
                                StringEquals(same_account()),
                            ]
                        ),
                    ),
                ],
            ),
        )
    )


def artifact_bucket_policy(
    stack: ChildStack, bucket: s3.Bucket, readers: Sequence[Any] = ()
) -> None:
    """TLS only; roles of other accounts (cross-account deploys) may get artifacts."""
    statements = [tls_only(bucket)]
    if readers:
        statements.append(
            Statement(
                Sid="TargetAccountRolesGetArtifacts",
                Effect=Allow,
                Principal=Principal("AWS", list(readers)),
                Action=[s3_actions.GetObject, s3_actions.GetObjectVersion],
                Resource=[Sub(f"${{{bucket.title}.Arn}}/*")],
            )
        )
    stack.add(
        s3.BucketPolicy(
            "ArtifactBucketPolicy",
            Bucket=bucket.ref(),
            PolicyDocument=PolicyDocument(Version=POLICY_VERSION, Statement=statements),
        )
    )


def artifact_store(
    stack: ChildStack,
    names: Names,
    *,
    retention_days: int,
    log_retention_days: int,
    grant_services: Sequence[str] = (),
    decrypt_through_s3: bool = False,
    decrypters: Sequence[Any] = (),
    bucket_name: Any = None,
    log_bucket_name: Any = None,
    key_home: Any = "single-region",
) -> ArtifactStore:
    """`decrypters`: roles of other accounts that may read artifacts; `bucket_name`: a fixed
    name, for stores the pipeline must find without outputs (regional stores)."""
    key = artifact_key(stack, names, grant_services, decrypt_through_s3, decrypters, key_home)
    logs = log_bucket(stack, log_retention_days, log_bucket_name)
    bucket = artifact_bucket(stack, key, logs, retention_days, bucket_name)
    log_bucket_policy(stack, logs, bucket)
    artifact_bucket_policy(stack, bucket, decrypters)
    return ArtifactStore(
        key_arn=stack.export("ArtifactKeyArn", GetAtt(key, "Arn"), "ARN of the artifact KMS key"),
        bucket_name=stack.export("ArtifactBucketName", bucket.ref(), "Artifact bucket name"),
        bucket_arn=stack.export("ArtifactBucketArn", GetAtt(bucket, "Arn"), "Artifact bucket ARN"),
        log_bucket_name=stack.export("AccessLogBucketName", logs.ref(), "Access-log bucket name"),
    )
