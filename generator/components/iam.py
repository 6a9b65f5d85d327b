"""Least-privilege roles built from awacs action constants.

`RoleBuilder` enforces the house rules while the policy is written, so a blueprint cannot emit
a violation: no wildcard actions, `Resource: "*"` only for actions on the allow-list (and then
in a policy of their own), and `iam:PassRole` only with an `iam:PassedToService` condition.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml
from awacs.aws import Action, Allow, Condition, PolicyDocument, Principal, Statement
from troposphere import GetAtt, Sub, iam

from generator.assembly.stack import ChildStack
from generator.errors import AssemblyError
from generator.limits import MAX_MANAGED_POLICIES_PER_ROLE

POLICY_VERSION = "2012-10-17"
# IAM counts a managed policy without white space, at most 6,144 characters; stay 15% below, as
# generator/limits.py does: intrinsic functions grow when CloudFormation resolves them.
POLICY_CHARACTERS = 5_200
MAX_MANAGED_POLICIES = MAX_MANAGED_POLICIES_PER_ROLE  # IAM's default quota
Statements = list[dict[str, Any]]  # policy statements as plain JSON


@cache
def wildcard_only_actions() -> dict[str, str]:
    """Action -> the reason AWS accepts nothing narrower than `*` for it."""
    text = resources.files("generator.data").joinpath("wildcard_only_actions.yaml").read_text()
    return dict(yaml.safe_load(text))


def action_name(action: Action) -> str:
    return str(action.JSONrepr())


def self_update_role_path(pipeline: str) -> str:
    """The self-update stack role's path: outside `role_path`, whose roles it may manage, so
    that it cannot change itself."""
    return f"/pipegen-self-update/{pipeline}/"


def role_path(pipeline: str) -> str:
    """Every role of a pipeline shares this path, so key policies can admit them all by ARN
    pattern without naming roles that do not exist yet (which would create a cycle)."""
    return f"/pipegen/{pipeline}/"


def named_role_arn(pipeline: str, name: str, account: str | None = None) -> Sub:
    """The ARN of a role with a fixed name under the pipeline's path, in `account` (default:
    this stack's)."""
    who = account or "${AWS::AccountId}"
    return Sub(f"arn:${{AWS::Partition}}:iam::{who}:role{role_path(pipeline)}{name}")


def role_arn_pattern(pipeline: str) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{role_path(pipeline)}*")


@dataclass
class Grant:
    sid: str
    actions: list[Action]
    resources: list[Any]
    condition: Condition | None = None

    def statement(self) -> Statement:
        props: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": Allow,
            "Action": self.actions,
            "Resource": self.resources,
        }
        if self.condition is not None:
            props["Condition"] = self.condition
        return Statement(**props)


@dataclass
class RoleBuilder:
    """Collects grants for one role and emits the role plus its policies into a stack."""

    logical_id: str
    description: str
    trust: Principal
    pipeline: str
    grants: list[Grant] = field(default_factory=list)
    trust_condition: Condition | None = None
    role_name: str | None = None  # only where another account must know the ARN in advance
    path: str | None = None  # default: the pipeline's role path

    def allow(
        self,
        sid: str,
        actions: Sequence[Action],
        resources: Sequence[Any],
        condition: Condition | None = None,
    ) -> RoleBuilder:
        names = [action_name(a) for a in actions]
        lowered = [n.lower() for n in names]  # IAM action names are case-insensitive
        if not actions or not resources:
            raise AssemblyError(f"{self.logical_id}.{sid}: a grant needs actions and resources")
        for name in names:
            if "*" in name:
                raise AssemblyError(f"{self.logical_id}.{sid}: wildcard action {name}")
        if list(resources) == ["*"]:
            allowed = {a.lower() for a in wildcard_only_actions()}
            unknown = [n for n in names if n.lower() not in allowed]
            if unknown:
                raise AssemblyError(
                    f"{self.logical_id}.{sid}: Resource '*' for {', '.join(unknown)}, which "
                    "accept narrower resources; scope them to ARNs"
                )
        elif "*" in resources:
            raise AssemblyError(f"{self.logical_id}.{sid}: mixes '*' with ARNs")
        if "iam:passrole" in lowered:
            passed_to = condition.JSONrepr() if condition is not None else {}
            if "iam:PassedToService" not in str(passed_to):
                raise AssemblyError(
                    f"{self.logical_id}.{sid}: iam:PassRole needs an iam:PassedToService condition"
                )
        self.grants.append(Grant(sid, list(actions), list(resources), condition))
        return self

    def build(self, stack: ChildStack) -> Any:
        """Add the role and its policies to `stack`; returns the role's ARN expression."""
        trust = Statement(
            Effect=Allow,
            Principal=self.trust,
            Action=[Action("sts", "AssumeRole")],
            **({"Condition": self.trust_condition} if self.trust_condition else {}),
        )
        props: dict[str, Any] = {}
        if self.role_name is not None:
            props["RoleName"] = self.role_name
        role = stack.add(
            iam.Role(
                self.logical_id,
                Description=self.description,
                Path=self.path or role_path(self.pipeline),
                AssumeRolePolicyDocument=PolicyDocument(Version=POLICY_VERSION, Statement=[trust]),
                MaxSessionDuration=3600,
                **props,
            )
        )
        scoped = [g for g in self.grants if g.resources != ["*"]]
        wildcard_only = [g for g in self.grants if g.resources == ["*"]]
        for suffix, grants in (("Policy", scoped), ("WildcardOnlyPolicy", wildcard_only)):
            if not grants:
                continue
            stack.add(
                iam.PolicyType(
                    f"{self.logical_id}{suffix}",
                    PolicyName=f"{self.logical_id}{suffix}",
                    Roles=[role.ref()],
                    PolicyDocument=PolicyDocument(
                        Version=POLICY_VERSION, Statement=[g.statement() for g in grants]
                    ),
                )
            )
        return GetAtt(role, "Arn")


def action_role(
    logical_id: str, description: str, pipeline: str, pipeline_role: Any
) -> RoleBuilder:
    """A role that only the pipeline's own role may assume, to run one action."""
    return RoleBuilder(
        logical_id=logical_id,
        description=description,
        trust=Principal("AWS", [pipeline_role]),
        pipeline=pipeline,
    )


def service(name: str) -> Principal:
    return Principal("Service", [f"{name}.amazonaws.com"])


def _characters(statements: Statements) -> int:
    document = {"Version": POLICY_VERSION, "Statement": statements}
    return len(json.dumps(document, separators=(",", ":")))


def policy_chunks(statements: Statements, role: str) -> list[Statements]:
    """Statements packed in order into documents IAM accepts as managed policies (`role` names
    the role in the error)."""
    chunks: list[Statements] = []
    for statement in statements:
        candidate = [*(chunks[-1] if chunks else []), statement]
        if chunks and _characters(candidate) <= POLICY_CHARACTERS:
            chunks[-1] = candidate
        else:
            if _characters([statement]) > POLICY_CHARACTERS:
                raise AssemblyError(f"{role} statement {statement['Sid']} is too large")
            chunks.append([statement])
    return chunks


def managed_policy_documents(
    pipeline: str, role: str, policy_id: str, scoped: Statements, wildcard_only: Statements
) -> list[tuple[str, Statements]]:
    """The managed policies (logical id, statements) that give `role` of `pipeline` its
    statements: the scoped ones packed into `<policy_id>Policy<n>`, the wildcard-only ones in
    `<policy_id>WildcardOnlyPolicy`, at most as many as IAM attaches to a role."""
    chunks = policy_chunks(scoped, role)
    documents = [(f"{policy_id}Policy{i}", chunk) for i, chunk in enumerate(chunks, 1)]
    if wildcard_only:
        documents.append((f"{policy_id}WildcardOnlyPolicy", wildcard_only))
    if len(documents) > MAX_MANAGED_POLICIES:
        raise AssemblyError(
            f"{pipeline}: the {role} needs {len(documents)} managed policies, "
            f"more than the {MAX_MANAGED_POLICIES} IAM attaches to a role"
        )
    return documents
