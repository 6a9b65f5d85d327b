"""E9001: no Allow statement grants every action, or every action of a service."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import IDENTITY, KEY, RESOURCE, statements


def wildcard(action: str) -> bool:
    """`*`, or `service:*`: the whole of a service (partial patterns such as `s3:Get*` pass)."""
    service, _, name = action.partition(":")
    return action.strip() == "*" or (bool(service) and name.strip() == "*")


class IamWildcardAction(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9001"
    shortdesc = "No Allow statement grants '*' or 'service:*' actions, or uses NotAction"
    description = (
        "Identity policies (role inline policies, AWS::IAM::Policy, ManagedPolicy, RolePolicy, "
        "user and group policies) and resource policies (bucket, key, topic, queue, repository "
        "and secret policies) must list the actions they allow. An Allow of '*' or "
        "'service:*' grants actions that do not exist yet, and Allow with NotAction grants "
        "everything it does not name. Trust policies are checked by E9004."
    )
    source_url = (
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege"
    )
    tags = ["pipegen", "guardrail", "iam", "least-privilege"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for statement in statements(cfn, IDENTITY, RESOURCE, KEY):
            if not statement.is_allow():
                continue
            if "NotAction" in statement.body:
                matches.append(
                    RuleMatch(
                        [*statement.path, "NotAction"],
                        "Allow with NotAction grants every action it does not name; list the "
                        "allowed actions under Action instead",
                    )
                )
            for action, path in statement.entries("Action"):
                if isinstance(action, str) and wildcard(action):
                    what = "every action" if action.strip() == "*" else "every action of service"
                    service = "" if action.strip() == "*" else f" {action.split(':')[0]!r}"
                    matches.append(
                        RuleMatch(
                            path,
                            f"Allow of {action!r} grants {what}{service}; list the actions "
                            "this policy needs",
                        )
                    )
        return matches
