"""E9003: iam:PassRole names its roles and the services they may be passed to."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import IDENTITY, condition_keys, statements

PASSED_TO_SERVICE = "iam:passedtoservice"


class IamPassRole(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9003"
    shortdesc = "iam:PassRole has an iam:PassedToService condition and never Resource '*'"
    description = (
        "An Allow statement that grants iam:PassRole (by name, by a wildcard such as 'iam:*', "
        "or through NotAction) must name the roles it passes (no Resource '*') and limit the "
        "services they are passed to with an iam:PassedToService condition (an IfExists or "
        "Null operator does not count)."
    )
    source_url = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html"
    tags = ["pipegen", "guardrail", "iam", "passrole"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for statement in statements(cfn, IDENTITY):
            if not statement.is_allow() or not statement.grants("iam:PassRole"):
                continue
            for resource, path in statement.entries("Resource"):
                if resource == "*":
                    matches.append(
                        RuleMatch(path, "iam:PassRole on '*' can pass any role; name the roles")
                    )
            keys = condition_keys(statement)
            if keys is None:
                continue  # an intrinsic function hides the condition
            limited = any(
                PASSED_TO_SERVICE in names
                for operator, names in keys.items()
                if not operator.endswith("IfExists") and operator != "Null"
            )
            if not limited:
                where = "Condition" if "Condition" in statement.body else None
                matches.append(
                    RuleMatch(
                        [*statement.path, where] if where else statement.path,
                        "iam:PassRole needs an iam:PassedToService condition naming the "
                        "services the roles may be passed to",
                    )
                )
        return matches
