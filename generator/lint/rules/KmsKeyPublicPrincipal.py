"""E9202: no key policy allows everyone, with or without a condition."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import KEY, principal_entries, statements


class KmsKeyPublicPrincipal(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9202"
    shortdesc = "KMS key policies never Allow Principal '*'"
    description = (
        "No Allow statement in an AWS::KMS::Key KeyPolicy has Principal '*' or {AWS: '*'} "
        "(conditions do not make it acceptable: name the principals), nor uses NotPrincipal."
    )
    source_url = "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html"
    tags = ["pipegen", "guardrail", "kms", "public-access"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for statement in statements(cfn, KEY):
            if not statement.is_allow():
                continue
            if "NotPrincipal" in statement.body:
                matches.append(
                    RuleMatch(
                        [*statement.path, "NotPrincipal"],
                        "Key policy Allow with NotPrincipal admits every principal it does "
                        "not name",
                    )
                )
            for principal, path in principal_entries(statement):
                if principal == "*":
                    matches.append(
                        RuleMatch(
                            path,
                            "Key policy allows Principal '*'; name the principals "
                            "(a condition does not make '*' acceptable)",
                        )
                    )
        return matches
