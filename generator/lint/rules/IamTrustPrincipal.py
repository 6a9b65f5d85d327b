"""E9004: a role trusts other AWS principals only as roles, never as whole accounts."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import (
    ACCOUNT_ID,
    ROLE_ARN,
    ROOT_ARN,
    TRUST,
    builds_account_root,
    is_intrinsic,
    principal_entries,
    statements,
)

# Condition operators that pin the caller to exact ARNs.
PINNING_OPERATORS = ("ArnEquals", "ArnLike", "StringEquals", "StringLike")


def pinned_to_roles(condition: Any) -> bool:
    """True when the statement admits only callers whose aws:PrincipalArn is one of named
    role ARNs (no wildcard account). An account principal is then only the carrier: IAM
    refuses a role principal that does not exist yet, so roles created before the role they
    trust (cross-account deploys) must be written this way."""
    if not isinstance(condition, dict):
        return False
    for operator in PINNING_OPERATORS:
        block = condition.get(operator)
        if not isinstance(block, dict):
            continue
        for key, value in block.items():
            if key.lower() != "aws:principalarn":
                continue
            values = value if isinstance(value, list) else [value]
            if values and all(_names_a_role(v) for v in values):
                return True
    return False


def _names_a_role(value: Any) -> bool:
    text = value.get("Fn::Sub") if isinstance(value, dict) else value
    if isinstance(text, list):
        text = text[0] if text else None
    if not isinstance(text, str) or ":role/" not in text:
        return False
    account = text.split(":iam::", 1)[-1].split(":", 1)[0]
    return "*" not in account and "?" not in account


def problem(principal: Any) -> str | None:
    if principal == "*":
        return "trusts every AWS principal ('*')"
    if is_intrinsic(principal):
        if builds_account_root(principal):
            return "trusts a whole account (the value builds an account root or id)"
        return None  # cannot be known here: accepted
    if not isinstance(principal, str):
        return None
    if ACCOUNT_ID.match(principal) or ROOT_ARN.match(principal):
        return f"trusts the whole account {principal!r}"
    if not ROLE_ARN.match(principal):
        return f"trusts {principal!r}, which is not a role ARN"
    return None


class IamTrustPrincipal(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9004"
    shortdesc = "Trust policies name AWS principals as role ARNs, never accounts or '*'"
    description = (
        "In an AWS::IAM::Role AssumeRolePolicyDocument, an Allow statement's AWS principal "
        "must be a role ARN (arn:<partition>:iam::<account>:role/<name>). An account root "
        "(arn:...:iam::<account>:root), a bare account id or '*' lets every principal that "
        "account allows assume the role; NotPrincipal with Allow is flagged too. Intrinsic "
        "values that clearly build an account (Ref AWS::AccountId, a Sub or Join ending in "
        "':root') are flagged; other intrinsic values cannot be known and are accepted. An "
        "account principal is accepted only when the statement's condition pins "
        "aws:PrincipalArn to named role ARNs (ArnEquals, ArnLike, StringEquals or StringLike "
        "with no wildcard account), which is how a role trusts a role that does not exist yet."
    )
    source_url = (
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
        "reference_policies_elements_principal.html#principal-accounts"
    )
    tags = ["pipegen", "guardrail", "iam", "trust", "cross-account"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for statement in statements(cfn, TRUST):
            if not statement.is_allow():
                continue
            if "NotPrincipal" in statement.body:
                matches.append(
                    RuleMatch(
                        [*statement.path, "NotPrincipal"],
                        "Allow with NotPrincipal trusts every principal it does not name",
                    )
                )
            pinned = pinned_to_roles(statement.body.get("Condition"))
            for principal, path in principal_entries(statement):
                found = problem(principal)
                if found and pinned and "whole account" in found:
                    continue  # the condition admits only the named roles
                if found:
                    matches.append(
                        RuleMatch(path, f"The role {found}; trust a specific role ARN instead")
                    )
        return matches
