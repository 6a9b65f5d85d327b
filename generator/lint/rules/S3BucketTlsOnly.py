"""E9104: every bucket has a bucket policy in the same template that denies plain HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import (
    RESOURCE,
    Statement,
    is_false,
    items,
    principal_entries,
    resources_of,
    statements,
)


def denies_plain_http(statement: Statement) -> bool:
    """Deny of s3:* (or *) to everyone when aws:SecureTransport is false, unconditionally."""
    if statement.conditional or not statement.is_deny():
        return False
    if not any(p == "*" for p, _ in principal_entries(statement)):
        return False
    if not any(
        isinstance(a, str) and a.lower() in ("*", "s3:*") for a, _ in statement.entries("Action")
    ):
        return False
    condition = statement.body.get("Condition")
    if not isinstance(condition, Mapping):
        return False
    for operator in ("Bool", "BoolIfExists"):
        block = condition.get(operator)
        if not isinstance(block, Mapping):
            continue
        for key, value in block.items():
            if str(key).lower() == "aws:securetransport":
                values = [v for v, _ in items(value, [])]
                if values and all(is_false(v) for v in values):
                    return True
    return False


def bucket_of(policy: Mapping[str, Any], names: Mapping[str, str]) -> str | None:
    """The logical id of the bucket a bucket policy is for, when the template says."""
    bucket = policy.get("Bucket")
    if isinstance(bucket, Mapping) and isinstance(bucket.get("Ref"), str) and len(bucket) == 1:
        return str(bucket["Ref"])
    if isinstance(bucket, str):
        return names.get(bucket)
    return None


class S3BucketTlsOnly(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9104"
    shortdesc = "S3 buckets have a bucket policy that denies requests without TLS"
    description = (
        "Every AWS::S3::Bucket has an AWS::S3::BucketPolicy in the same template (Bucket: Ref "
        "to it, or its literal BucketName) with an unconditional statement that denies 's3:*' "
        "to Principal '*' when aws:SecureTransport is false (Bool)."
    )
    source_url = (
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html#transit"
    )
    tags = ["pipegen", "guardrail", "s3", "encryption-in-transit"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        buckets = {name: base for name, _, _, base in resources_of(cfn, "AWS::S3::Bucket")}
        literal_names = {
            str(properties["BucketName"]): name
            for name, _, properties, _ in resources_of(cfn, "AWS::S3::Bucket")
            if isinstance(properties.get("BucketName"), str)
        }
        policies = {
            name: bucket_of(properties, literal_names)
            for name, _, properties, _ in resources_of(cfn, "AWS::S3::BucketPolicy")
        }
        protected = {
            policies[s.resource]
            for s in statements(cfn, RESOURCE)
            if s.resource_type == "AWS::S3::BucketPolicy" and denies_plain_http(s)
        }
        return [
            RuleMatch(
                ["Resources", name],
                "Bucket has no bucket policy in this template that denies requests over plain "
                "HTTP (Deny 's3:*' to '*' when aws:SecureTransport is false)",
            )
            for name in buckets
            if name not in protected
        ]
