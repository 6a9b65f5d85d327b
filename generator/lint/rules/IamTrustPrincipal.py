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
        "':root') are flagged; other intrinsic values cannot be known and are accepted."
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
            for principal, path in principal_entries(statement):
                found = problem(principal)
                if found:
                    matches.append(
                        RuleMatch(path, f"The role {found}; trust a specific role ARN instead")
                    )
        return matches
