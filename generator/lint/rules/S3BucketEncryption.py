"""E9102: buckets encrypt with KMS; an access-log bucket, which cannot, with SSE-S3."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import (
    MISSING,
    UNKNOWN,
    exemption,
    has_empty_exemption,
    is_known,
    items,
    lookup,
    resources_of,
)

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
CHECK = "sse-kms"


class S3BucketEncryption(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9102"
    shortdesc = "S3 buckets use SSE-KMS default encryption (access-log buckets SSE-S3)"
    description = (
        "Every AWS::S3::Bucket sets every ServerSideEncryptionByDefault.SSEAlgorithm to "
        "aws:kms or aws:kms:dsse. A server-access-log destination cannot use SSE-KMS; a bucket "
        "that records so in Metadata (pipegen.exempt.sse-kms: <reason>, not empty) must use "
        "SSE-S3 (AES256) instead."
    )
    source_url = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html"
    tags = ["pipegen", "guardrail", "s3", "encryption"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for _, resource, properties, base in resources_of(cfn, "AWS::S3::Bucket"):
            access_log = exemption(resource, CHECK) is not None
            wanted = ("AES256",) if access_log else KMS_ALGORITHMS
            hint = (
                " (a pipegen.exempt.sse-kms exemption needs a reason)"
                if has_empty_exemption(resource, CHECK)
                else ""
            )
            for rules, where in lookup(
                properties, base, "BucketEncryption", "ServerSideEncryptionConfiguration"
            ):
                if rules is MISSING:
                    matches.append(
                        RuleMatch(
                            where,
                            f"Bucket has no default encryption; set SSEAlgorithm "
                            f"to {' or '.join(wanted)}{hint}",
                        )
                    )
                    continue
                for rule, at in items(rules, where):
                    if rule is UNKNOWN:
                        continue
                    for algorithm, path in lookup(
                        rule, at, "ServerSideEncryptionByDefault", "SSEAlgorithm"
                    ):
                        if algorithm is MISSING or (
                            is_known(algorithm) and algorithm not in wanted
                        ):
                            found = "no SSEAlgorithm" if algorithm is MISSING else repr(algorithm)
                            reason = (
                                "an access-log bucket must use SSE-S3"
                                if access_log
                                else "buckets must use SSE-KMS"
                            )
                            matches.append(
                                RuleMatch(
                                    path,
                                    f"Bucket encryption is {found}: {reason} "
                                    f"({' or '.join(wanted)}){hint}",
                                )
                            )
        return matches
