"""E9301: every SNS topic is encrypted with a KMS key."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, lookup, resources_of


class SnsTopicEncryption(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9301"
    shortdesc = "SNS topics have KmsMasterKeyId"
    description = "Every AWS::SNS::Topic sets KmsMasterKeyId (server-side encryption)."
    source_url = "https://docs.aws.amazon.com/sns/latest/dg/sns-server-side-encryption.html"
    tags = ["pipegen", "guardrail", "sns", "encryption"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for _, _, properties, base in resources_of(cfn, "AWS::SNS::Topic"):
            for value, path in lookup(properties, base, "KmsMasterKeyId"):
                if value is MISSING or value == "":
                    matches.append(RuleMatch(path, "Topic is not encrypted: set KmsMasterKeyId"))
        return matches
