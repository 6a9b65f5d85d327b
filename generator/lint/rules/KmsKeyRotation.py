"""E9201: every symmetric KMS key rotates its key material."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import MISSING, is_known, is_true, lookup, resources_of


class KmsKeyRotation(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9201"
    shortdesc = "KMS keys have EnableKeyRotation: true"
    description = (
        "Every AWS::KMS::Key sets EnableKeyRotation to true. Keys whose literal KeySpec is not "
        "SYMMETRIC_DEFAULT (asymmetric and HMAC keys) are skipped: KMS cannot rotate them."
    )
    source_url = "https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html"
    tags = ["pipegen", "guardrail", "kms", "encryption"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for _, _, properties, base in resources_of(cfn, "AWS::KMS::Key"):
            spec = properties.get("KeySpec", "SYMMETRIC_DEFAULT")
            if isinstance(spec, str) and spec != "SYMMETRIC_DEFAULT":
                continue
            for value, path in lookup(properties, base, "EnableKeyRotation"):
                if value is MISSING:
                    matches.append(
                        RuleMatch(path, "Key rotation is off: set EnableKeyRotation to true")
                    )
                elif is_known(value) and not is_true(value):
                    matches.append(
                        RuleMatch(path, f"EnableKeyRotation is {value!r}; it must be true")
                    )
        return matches
