"""E9105: every bucket logs access, but the access-log bucket with a recorded reason."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import (
    MISSING,
    exemption,
    has_empty_exemption,
    lookup,
    resources_of,
)

CHECK = "access-logging"


class S3BucketAccessLogging(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9105"
    shortdesc = "S3 buckets have server access logging (LoggingConfiguration)"
    description = (
        "Every AWS::S3::Bucket sets LoggingConfiguration. The bucket that receives the access "
        "logs is exempt only with a reason in Metadata: pipegen.exempt.access-logging: "
        "<reason> (an empty reason does not count)."
    )
    source_url = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerLogs.html"
    tags = ["pipegen", "guardrail", "s3", "logging"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for _, resource, properties, base in resources_of(cfn, "AWS::S3::Bucket"):
            if exemption(resource, CHECK):
                continue
            hint = (
                " (its pipegen.exempt.access-logging exemption has no reason)"
                if has_empty_exemption(resource, CHECK)
                else ""
            )
            for config, path in lookup(properties, base, "LoggingConfiguration"):
                if config is MISSING:
                    matches.append(
                        RuleMatch(
                            path, f"Bucket has no access logging: set LoggingConfiguration{hint}"
                        )
                    )
        return matches
