"""What the guardrail rules share: values seen through intrinsic functions, policy statements,
pipegen's Metadata exemptions and the wildcard allow-list.

Not a rule module: cfn-lint loads only `[A-Za-z1-9]*.py` from a rules directory, so this file
is imported by the rules that need it and never scanned for rules itself. It imports nothing
from cfn-lint, so the lint cache can read `DATA_FILES` without paying for cfn-lint.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

PathT = list[str | int]

WILDCARD_ONLY_ACTIONS = Path(
    str(resources.files("generator.data").joinpath("wildcard_only_actions.yaml"))
)
# The configuration schema of each CodePipeline action provider (the semantics rule E9604).
ACTION_CONFIGURATIONS = Path(
    str(resources.files("generator.data").joinpath("action_configurations.yaml"))
)
# Files the rules read; the lint cache hashes them.
DATA_FILES = (WILDCARD_ONLY_ACTIONS, ACTION_CONFIGURATIONS)


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


MISSING: Any = _Marker("MISSING")  # the key is absent, or `Ref: AWS::NoValue`
UNKNOWN: Any = _Marker("UNKNOWN")  # an intrinsic function hides what is there


def is_intrinsic(value: Any) -> bool:
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    (key,) = value
    return isinstance(key, str) and (key == "Ref" or key == "Condition" or key.startswith("Fn::"))


def is_known(value: Any) -> bool:
    return value is not MISSING and value is not UNKNOWN and not is_intrinsic(value)


def alternatives(value: Any, path: PathT) -> Iterator[tuple[Any, PathT]]:
    """Every value `value` can take: both branches of each `Fn::If` (recursively), with
    `AWS::NoValue` as MISSING. Other intrinsic functions come back as they are."""
    if isinstance(value, Mapping) and len(value) == 1 and "Fn::If" in value:
        args = value["Fn::If"]
        if isinstance(args, list) and len(args) == 3:
            for index in (1, 2):
                yield from alternatives(args[index], [*path, "Fn::If", index])
            return
    if isinstance(value, Mapping) and len(value) == 1 and value.get("Ref") == "AWS::NoValue":
        yield MISSING, path
        return
    yield value, path


def lookup(node: Any, path: PathT, *keys: str) -> Iterator[tuple[Any, PathT]]:
    """`node[k1][k2]...` in every alternative: MISSING with the path of the object that lacks
    the key, UNKNOWN where an intrinsic function stands for an object on the way."""
    for value, where in alternatives(node, path):
        if not keys or value is MISSING:
            yield value, where
        elif not isinstance(value, Mapping) or is_intrinsic(value):
            yield UNKNOWN, where
        elif keys[0] not in value:
            yield MISSING, where
        else:
            yield from lookup(value[keys[0]], [*where, keys[0]], *keys[1:])


def items(value: Any, path: PathT) -> Iterator[tuple[Any, PathT]]:
    """The entries of a list (one string counts as a list of itself), each in every alternative;
    UNKNOWN for an intrinsic function that stands for the whole list or an entry."""
    for alternative, where in alternatives(value, path):
        if alternative is MISSING:
            continue
        if isinstance(alternative, list):
            for index, item in enumerate(alternative):
                for entry, at in alternatives(item, [*where, index]):
                    if entry is not MISSING:
                        yield (UNKNOWN if is_intrinsic(entry) else entry), at
        elif is_intrinsic(alternative):
            yield UNKNOWN, where
        else:
            yield alternative, where


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


def resources_of(cfn: Any, *types: str) -> Iterator[tuple[str, dict[str, Any], Any, PathT]]:
    """(logical id, resource, properties, path of the properties) of each resource of `types`.
    A resource without Properties has `{}`, with the resource's own path."""
    for name, resource in cfn.get_resources(list(types)).items():
        if not isinstance(resource, Mapping):
            continue
        properties = resource.get("Properties")
        if isinstance(properties, Mapping):
            yield str(name), dict(resource), properties, ["Resources", name, "Properties"]
        elif properties is None:
            yield str(name), dict(resource), {}, ["Resources", name]


def exemption(resource: Mapping[str, Any], check: str) -> str | None:
    """The reason recorded in `Metadata: {pipegen: {exempt: {<check>: <reason>}}}`; None when
    there is none. A reason that is empty or not text does not count."""
    metadata = resource.get("Metadata")
    pipegen = metadata.get("pipegen") if isinstance(metadata, Mapping) else None
    exempt = pipegen.get("exempt") if isinstance(pipegen, Mapping) else None
    reason = exempt.get(check) if isinstance(exempt, Mapping) else None
    return reason.strip() if isinstance(reason, str) and reason.strip() else None


def has_empty_exemption(resource: Mapping[str, Any], check: str) -> bool:
    metadata = resource.get("Metadata")
    pipegen = metadata.get("pipegen") if isinstance(metadata, Mapping) else None
    exempt = pipegen.get("exempt") if isinstance(pipegen, Mapping) else None
    return isinstance(exempt, Mapping) and check in exempt and exemption(resource, check) is None


# -- policies -------------------------------------------------------------------------------

IDENTITY, RESOURCE, KEY, TRUST = "identity", "resource", "key", "trust"

# Where each resource type keeps its policy documents, and what kind of policy each is.
# `*` steps into every entry of a list.
POLICY_LOCATIONS: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "AWS::IAM::Role": (
        (("AssumeRolePolicyDocument",), TRUST),
        (("Policies", "*", "PolicyDocument"), IDENTITY),
    ),
    "AWS::IAM::User": ((("Policies", "*", "PolicyDocument"), IDENTITY),),
    "AWS::IAM::Group": ((("Policies", "*", "PolicyDocument"), IDENTITY),),
    "AWS::IAM::Policy": ((("PolicyDocument",), IDENTITY),),
    "AWS::IAM::ManagedPolicy": ((("PolicyDocument",), IDENTITY),),
    "AWS::IAM::RolePolicy": ((("PolicyDocument",), IDENTITY),),
    "AWS::IAM::UserPolicy": ((("PolicyDocument",), IDENTITY),),
    "AWS::IAM::GroupPolicy": ((("PolicyDocument",), IDENTITY),),
    "AWS::S3::BucketPolicy": ((("PolicyDocument",), RESOURCE),),
    "AWS::SNS::TopicPolicy": ((("PolicyDocument",), RESOURCE),),
    "AWS::SQS::QueuePolicy": ((("PolicyDocument",), RESOURCE),),
    "AWS::ECR::Repository": ((("RepositoryPolicyText",), RESOURCE),),
    "AWS::SecretsManager::ResourcePolicy": ((("ResourcePolicy",), RESOURCE),),
    "AWS::KMS::Key": ((("KeyPolicy",), KEY),),
    "AWS::KMS::ReplicaKey": ((("KeyPolicy",), KEY),),
}


@dataclass(frozen=True)
class Statement:
    resource: str  # logical id of the resource that holds the policy
    resource_type: str
    kind: str  # IDENTITY, RESOURCE, KEY or TRUST
    body: Mapping[str, Any]
    path: PathT
    conditional: bool  # reached through an Fn::If, so it may not be there

    def is_allow(self) -> bool:
        return self.body.get("Effect") == "Allow"

    def is_deny(self) -> bool:
        return self.body.get("Effect") == "Deny"

    def entries(self, key: str) -> Iterator[tuple[Any, PathT]]:
        """The entries of Action, NotAction, Resource or NotResource (UNKNOWN for intrinsics)."""
        if key in self.body:
            yield from items(self.body[key], [*self.path, key])

    def grants(self, action: str) -> bool | None:
        """Whether this statement's actions cover `action` (wildcards and NotAction included);
        None when an intrinsic function hides an action that could."""
        wanted = action.lower()
        if "NotAction" in self.body:
            excluded = list(self.entries("NotAction"))
            if any(e is UNKNOWN for e, _ in excluded):
                return None
            return not any(isinstance(e, str) and action_matches(e, wanted) for e, _ in excluded)
        unknown = False
        for entry, _ in self.entries("Action"):
            if entry is UNKNOWN:
                unknown = True
            elif isinstance(entry, str) and action_matches(entry, wanted):
                return True
        return None if unknown else False


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, `*` and `?` as wildcards."""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _documents(value: Any, path: PathT, steps: tuple[str, ...]) -> Iterator[tuple[Any, PathT]]:
    if not steps:
        yield from alternatives(value, path)
        return
    step, rest = steps[0], steps[1:]
    if step == "*":
        for entry, where in items(value, path):
            if entry is not UNKNOWN:
                yield from _documents(entry, where, rest)
        return
    for found, where in lookup(value, path, step):
        if found is not MISSING and found is not UNKNOWN:
            yield from _documents(found, where, rest)


def statements(cfn: Any, *kinds: str) -> Iterator[Statement]:
    """Every statement of every policy of the given kinds in the template."""
    types = [t for t, places in POLICY_LOCATIONS.items() if any(k in kinds for _, k in places)]
    for name, resource, properties, base in resources_of(cfn, *types):
        resource_type = str(resource.get("Type"))
        for steps, kind in POLICY_LOCATIONS[resource_type]:
            if kind not in kinds:
                continue
            for document, where in _documents(properties, base, steps):
                if isinstance(document, str):
                    try:
                        document = json.loads(document)
                    except ValueError:
                        continue
                if not isinstance(document, Mapping) or is_intrinsic(document):
                    continue
                for body, at in items(document.get("Statement", MISSING), [*where, "Statement"]):
                    if isinstance(body, Mapping) and not is_intrinsic(body):
                        conditional = "Fn::If" in at
                        yield Statement(name, resource_type, kind, body, at, conditional)


def principal_entries(statement: Statement, key: str = "Principal") -> Iterator[tuple[Any, PathT]]:
    """(value, path) of each principal that `Principal` (or `NotPrincipal`) names as AWS:
    `"*"` for the bare wildcard, then each `AWS` entry; intrinsic functions come as they are."""
    if key not in statement.body:
        return
    for principal, where in alternatives(statement.body[key], [*statement.path, key]):
        if principal == "*":
            yield "*", where
        elif isinstance(principal, Mapping) and not is_intrinsic(principal) and "AWS" in principal:
            for value, at in alternatives(principal["AWS"], [*where, "AWS"]):
                if isinstance(value, list):
                    for index, item in enumerate(value):
                        for entry, spot in alternatives(item, [*at, index]):
                            if entry is not MISSING:
                                yield entry, spot
                elif value is not MISSING:
                    yield value, at


def condition_keys(statement: Statement) -> dict[str, set[str]] | None:
    """Condition operator -> its keys (lower case); None when an intrinsic hides them."""
    condition = statement.body.get("Condition")
    if condition is None:
        return {}
    if not isinstance(condition, Mapping) or is_intrinsic(condition):
        return None
    found: dict[str, set[str]] = {}
    for operator, block in condition.items():
        if not isinstance(block, Mapping) or is_intrinsic(block):
            return None
        found[str(operator)] = {str(key).lower() for key in block}
    return found


@cache
def wildcard_only_actions() -> frozenset[str]:
    """Actions that accept only `Resource: "*"` (lower case), from generator/data."""
    data = yaml.safe_load(WILDCARD_ONLY_ACTIONS.read_text())
    return frozenset(str(action).lower() for action in data or {})


# -- principals ------------------------------------------------------------------------------

ACCOUNT_ID = re.compile(r"^\d{12}$")
ROOT_ARN = re.compile(r"^arn:[^:]*:iam::[^:]*:root$")
ROLE_ARN = re.compile(r"^arn:[^:]+:iam::(\d{12}|\$\{[^}]+\}):role/.+$")


def builds_account_root(value: Any) -> bool:
    """Whether an intrinsic function clearly yields an account (its root principal)."""
    if not is_intrinsic(value):
        return False
    ((function, args),) = value.items()
    if function == "Ref":
        return bool(args == "AWS::AccountId")
    if function == "Fn::Sub":
        text = args[0] if isinstance(args, list) and args else args
        return isinstance(text, str) and (
            text.endswith(":root") or text.strip() == "${AWS::AccountId}"
        )
    if function == "Fn::Join" and isinstance(args, list) and len(args) == 2:
        delimiter, parts = args
        if not isinstance(delimiter, str) or not isinstance(parts, list) or not parts:
            return False
        last = parts[-1]
        if builds_account_root(last):
            return True
        tail = (delimiter if len(parts) > 1 else "") + last if isinstance(last, str) else ""
        return tail.endswith(":root")
    return False
