"""E9302: every log group is encrypted with a KMS key."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, lookup, resources_of


class LogGroupEncryption(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9302"
    shortdesc = "Log groups have KmsKeyId"
    description = "Every AWS::Logs::LogGroup sets KmsKeyId."
    source_url = (
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html"
    )
    tags = ["pipegen", "guardrail", "logs", "encryption"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for _, _, properties, base in resources_of(cfn, "AWS::Logs::LogGroup"):
            for value, path in lookup(properties, base, "KmsKeyId"):
                if value is MISSING or value == "":
                    matches.append(RuleMatch(path, "Log group is not encrypted: set KmsKeyId"))
        return matches
