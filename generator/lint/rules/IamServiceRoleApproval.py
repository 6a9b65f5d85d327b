"""E9005: no role that an AWS service assumes may approve a manual approval."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import (
    IDENTITY,
    MISSING,
    TRUST,
    UNKNOWN,
    PathT,
    Statement,
    action_matches,
    alternatives,
    items,
    lookup,
    resources_of,
    statements,
)

APPROVE = "codepipeline:PutApprovalResult"
# AWS managed policies that allow it: '*', NotAction without codepipeline, 'codepipeline:*',
# or the action itself (AWSCodePipelineApproverAccess).
APPROVING_MANAGED_POLICIES = (
    "AdministratorAccess",
    "PowerUserAccess",
    "AWSCodePipeline_FullAccess",
    "AWSCodePipelineFullAccess",
    "AWSCodePipelineApproverAccess",
)
MANAGED_POLICY_ARN = re.compile(r"^arn:[^:]+:iam::aws:policy/(?:[^:]*/)?([^/:]+)$")
# Policies attached to roles from outside the role: where each names its roles.
ATTACHED_POLICIES = {
    "AWS::IAM::Policy": "Roles",
    "AWS::IAM::ManagedPolicy": "Roles",
    "AWS::IAM::RolePolicy": "RoleName",
}


def services(cfn: Any, role: str) -> list[str]:
    """The service principals the role's trust policy allows (`a service` where an intrinsic
    function names one); empty for a role no service assumes."""
    found: list[str] = []
    for statement in statements(cfn, TRUST):
        if statement.resource != role or not statement.is_allow():
            continue
        for value, where in lookup(statement.body, statement.path, "Principal", "Service"):
            if value is MISSING:
                continue
            if value is UNKNOWN:
                found.append("a service")
                continue
            for entry, _ in items(value, where):
                found.append(entry if isinstance(entry, str) else "a service")
    return list(dict.fromkeys(found))


def refers_to(value: Any, path: PathT, logical_id: str, role_name: Any) -> bool:
    """Whether a Roles entry (or RoleName) names the role: `Ref` to it, or its literal name."""
    for entry, _ in alternatives(value, path):
        if isinstance(entry, Mapping) and entry.get("Ref") == logical_id and len(entry) == 1:
            return True
        if isinstance(role_name, str) and entry == role_name:
            return True
    return False


def attached_to(cfn: Any, logical_id: str, properties: Mapping[str, Any], base: PathT) -> set[str]:
    """Logical ids of the template's policies that apply to the role: those naming it in Roles
    or RoleName, and managed policies its ManagedPolicyArns refer to."""
    role_name = properties.get("RoleName")
    found = set()
    for name, resource, policy, where in resources_of(cfn, *ATTACHED_POLICIES):
        key = ATTACHED_POLICIES[str(resource.get("Type"))]
        if key not in policy:
            continue
        if key == "RoleName":
            if refers_to(policy[key], [*where, key], logical_id, role_name):
                found.add(name)
            continue
        for value, at in alternatives(policy[key], [*where, key]):
            entries = value if isinstance(value, list) else []
            if any(refers_to(e, [*at, i], logical_id, role_name) for i, e in enumerate(entries)):
                found.add(name)
    for value, at in alternatives(properties.get("ManagedPolicyArns", MISSING), base):
        for index, entry in enumerate(value if isinstance(value, list) else []):
            for item, _ in alternatives(entry, [*at, index]):
                if isinstance(item, Mapping) and set(item) == {"Ref"}:
                    found.add(str(item["Ref"]))
    return found


def aws_managed(properties: Mapping[str, Any], base: PathT) -> Iterator[tuple[str, PathT]]:
    """(name, path) of each approving AWS managed policy in ManagedPolicyArns."""
    arns = properties.get("ManagedPolicyArns", MISSING)
    for value, at in alternatives(arns, [*base, "ManagedPolicyArns"]):
        for index, entry in enumerate(value if isinstance(value, list) else []):
            for item, spot in alternatives(entry, [*at, index]):
                text = item.get("Fn::Sub") if isinstance(item, Mapping) else item
                if not isinstance(text, str):
                    continue
                found = MANAGED_POLICY_ARN.match(text.replace("${AWS::Partition}", "aws"))
                if found and found.group(1) in APPROVING_MANAGED_POLICIES:
                    yield found.group(1), spot


def how(statement: Statement) -> tuple[PathT, str]:
    """Where the statement grants the action, and through what."""
    if "NotAction" in statement.body:
        return [*statement.path, "NotAction"], "NotAction"
    for entry, path in statement.entries("Action"):
        if isinstance(entry, str) and action_matches(entry, APPROVE):
            return path, repr(entry)
    return statement.path, "its actions"


class IamServiceRoleApproval(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9005"
    shortdesc = "Roles that AWS services assume cannot approve manual approvals"
    description = (
        "An AWS::IAM::Role whose trust policy allows an AWS service principal (codepipeline, "
        "codebuild, cloudformation, lambda, codedeploy, events, ...) must not be allowed "
        "codepipeline:PutApprovalResult: not in its inline policies, not in an AWS::IAM::Policy, "
        "ManagedPolicy or RolePolicy attached to it, not through a wildcard ('*', "
        "'codepipeline:*', 'codepipeline:Put*') or NotAction, and not through an AWS managed "
        "policy that grants it (AdministratorAccess, PowerUserAccess, AWSCodePipeline_FullAccess, "
        "AWSCodePipelineFullAccess, AWSCodePipelineApproverAccess). A manual approval is a "
        "person's decision: a role the pipeline or another service runs as could approve its "
        "own gates."
    )
    source_url = (
        "https://docs.aws.amazon.com/codepipeline/latest/userguide/approvals-iam-permissions.html"
    )
    tags = ["pipegen", "guardrail", "iam", "approval", "separation-of-duties"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        by_policy: dict[str, list[Statement]] = {}
        for statement in statements(cfn, IDENTITY):
            by_policy.setdefault(statement.resource, []).append(statement)
        found: dict[tuple[Any, ...], tuple[PathT, str, list[str]]] = {}
        for role, _, properties, base in resources_of(cfn, "AWS::IAM::Role"):
            trusted = services(cfn, role)
            if not trusted:
                continue
            label = f"{role} (assumed by {', '.join(trusted)})"
            for policy in sorted({role, *attached_to(cfn, role, properties, base)}):
                for statement in by_policy.get(policy, []):
                    if not statement.is_allow() or statement.grants(APPROVE) is not True:
                        continue
                    path, via = how(statement)
                    entry = found.setdefault(tuple(path), (path, f"through {via}", []))
                    entry[2].append(label)
            for name, path in aws_managed(properties, base):
                entry = found.setdefault(tuple(path), (path, f"through the AWS managed {name}", []))
                entry[2].append(label)
        return [
            RuleMatch(
                path,
                f"{' and '.join(dict.fromkeys(roles))} may approve manual approvals: "
                f"codepipeline:PutApprovalResult is allowed {via}. A role a service runs as "
                "must never approve a gate; remove the action or narrow the wildcard",
            )
            for path, via, roles in found.values()
        ]
