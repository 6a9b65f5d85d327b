"""E9103: every bucket blocks public access with all four flags."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, is_known, is_true, lookup, resources_of

FLAGS = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")


class S3BucketPublicAccessBlock(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9103"
    shortdesc = "S3 buckets set all four PublicAccessBlockConfiguration flags to true"
    description = (
        "Every AWS::S3::Bucket sets BlockPublicAcls, BlockPublicPolicy, IgnorePublicAcls and "
        "RestrictPublicBuckets to true in PublicAccessBlockConfiguration."
    )
    source_url = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html"
    tags = ["pipegen", "guardrail", "s3", "public-access"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for _, _, properties, base in resources_of(cfn, "AWS::S3::Bucket"):
            for config, where in lookup(properties, base, "PublicAccessBlockConfiguration"):
                if config is MISSING:
                    matches.append(
                        RuleMatch(
                            where,
                            "Bucket has no PublicAccessBlockConfiguration; set "
                            f"{', '.join(FLAGS)} to true",
                        )
                    )
                    continue
                for flag in FLAGS:
                    for value, path in lookup(config, where, flag):
                        if value is MISSING:
                            matches.append(RuleMatch(path, f"{flag} is not set; it must be true"))
                        elif is_known(value) and not is_true(value):
                            matches.append(RuleMatch(path, f"{flag} is {value!r}; it must be true"))
        return matches
