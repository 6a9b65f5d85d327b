"""E9101: every bucket keeps object versions."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, is_known, lookup, resources_of


class S3BucketVersioning(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9101"
    shortdesc = "S3 buckets have versioning Enabled"
    description = (
        "Every AWS::S3::Bucket sets VersioningConfiguration.Status to Enabled, so that an "
        "overwritten or deleted object can be recovered."
    )
    source_url = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html"
    tags = ["pipegen", "guardrail", "s3", "reliability"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for _, _, properties, base in resources_of(cfn, "AWS::S3::Bucket"):
            for status, path in lookup(properties, base, "VersioningConfiguration", "Status"):
                if status is MISSING:
                    matches.append(
                        RuleMatch(
                            path,
                            "Bucket versioning is not enabled: set "
                            "VersioningConfiguration.Status to Enabled",
                        )
                    )
                elif is_known(status) and status != "Enabled":
                    matches.append(
                        RuleMatch(path, f"Bucket versioning is {status!r}; it must be Enabled")
                    )
        return matches
