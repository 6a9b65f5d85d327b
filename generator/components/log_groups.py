"""Log groups: always KMS-encrypted with the pipeline's key, with retention, kept on delete."""

from __future__ import annotations

from typing import Any

from troposphere import logs

from generator.assembly.stack import ChildStack
from generator.components.artifact_store import RETAIN


def encrypted_log_group(
    stack: ChildStack, logical_id: str, name: str, key_arn: Any, days: int
) -> logs.LogGroup:
    """The key policy admits CloudWatch Logs only for this pipeline's names
    (`Names.log_group_patterns`), so `name` must match one of them."""
    return stack.add(
        logs.LogGroup(
            logical_id, LogGroupName=name, KmsKeyId=key_arn, RetentionInDays=days, **RETAIN
        )
    )
