"""E9002: `Resource: "*"` only for actions that support nothing narrower."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import (
    IDENTITY,
    RESOURCE,
    UNKNOWN,
    statements,
    wildcard_only_actions,
)


class IamWildcardResource(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9002"
    shortdesc = "Resource '*' only for actions that accept nothing else"
    description = (
        "An Allow statement in an identity or resource policy may name Resource '*' only when "
        "every action it allows is in generator/data/wildcard_only_actions.yaml (actions for "
        "which the Service Authorization Reference lists no resource type; compared "
        "case-insensitively). Allow with NotResource is flagged too. KMS key policies are not "
        "checked: there '*' means the key itself."
    )
    source_url = (
        "https://docs.aws.amazon.com/service-authorization/latest/reference/"
        "reference_policies_actions-resources-contextkeys.html"
    )
    tags = ["pipegen", "guardrail", "iam", "least-privilege"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        allowed = wildcard_only_actions()
        for statement in statements(cfn, IDENTITY, RESOURCE):
            if not statement.is_allow():
                continue
            if "NotResource" in statement.body:
                matches.append(
                    RuleMatch(
                        [*statement.path, "NotResource"],
                        "Allow with NotResource applies to every resource it does not name; "
                        "list the resources under Resource instead",
                    )
                )
            stars = [p for r, p in statement.entries("Resource") if r == "*"]
            if not stars:
                continue
            if "NotAction" in statement.body:
                offending = ["NotAction"]
            else:
                actions = [a for a, _ in statement.entries("Action") if a is not UNKNOWN]
                offending = [
                    str(a) for a in actions if not isinstance(a, str) or a.lower() not in allowed
                ]
            if offending:
                listed = ", ".join(repr(a) for a in offending[:5])
                more = f" and {len(offending) - 5} more" if len(offending) > 5 else ""
                for path in stars:
                    matches.append(
                        RuleMatch(
                            path,
                            f"Resource '*' is allowed only for actions that support no resource "
                            f"type (generator/data/wildcard_only_actions.yaml); {listed}{more} "
                            "must name their resources",
                        )
                    )
        return matches
