"""`pipegen diff` and `pipegen check`: what a fresh build would change in output/, semantically.

`compare_trees(old, new)` compares two output folders (one sub-folder per pipeline) and only
reads; `render_text`, `render_check` and `render_json` turn its report into text. The CLI does
the fresh build into a temporary folder and passes it as `new`.

Templates (root.yaml, stacks/*, prerequisites/*, the portfolio; YAML or JSON) are compared as
CloudFormation: resources added, removed and modified with the changed paths, parameters and
outputs added, removed and changed, and every other changed section. Each modified resource is
checked for replacement against the resource provider schemas cfn-lint bundles: a change at or
under one of the type's `createOnlyProperties`, or a change of Type, replaces it; so does a
create-only property that refers to a resource being replaced. A logical id that disappears
while one of the same Type and (near) the same properties appears is a delete-and-create.
Other files (README.md, app/...) are compared byte for byte and listed by path.

The JSON document (`render_json`, keys sorted, stable):

    {
      "version": 1,
      "output": "output",               # the folder compared with the fresh build
      "changed": true,                  # false: nothing differs
      "summary": {"files": 2, "replacements": 1, "renames": 0},
      "pipelines": [                    # by name; only those with a difference
        {"name": "web-app", "status": "added" | "removed" | "modified",
         "files": [                     # by path, relative to the pipeline folder
           {"path": "stacks/artifact-store.yaml", "status": "added" | "removed" | "modified",
            "template": true,           # false for README.md, app/... (no details then)
            "note": "",                 # "formatting only: ...", "cannot be read ...", or ""
            "resources": [              # replaced first, then removed, added, modified
              {"logical_id": "ArtifactBucket", "type": "AWS::S3::Bucket",
               "old_type": "AWS::S3::Bucket",  # "" when added
               "status": "added" | "removed" | "modified",
               "replaced": true, "reasons": ["BucketName changed"],
               "notes": ["..."],        # fixed names, Retain policies, unknown types
               "changes": [Change, ...]}],
            "renames": [                # delete-and-create
              {"old_id": "Logs", "new_id": "BuildLogs", "type": "AWS::Logs::LogGroup",
               "similarity": 1.0, "changes": [Change, ...], "notes": ["..."]}],
            "parameters": [{"name": "Env", "status": "...", "changes": [Change, ...]}],
            "outputs": [{"name": "BucketArn", "status": "...", "changes": [Change, ...]}],
            "sections": [Change, ...]}]}]  # Description, Metadata, Conditions, ...
    }

    Change: {"path": "Properties.VersioningConfiguration.Status",
             "change": "added" | "removed" | "changed" | "reordered",
             "old": "\\"Enabled\\"" | null, "new": "\\"Suspended\\"" | null}  # compact JSON

`pipegen check --format json` prints {"version": 1, "output": ..., "changed": ..., "files":
[{"path": "web-app/stacks/iam.yaml", "status": "modified"}, ...]} (`render_check_json`).

Paths are dotted; list items are `[3]`, or `[Key=Team]` when every item of the list has a
distinct Key (or Name, Sid, Id, ...), so that an inserted item does not shift the others.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from generator import limits, writer

SCHEMA_REGION = "us-east-1"
RENAME_SIMILARITY = 0.75  # share of equal property leaves for a delete-and-create pair
IDENTITY_KEYS = ("Key", "Name", "Sid", "Id", "LogicalId", "PolicyName", "ParameterKey")
KEPT_POLICIES = ("Retain", "RetainExceptOnCreate", "Snapshot")
TEXT_CHANGES = 20  # changes listed per item in text; JSON has them all
TEXT_VALUE = 60  # characters of a value shown in text
SECTIONS_COMPARED_APART = ("Resources", "Parameters", "Outputs")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_:@/-]+")
_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


# -- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    path: str
    change: str  # added | removed | changed | reordered
    old: str | None = None  # compact JSON of the value; None when absent
    new: str | None = None


@dataclass(frozen=True)
class ResourceDiff:
    logical_id: str
    type: str
    old_type: str
    status: str  # added | removed | modified
    replaced: bool = False
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class RenameDiff:
    old_id: str
    new_id: str
    type: str
    similarity: float
    changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntryDiff:
    """A parameter or an output."""

    name: str
    status: str  # added | removed | modified
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class FileDiff:
    path: str
    status: str  # added | removed | modified
    template: bool
    note: str = ""
    resources: tuple[ResourceDiff, ...] = ()
    renames: tuple[RenameDiff, ...] = ()
    parameters: tuple[EntryDiff, ...] = ()
    outputs: tuple[EntryDiff, ...] = ()
    sections: tuple[Change, ...] = ()

    @property
    def replacements(self) -> int:
        return sum(1 for r in self.resources if r.replaced)


@dataclass(frozen=True)
class PipelineDiff:
    name: str
    status: str  # added | removed | modified
    files: tuple[FileDiff, ...]


@dataclass(frozen=True)
class DiffReport:
    output: str
    pipelines: tuple[PipelineDiff, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.pipelines)

    def files(self) -> Iterator[tuple[str, FileDiff]]:
        for pipeline in self.pipelines:
            for item in pipeline.files:
                yield pipeline.name, item

    def summary(self) -> dict[str, int]:
        files = [item for _, item in self.files()]
        return {
            "files": len(files),
            "replacements": sum(item.replacements for item in files),
            "renames": sum(len(item.renames) for item in files),
        }


# -- comparing folders ---------------------------------------------------------------------------


def compare_trees(old: Path, new: Path, *, only: Collection[str] | None = None) -> DiffReport:
    """What changes when `new` replaces `old`, pipeline folder by pipeline folder. Reads only.

    `only`: the pipeline folders to compare (a build of some specs leaves the others alone);
    None compares every folder of `new` and every pipeline folder of `old` (a build of every
    spec removes the output of pipelines whose spec is gone)."""
    names = _folders(new) | {n for n in _folders(old) if writer.is_pipeline_output(old / n)}
    if only is not None:
        names = set(only)
    pipelines = []
    for name in sorted(names):
        before, after = writer.read_tree(old / name), writer.read_tree(new / name)
        files = tuple(
            item
            for relative in sorted(set(before) | set(after))
            if (item := compare_file(relative, before.get(relative), after.get(relative)))
        )
        if files:
            status = "added" if not before else "removed" if not after else "modified"
            pipelines.append(PipelineDiff(name, status, files))
    return DiffReport(str(old), tuple(pipelines))


def _folders(root: Path) -> set[str]:
    if not root.is_dir():
        return set()
    return {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}


def compare_file(relative: str, old: bytes | None, new: bytes | None) -> FileDiff | None:
    """The difference between two versions of one file (None: absent); None if they are equal."""
    if old == new:
        return None
    status = "added" if old is None else "removed" if new is None else "modified"
    if not limits.is_template(relative):
        return FileDiff(relative, status, template=False)
    before, old_problem = _parse(relative, old)
    after, new_problem = _parse(relative, new)
    problem = old_problem or new_problem
    if problem:
        return FileDiff(
            relative, status, template=True, note=f"cannot be read as a template: {problem}"
        )
    if before == after:
        return FileDiff(relative, status, True, note="formatting only: no semantic change")
    return compare_templates(relative, status, before, after)


def _parse(relative: str, data: bytes | None) -> tuple[dict[str, Any], str]:
    if data is None:
        return {}, ""
    try:
        return limits.parse(relative, data), ""
    except (yaml.YAMLError, ValueError) as error:  # JSONDecodeError, UnicodeDecodeError
        return {}, str(error).splitlines()[0]


# -- comparing templates -------------------------------------------------------------------------


def compare_templates(
    relative: str, status: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> FileDiff:
    resources, renames = compare_resources(_section(old, "Resources"), _section(new, "Resources"))
    others_old = {k: v for k, v in old.items() if k not in SECTIONS_COMPARED_APART}
    others_new = {k: v for k, v in new.items() if k not in SECTIONS_COMPARED_APART}
    return FileDiff(
        relative,
        status,
        template=True,
        resources=resources,
        renames=renames,
        parameters=_entries(_section(old, "Parameters"), _section(new, "Parameters")),
        outputs=_entries(_section(old, "Outputs"), _section(new, "Outputs")),
        sections=tuple(diff_values(others_old, others_new)),
    )


def _section(template: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = template.get(name)
    return value if isinstance(value, dict) else {}


def _entries(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[EntryDiff, ...]:
    found = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            found.append(EntryDiff(name, "added"))
        elif name not in new:
            found.append(EntryDiff(name, "removed"))
        elif old[name] != new[name]:
            found.append(EntryDiff(name, "modified", tuple(diff_values(old[name], new[name]))))
    return tuple(found)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _type(resource: Mapping[str, Any]) -> str:
    return str(resource.get("Type", ""))


def compare_resources(
    old_resources: Mapping[str, Any], new_resources: Mapping[str, Any]
) -> tuple[tuple[ResourceDiff, ...], tuple[RenameDiff, ...]]:
    """Resources by logical id, replacements decided; renamed logical ids paired up."""
    old = {k: _mapping(v) for k, v in old_resources.items()}
    new = {k: _mapping(v) for k, v in new_resources.items()}
    renames = _pair_renames(
        {k: v for k, v in old.items() if k not in new},
        {k: v for k, v in new.items() if k not in old},
    )
    paired_old = {r.old_id for r in renames}
    paired_new = {r.new_id for r in renames}

    reasons: dict[str, list[str]] = {}
    for logical_id in sorted(set(old) & set(new)):
        before, after = old[logical_id], new[logical_id]
        if _type(before) != _type(after):
            reasons[logical_id] = [f"Type changed: {_type(before)} -> {_type(after)}"]
        else:
            found = _create_only_changes(_type(after), _props(before), _props(after))
            if found:
                reasons[logical_id] = found
    # A create-only property that refers to a replaced resource gets a new value too.
    gone = set(reasons)
    while True:
        more = {}
        for logical_id in sorted(set(old) & set(new) - set(reasons)):
            after = new[logical_id]
            for pointer in _create_only(_type(after)):
                targets = sorted(_references(_at(_props(after), pointer)) & (gone - {logical_id}))
                if targets:
                    more[logical_id] = [
                        f"{_display(pointer)} refers to {target}, which is replaced"
                        for target in targets
                    ]
                    break
        if not more:
            break
        reasons.update(more)
        gone |= set(more)

    diffs = []
    for logical_id in sorted(set(old) | set(new)):
        if logical_id in paired_old or logical_id in paired_new:
            continue
        if logical_id not in new:
            was = old[logical_id]
            notes = []
            policy = was.get("DeletionPolicy")
            if policy in KEPT_POLICIES:
                notes.append(f"DeletionPolicy {policy}: kept in the account, no longer managed")
            diffs.append(ResourceDiff(logical_id, "", _type(was), "removed", notes=tuple(notes)))
        elif logical_id not in old:
            diffs.append(ResourceDiff(logical_id, _type(new[logical_id]), "", "added"))
        elif old[logical_id] != new[logical_id] or logical_id in reasons:
            was, now = old[logical_id], new[logical_id]
            why = tuple(reasons.get(logical_id, ()))
            diffs.append(
                ResourceDiff(
                    logical_id,
                    _type(now),
                    _type(was),
                    "modified",
                    replaced=bool(why),
                    reasons=why,
                    notes=_replacement_notes(was, now) if why else _unknown(_type(now)),
                    changes=tuple(diff_values(was, now)),
                )
            )
    order = {"removed": 1, "added": 2, "modified": 3}
    diffs.sort(key=lambda d: (0 if d.replaced else order[d.status], d.logical_id))
    return tuple(diffs), renames


def _props(resource: Mapping[str, Any]) -> dict[str, Any]:
    return _mapping(resource.get("Properties"))


def _unknown(resource_type: str) -> tuple[str, ...]:
    if _schema(resource_type) is not None:
        return ()
    return (f"cfn-lint has no schema for {resource_type}: whether it is replaced is unknown",)


def _replacement_notes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    notes = []
    if _type(old) == _type(new):
        for name in _fixed_names(_type(new)):
            value = _props(new).get(name)
            if value is not None and value == _props(old).get(name):
                notes.append(
                    f"{name} is fixed ({_compact(value)}) and unchanged: CloudFormation cannot "
                    f"replace a resource with a custom name, so the update fails; give it a new "
                    f"{name} as well"
                )
    policy = old.get("UpdateReplacePolicy")
    if policy in KEPT_POLICIES:
        notes.append(f"UpdateReplacePolicy {policy}: the old one is kept, no longer managed")
    return tuple(notes)


def _pair_renames(
    removed: Mapping[str, dict[str, Any]], added: Mapping[str, dict[str, Any]]
) -> tuple[RenameDiff, ...]:
    candidates = []
    for old_id, before in removed.items():
        for new_id, after in added.items():
            if _type(before) != _type(after):
                continue
            score = similarity(_props(before), _props(after))
            if score >= RENAME_SIMILARITY:
                candidates.append((-score, old_id, new_id))
    renames = []
    taken: set[str] = set()
    for negative, old_id, new_id in sorted(candidates):
        if old_id in taken or new_id in taken:
            continue
        taken |= {old_id, new_id}
        before, after = removed[old_id], added[new_id]
        renames.append(
            RenameDiff(
                old_id,
                new_id,
                _type(after),
                round(-negative, 2),
                tuple(diff_values(before, after)),
                _rename_notes(old_id, new_id, before, after),
            )
        )
    return tuple(sorted(renames, key=lambda r: (r.old_id, r.new_id)))


def _rename_notes(
    old_id: str, new_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[str, ...]:
    notes = []
    kept = old.get("DeletionPolicy") in KEPT_POLICIES
    for name in _fixed_names(_type(new)):
        value = _props(new).get(name)
        if value is not None and value == _props(old).get(name):
            notes.append(
                f"{name} is fixed ({_compact(value)}): {new_id} is created while {old_id} still "
                "holds that name, so the create fails"
            )
    if kept:
        notes.append(
            f"DeletionPolicy {old.get('DeletionPolicy')}: {old_id} is kept in the account, "
            "no longer managed"
        )
    return tuple(notes)


def similarity(old: Any, new: Any) -> float:
    """The share of property leaves (path and value) the two have in common."""
    before, after = dict(_leaves(old)), dict(_leaves(new))
    if not before and not after:
        return 1.0
    same = sum(1 for path, value in before.items() if after.get(path) == value)
    return same / max(len(before), len(after))


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, _join(path, key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, _compact(value)


# -- replacement: the provider schemas cfn-lint bundles ------------------------------------------


@cache
def _schema(resource_type: str) -> dict[str, Any] | None:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER, ResourceNotFoundError

    try:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, resource_type)
    except ResourceNotFoundError:
        return None
    return dict(schema.schema)


def _pointer(text: str) -> tuple[str, ...]:
    """`/properties/A/*/B` as ("A", "*", "B")."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in text.split("/")[1:]]
    return tuple(parts[1:]) if parts[:1] == ["properties"] else ()


@cache
def _create_only(resource_type: str) -> tuple[tuple[str, ...], ...]:
    schema = _schema(resource_type) or {}
    pointers = (_pointer(p) for p in schema.get("createOnlyProperties", []))
    return tuple(p for p in pointers if p)


@cache
def _fixed_names(resource_type: str) -> tuple[str, ...]:
    """Create-only properties that name the physical resource: `Name`, `<Type>Name` (BucketName,
    TopicName, ManagedPolicyName), or a sole primary identifier ending in Name (AlarmName of a
    CompositeAlarm); not the names of parents (a deployment group's ApplicationName)."""
    schema = _schema(resource_type) or {}
    identifier = [_pointer(p) for p in schema.get("primaryIdentifier", [])]
    names = {"Name", f"{resource_type.rsplit('::', 1)[-1]}Name"}
    if len(identifier) == 1 and len(identifier[0]) == 1 and identifier[0][0].endswith("Name"):
        names.add(identifier[0][0])
    return tuple(p[0] for p in _create_only(resource_type) if len(p) == 1 and p[0] in names)


def _at(value: Any, pointer: tuple[str, ...]) -> list[Any]:
    """The values at `pointer` ("*" is every item of a list); [] when there are none."""
    if not pointer:
        return [value]
    head, rest = pointer[0], pointer[1:]
    if head == "*":
        items = value if isinstance(value, list) else []
        return [found for item in items for found in _at(item, rest)]
    if isinstance(value, dict) and head in value:
        return _at(value[head], rest)
    return []


def _display(pointer: tuple[str, ...]) -> str:
    return ".".join(pointer).replace(".*", "[*]")


def _create_only_changes(resource_type: str, old: Any, new: Any) -> list[str]:
    reasons = []
    for pointer in _create_only(resource_type):
        before, after = _at(old, pointer), _at(new, pointer)
        if before != after:
            verb = "added" if not before else "removed" if not after else "changed"
            reasons.append(f"{_display(pointer)} {verb}")
    return reasons


def _references(values: list[Any]) -> set[str]:
    """Logical ids (or parameters) that Ref, Fn::GetAtt or Fn::Sub name in `values`."""
    found: set[str] = set()
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            if isinstance(value.get("Ref"), str):
                found.add(value["Ref"])
            attribute = value.get("Fn::GetAtt")
            if isinstance(attribute, list) and attribute and isinstance(attribute[0], str):
                found.add(attribute[0])
            elif isinstance(attribute, str):
                found.add(attribute.split(".", 1)[0])
            sub = value.get("Fn::Sub")
            text = sub[0] if isinstance(sub, list) and sub else sub
            if isinstance(text, str):
                found |= set(_SUB_NAME.findall(text))
            stack.extend(value.values())
    return found


# -- comparing values ----------------------------------------------------------------------------


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _join(path: str, key: Any) -> str:
    text = str(key)
    if _PLAIN_KEY.fullmatch(text):
        return f"{path}.{text}" if path else text
    return f"{path}[{json.dumps(text, ensure_ascii=False)}]"


def _identity(old: list[Any], new: list[Any]) -> str | None:
    """A key whose value tells every item of both lists apart, if there is one."""
    items = old + new
    if not old or not new or not all(isinstance(item, dict) for item in items):
        return None
    for key in IDENTITY_KEYS:
        if all(isinstance(item.get(key), str) for item in items) and all(
            len({item[key] for item in side}) == len(side) for side in (old, new)
        ):
            return key
    return None


def diff_values(old: Any, new: Any, path: str = "") -> list[Change]:
    """The paths at which `new` differs from `old`, in a stable order."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            where = _join(path, key)
            if key not in old:
                found.append(Change(where, "added", new=_compact(new[key])))
            elif key not in new:
                found.append(Change(where, "removed", old=_compact(old[key])))
            else:
                found += diff_values(old[key], new[key], where)
        return found
    if isinstance(old, list) and isinstance(new, list):
        key = _identity(old, new)
        if key:
            before = {item[key]: item for item in old}
            after = {item[key]: item for item in new}
            found = []
            for name in sorted(set(before) | set(after)):
                where = f"{path}[{key}={name}]"
                if name not in before:
                    found.append(Change(where, "added", new=_compact(after[name])))
                elif name not in after:
                    found.append(Change(where, "removed", old=_compact(before[name])))
                else:
                    found += diff_values(before[name], after[name], where)
            return found or [Change(path, "reordered")]
        if len(old) == len(new):
            return [
                change
                for index, (a, b) in enumerate(zip(old, new, strict=True))
                for change in diff_values(a, b, f"{path}[{index}]")
            ]
    return [Change(path, "changed", _compact(old), _compact(new))]


# -- rendering -----------------------------------------------------------------------------------


def render_json(report: DiffReport) -> str:
    document = {
        "version": 1,
        "output": report.output,
        "changed": report.changed,
        "summary": report.summary(),
        "pipelines": [asdict(pipeline) for pipeline in report.pipelines],
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


def render_check(report: DiffReport) -> str:
    """One line per differing file, nothing when output/ is fresh."""
    lines = []
    for pipeline, item in report.files():
        extra = []
        if item.replacements:
            extra.append(f"{item.replacements} replacement(s)")
        if item.renames:
            extra.append(f"{len(item.renames)} delete-and-create")
        details = f" ({', '.join(extra)})" if extra else ""
        lines.append(f"{_where(report, pipeline, item.path)}: {item.status}{details}")
    return "\n".join(lines)


def render_check_json(report: DiffReport) -> str:
    files = [
        {"path": f"{pipeline}/{item.path}", "status": item.status}
        for pipeline, item in report.files()
    ]
    document = {"version": 1, "output": report.output, "changed": report.changed, "files": files}
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


def _where(report: DiffReport, pipeline: str, relative: str) -> str:
    return f"{report.output.rstrip('/')}/{pipeline}/{relative}"


def render_text(report: DiffReport) -> str:
    """For a reviewer: a summary that lists every replacement and delete-and-create, then
    pipeline by pipeline and file by file, replacements first in each file."""
    where = report.output.rstrip("/") + "/"
    if not report.changed:
        return f"no differences: {where} is what the specs build now"
    counts = report.summary()
    head = [f"{counts['files']} file(s) differ between {where} and a fresh build"]
    if counts["replacements"]:
        head.append(f"{counts['replacements']} resource(s) will be REPLACED")
    if counts["renames"]:
        head.append(f"{counts['renames']} DELETE AND CREATE")
    lines = [", ".join(head)]
    for name, item in report.files():
        where = f"{name}/{item.path}"
        lines += [
            f"  !! {where}: {_name(r)} will be REPLACED" for r in item.resources if r.replaced
        ]
        lines += [
            f"  !! {where}: {r.old_id} -> {r.new_id} ({r.type}) DELETE AND CREATE"
            for r in item.renames
        ]
    for pipeline in report.pipelines:
        lines += ["", f"{pipeline.name} ({pipeline.status})"]
        for item in pipeline.files:
            lines += _file_lines(item)
    return "\n".join(lines)


def _file_lines(item: FileDiff) -> list[str]:
    if not item.template or item.note:
        note = f": {item.note}" if item.note else ""
        return [f"  {item.path} ({item.status}{note})"]
    if item.status != "modified":
        counts = [
            f"{len(item.resources)} resource(s)",
            f"{len(item.parameters)} parameter(s)",
            f"{len(item.outputs)} output(s)",
        ]
        return [f"  {item.path} ({item.status}: {', '.join(counts)})"]
    lines = [f"  {item.path} ({item.status})"]
    for resource in (r for r in item.resources if r.replaced):
        lines.append(f"    !! {_name(resource)} will be REPLACED: {'; '.join(resource.reasons)}")
        lines += _details(resource.notes, resource.changes)
    for rename in item.renames:
        lines.append(
            f"    !! {rename.old_id} -> {rename.new_id} ({rename.type}) DELETE AND CREATE: the "
            f"logical id changed, so CloudFormation creates {rename.new_id} and deletes "
            f"{rename.old_id}"
        )
        lines += _details(rename.notes, rename.changes)
    marks = {"removed": "-", "added": "+", "modified": "~"}
    for resource in (r for r in item.resources if not r.replaced):
        lines.append(f"    {marks[resource.status]}  {_name(resource)} {resource.status}")
        lines += _details(resource.notes, resource.changes)
    for kind, entries in (("parameter", item.parameters), ("output", item.outputs)):
        for entry in entries:
            lines.append(f"    {marks[entry.status]}  {kind} {entry.name} {entry.status}")
            lines += _details((), entry.changes)
    if item.sections:
        lines.append("    ~  template sections modified")
        lines += _details((), item.sections)
    return lines


def _name(resource: ResourceDiff) -> str:
    return f"{resource.logical_id} ({resource.type or resource.old_type})"


def _details(notes: tuple[str, ...], changes: tuple[Change, ...]) -> list[str]:
    lines = [f"         note: {note}" for note in notes]
    lines += [f"         {_change_text(change)}" for change in changes[:TEXT_CHANGES]]
    if len(changes) > TEXT_CHANGES:
        lines.append(f"         ... and {len(changes) - TEXT_CHANGES} more (--format json)")
    return lines


def _short(value: str | None, start: int = 0) -> str:
    """At most TEXT_VALUE characters of `value`, from about `start` on."""
    text = value or ""
    if len(text) <= TEXT_VALUE:
        return text
    start = max(0, min(start, len(text) - TEXT_VALUE + 6))
    head = "..." if start else ""
    tail = "..." if start + TEXT_VALUE - 6 < len(text) else ""
    return head + text[start : start + TEXT_VALUE - 6] + tail


def _first_difference(old: str, new: str) -> int:
    same = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), None)
    return min(len(old), len(new)) if same is None else same


def _change_text(change: Change) -> str:
    path = change.path or "(the value)"
    if change.change == "added":
        return f"{path}: added {_short(change.new)}"
    if change.change == "removed":
        return f"{path}: removed (was {_short(change.old)})"
    if change.change == "reordered":
        return f"{path}: reordered"
    before, after = change.old or "", change.new or ""
    start = _first_difference(before, after) - TEXT_VALUE // 3
    return f"{path}: {_short(before, start)} -> {_short(after, start)}"
