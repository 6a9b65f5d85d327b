"""Grants several roles share, as (sid, actions, resources) ready for `RoleBuilder.allow`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from awacs import kms as kms_actions
from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs.aws import Action
from troposphere import Sub

from generator.naming import Names

Grant = tuple[str, Sequence[Action], Sequence[Any]]
# A grant that also carries a Condition, for `RoleBuilder.allow(*grant)`.
ConditionalGrant = tuple[str, Sequence[Action], Sequence[Any], Any]


def _objects(bucket_arn: Any) -> Any:
    return Sub("${Bucket}/*", Bucket=bucket_arn)


def artifact_read(bucket_arn: Any) -> Grant:
    return (
        "ReadArtifacts",
        [
            s3_actions.GetObject,
            s3_actions.GetObjectVersion,
            s3_actions.GetBucketLocation,
            s3_actions.GetBucketVersioning,
            s3_actions.ListBucket,
        ],
        [bucket_arn, _objects(bucket_arn)],
    )


def artifact_write(bucket_arn: Any, prefixes: Sequence[str] = ("*",)) -> Grant:
    """PutObject in the artifact bucket, under `prefixes` (patterns like 'reports/x/*')."""
    resources = [Sub(f"${{Bucket}}/{prefix}", Bucket=bucket_arn) for prefix in prefixes]
    return ("WriteArtifacts", [s3_actions.PutObject], resources)


def key_use(key_arn: Any) -> Grant:
    return (
        "UseArtifactKey",
        [
            kms_actions.Decrypt,
            kms_actions.Encrypt,
            kms_actions.GenerateDataKey,
            kms_actions.ReEncryptFrom,
            kms_actions.ReEncryptTo,
            kms_actions.DescribeKey,
        ],
        [key_arn],
    )


def write_logs(names: Names, log_group: str) -> Grant:
    return (
        "WriteOwnLogs",
        [logs_actions.CreateLogStream, logs_actions.PutLogEvents],
        [names.log_group_arn(log_group), names.log_stream_arn(log_group)],
    )


def managed_compute_logs(names: Names) -> tuple[Grant, Grant]:
    """CodePipeline-managed compute (EKS, InspectorScan) may create its group, then write."""
    log_group = names.pipeline_log_group()
    return (
        ("CreateActionLogGroup", [logs_actions.CreateLogGroup], [names.log_group_arn(log_group)]),
        write_logs(names, log_group),
    )


def key_decrypt(key_arn: Any) -> Grant:
    return ("DecryptArtifacts", [kms_actions.Decrypt, kms_actions.DescribeKey], [key_arn])
