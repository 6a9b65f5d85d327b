"""The scan's allow-list (scan/allowlist.yaml): every accepted checkov skip and parliament finding,
each with its reason. Standard library and PyYAML only (the main test suite imports it too).

Two kinds of entries, in one list under `entries:`:

    - check: CKV_AWS_18               # a checkov check that a resource may skip
      resource_kind: AWS::S3::Bucket  # ... in resources of this CloudFormation type
      reason: why that is right

    - parliament: RESOURCE_MISMATCH   # a parliament issue code
      policy: "*/stacks/iam.yaml#*"   # glob, labels are "<pipeline>/<file>#<LogicalId>[/<part>]"
      resource_kind: AWS::IAM::Policy # optional: only policies held by this type
      sid: LaunchGreenInstances       # optional: glob over the statement's Sid
      actions: [ec2:RunInstances]     # optional: only findings about these actions
      required_format: "arn:*:net/*"  # optional: RESOURCE_MISMATCH, only these missing formats
      detail: "*ArnLike*"             # optional: glob over the finding's detail text
      reason: why parliament is wrong here, or why we accept it
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent / "allowlist.yaml"

CHECKOV_KEYS = {"check", "resource_kind", "reason"}
PARLIAMENT_KEYS = {"parliament", "policy", "resource_kind", "sid", "actions", "required_format"}
PARLIAMENT_KEYS |= {"detail", "reason"}
CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_[0-9]+$")
RESOURCE_KIND = re.compile(r"^[A-Za-z0-9]+::[A-Za-z0-9]+::[A-Za-z0-9]+$")
ISSUE = re.compile(r"^[A-Z][A-Z0-9_]+$")
ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
HOW_TO_ADD = (
    "If the skip is right, add to scan/allowlist.yaml under `entries:`\n"
    "  - check: {check}\n"
    "    resource_kind: {kind}\n"
    "    reason: <why this kind of resource may skip it>\n"
    "and give the resource's Metadata skip a `comment` saying why."
)


class AllowlistError(ValueError):
    """The allow-list file is malformed; `problems` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("scan/allowlist.yaml:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CheckovEntry:
    check: str
    resource_kind: str
    reason: str

    def matches(self, check: str, resource_kind: str) -> bool:
        return self.check == check and self.resource_kind == resource_kind


@dataclass(frozen=True)
class ParliamentEntry:
    issue: str
    policy: str
    reason: str
    resource_kind: str | None = None
    sid: str | None = None
    actions: frozenset[str] | None = None  # lower case
    required_format: str | None = None
    detail: str | None = None

    def covers(
        self,
        issue: str,
        label: str,
        resource_kind: str,
        action: str | None,
        required_format: str | None,
        detail: str,
        sid: str | None = None,
    ) -> bool:
        """Whether this entry accepts one item of a finding (a finding about several actions is
        accepted only when every action is)."""
        if issue != self.issue or not fnmatchcase(label, self.policy):
            return False
        if self.resource_kind is not None and resource_kind != self.resource_kind:
            return False
        if self.sid is not None and (sid is None or not fnmatchcase(sid, self.sid)):
            return False
        if self.actions is not None and (action is None or action.lower() not in self.actions):
            return False
        if self.required_format is not None and (
            required_format is None or not fnmatchcase(required_format, self.required_format)
        ):
            return False
        return self.detail is None or fnmatchcase(detail, self.detail)


@dataclass
class Allowlist:
    checkov: list[CheckovEntry] = field(default_factory=list)
    parliament: list[ParliamentEntry] = field(default_factory=list)

    def checkov_entry(self, check: str, resource_kind: str) -> CheckovEntry | None:
        return next((e for e in self.checkov if e.matches(check, resource_kind)), None)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def parse(data: Any) -> Allowlist:
    """Validate the loaded YAML and build the allow-list; raise AllowlistError listing every
    problem."""
    problems: list[str] = []
    allowlist = Allowlist()
    if not isinstance(data, dict) or set(data) != {"entries"}:
        raise AllowlistError(["the file must be a mapping with one key, `entries:`"])
    entries = data["entries"]
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise AllowlistError(["`entries` must be a list"])
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(entries, start=1):
        where = f"entry {index}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        if not _text(entry.get("reason")):
            problems.append(f"{where}: needs a non-empty `reason`")
        if "check" in entry and "parliament" in entry:
            problems.append(f"{where}: has both `check` and `parliament`; split it in two")
            continue
        if "check" in entry:
            where = f"entry {index} (checkov {entry.get('check')})"
            unknown = set(entry) - CHECKOV_KEYS
            if unknown:
                problems.append(f"{where}: unknown keys {sorted(unknown)}; allowed {CHECKOV_KEYS}")
            check, kind = entry.get("check"), entry.get("resource_kind")
            if not isinstance(check, str) or not CHECK_ID.match(check):
                problems.append(f"{where}: `check` must be a checkov id such as CKV_AWS_18")
            if not isinstance(kind, str) or not RESOURCE_KIND.match(kind):
                problems.append(f"{where}: `resource_kind` must be a type such as AWS::S3::Bucket")
            if isinstance(check, str) and isinstance(kind, str):
                if (check, kind) in seen:
                    problems.append(f"{where}: a second entry for {check} on {kind}")
                seen.add((check, kind))
                allowlist.checkov.append(CheckovEntry(check, kind, str(entry.get("reason"))))
        elif "parliament" in entry:
            where = f"entry {index} (parliament {entry.get('parliament')})"
            unknown = set(entry) - PARLIAMENT_KEYS
            if unknown:
                problems.append(
                    f"{where}: unknown keys {sorted(unknown)}; allowed {sorted(PARLIAMENT_KEYS)}"
                )
            issue, policy = entry.get("parliament"), entry.get("policy")
            if not isinstance(issue, str) or not ISSUE.match(issue):
                problems.append(
                    f"{where}: `parliament` must be an issue code such as RESOURCE_STAR"
                )
            if not _text(policy) or "#" not in str(policy):
                problems.append(
                    f"{where}: `policy` must be a glob over '<pipeline>/<file>#<LogicalId>...'"
                )
            kind = entry.get("resource_kind")
            if kind is not None and (not isinstance(kind, str) or not RESOURCE_KIND.match(kind)):
                problems.append(f"{where}: `resource_kind` must be a type such as AWS::IAM::Policy")
            actions = entry.get("actions")
            if actions is not None and (
                not isinstance(actions, list)
                or not actions
                or not all(isinstance(a, str) and ACTION.match(a) for a in actions)
            ):
                problems.append(
                    f"{where}: `actions` must be a list of actions such as s3:GetObject"
                )
                actions = None
            for key in ("sid", "required_format", "detail"):
                if key in entry and not _text(entry[key]):
                    problems.append(f"{where}: `{key}` must be a non-empty glob")
            allowlist.parliament.append(
                ParliamentEntry(
                    issue=str(issue),
                    policy=str(policy),
                    reason=str(entry.get("reason")),
                    resource_kind=kind if isinstance(kind, str) else None,
                    sid=entry.get("sid"),
                    actions=frozenset(a.lower() for a in actions) if actions else None,
                    required_format=entry.get("required_format"),
                    detail=entry.get("detail"),
                )
            )
        else:
            problems.append(f"{where}: needs `check` (checkov) or `parliament` (an issue code)")
    if problems:
        raise AllowlistError(problems)
    return allowlist


def load(path: Path = DEFAULT_PATH) -> Allowlist:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise AllowlistError([f"cannot read {path}: {error}"]) from error
    return parse(data)
