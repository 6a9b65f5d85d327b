"""Splitting a child stack that would pass CloudFormation's resource, output, parameter or size
limit into several children: `iam`, `iam-2`, `iam-3`, ...

Resources are split along the references between them: resources joined by a `Ref`, `GetAtt`,
`Sub` or `DependsOn` (in either direction), or named together by one output, form a group, and
whole groups are packed into parts in template order. No reference then crosses a part, so every
part is a complete template: it declares the parameters its resources use (fed by the root from
the same source as before) and the outputs of its resources. An output that moved is found by
the assembler through `SplitResult.home`, so `Exported` handles that name the original stack keep
working. A group too big for one part is an AssemblyError.

The thresholds sit below CloudFormation's limits (generator/limits.py); `splitting()` lowers
them for a test. The output cache does not key on them: build with `cache_dir=None` (or a fresh
folder) under `splitting()`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from generator import limits
from generator.assembly.stack import ChildStack
from generator.errors import AssemblyError
from generator.rendering import render

# Headroom below CloudFormation's 500 resources, 200 outputs and parameters, and below the
# 1,000,000 bytes checked for a child (the size of a part is estimated before it is rendered).
MAX_RESOURCES_PER_CHILD = limits.MAX_RESOURCES - 50
MAX_OUTPUTS_PER_CHILD = limits.MAX_OUTPUTS - 20
MAX_PARAMETERS_PER_CHILD = limits.MAX_PARAMETERS - 20
MAX_CHILD_BYTES = 800_000
# Indented YAML or JSON is rarely more than 2.3 times the compact JSON of the same template; a
# child whose compact JSON is below MAX_CHILD_BYTES / this is not rendered to be measured.
RENDERED_PER_COMPACT = 4


@dataclass(frozen=True)
class SplitLimits:
    max_resources: int = MAX_RESOURCES_PER_CHILD
    max_bytes: int = MAX_CHILD_BYTES
    max_outputs: int = MAX_OUTPUTS_PER_CHILD
    max_parameters: int = MAX_PARAMETERS_PER_CHILD


_override: ContextVar[SplitLimits | None] = ContextVar("pipegen_split_limits", default=None)


def current_limits() -> SplitLimits:
    """The thresholds in force: `splitting()`'s, else this module's constants (read now)."""
    override = _override.get()
    if override is not None:
        return override
    return SplitLimits(
        MAX_RESOURCES_PER_CHILD, MAX_CHILD_BYTES, MAX_OUTPUTS_PER_CHILD, MAX_PARAMETERS_PER_CHILD
    )


@contextmanager
def splitting(
    *,
    max_resources: int | None = None,
    max_bytes: int | None = None,
    max_outputs: int | None = None,
    max_parameters: int | None = None,
) -> Iterator[SplitLimits]:
    """Lower (or raise) the thresholds within the block, e.g. to force a split in a test."""
    base = current_limits()
    chosen = SplitLimits(
        max_resources if max_resources is not None else base.max_resources,
        max_bytes if max_bytes is not None else base.max_bytes,
        max_outputs if max_outputs is not None else base.max_outputs,
        max_parameters if max_parameters is not None else base.max_parameters,
    )
    token = _override.set(chosen)
    try:
        yield chosen
    finally:
        _override.reset(token)


@dataclass
class SplitResult:
    children: list[ChildStack]
    # (original stack, output) -> the part that now declares the output
    home: dict[tuple[str, str], str] = field(default_factory=dict)
    # original stack -> its parts' names (only for stacks that were split)
    parts: dict[str, list[str]] = field(default_factory=dict)


def split_children(
    children: Sequence[ChildStack], chosen: SplitLimits | None = None
) -> SplitResult:
    """Every child that passes a threshold replaced by its parts, in place; the others as they
    are (the very same objects)."""
    chosen = chosen or current_limits()
    result = SplitResult([])
    names = {c.name for c in children}
    for child in children:
        if not _too_big(child, chosen):
            result.children.append(child)
            continue
        parts = _split(child, chosen)
        taken = [p.name for p in parts[1:] if p.name in names]
        if taken:
            raise AssemblyError(
                f"stack {child.name}: cannot split into {', '.join(taken)}, already a stack"
            )
        result.children += parts
        result.parts[child.name] = [p.name for p in parts]
        for part in parts:
            for output in part.template.outputs:
                result.home[(child.name, output)] = part.name
    logical_ids = [c.logical_id for c in result.children]
    duplicates = sorted({i for i in logical_ids if logical_ids.count(i) > 1})
    if duplicates:
        raise AssemblyError(f"split stacks share logical ids: {', '.join(duplicates)}")
    return result


def _too_big(child: ChildStack, chosen: SplitLimits) -> bool:
    template = child.template
    if (
        len(template.resources) > chosen.max_resources
        or len(template.outputs) > chosen.max_outputs
        or len(template.parameters) > chosen.max_parameters
    ):
        return True
    document = template.to_dict()
    if len(_compact(document)) * RENDERED_PER_COMPACT <= chosen.max_bytes:
        return False
    return _rendered_size(document, child.extension) > chosen.max_bytes


def _compact(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _rendered_size(document: dict[str, Any], extension: str) -> int:
    return len(render(document, "json" if extension == "json" else "yaml").encode())


# -- references --------------------------------------------------------------------------------

_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def references(node: Any) -> set[str]:
    """Logical names `node` refers to: Ref and GetAtt targets, `${Name}` / `${Name.Attr}` in
    Sub, DependsOn, Condition and Fn::If condition names, and whatever an IAM policy statement's
    `Condition` block refers to. Pseudo parameters are left out."""
    found: set[str] = set()
    _collect(node, found)
    return {name for name in found if not name.startswith("AWS::")}


def _collect(node: Any, found: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(item, found)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "Ref" and isinstance(value, str):
            found.add(value)
        elif key == "Fn::GetAtt":
            target = value[0] if isinstance(value, list) and value else value
            if isinstance(target, str):
                found.add(target.split(".", 1)[0])
            else:
                _collect(value, found)
        elif key == "Fn::Sub":
            text, variables = (value[0], value[1]) if isinstance(value, list) else (value, {})
            local = set(variables) if isinstance(variables, dict) else set()
            if isinstance(text, str):
                for name in _SUB_VARIABLE.findall(text):
                    base = name.split(".", 1)[0].strip()
                    if base not in local:
                        found.add(base)
            _collect(variables, found)
        elif key == "DependsOn":
            found.update(
                v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)
            )
        elif key in ("Condition", "Fn::If") and isinstance(value, (str, list)) and value:
            condition = value[0] if isinstance(value, list) else value
            if isinstance(condition, str):
                found.add(condition)
            _collect(value[1:] if isinstance(value, list) else [], found)
        else:  # an IAM policy statement's `Condition` block too: its values may Ref parameters
            _collect(value, found)


# -- grouping and packing ----------------------------------------------------------------------


@dataclass
class _Group:
    resources: list[str]  # in template order
    outputs: list[str] = field(default_factory=list)
    parameters: set[str] = field(default_factory=set)
    conditions: set[str] = field(default_factory=set)
    size: int = 0


def _groups(child: ChildStack) -> tuple[list[_Group], dict[str, Any]]:
    template = child.template
    document = template.to_dict()
    resources: dict[str, Any] = document.get("Resources", {})
    outputs: dict[str, Any] = document.get("Outputs", {})
    conditions: dict[str, Any] = document.get("Conditions", {})
    order = {name: i for i, name in enumerate(resources)}
    parent = {name: name for name in resources}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:  # the earlier resource stays the root: groups keep template order
            ra, rb = sorted((ra, rb), key=order.__getitem__)
            parent[rb] = ra

    refs = {name: references(body) for name, body in resources.items()}
    for name, targets in refs.items():
        for target in targets & resources.keys():
            union(name, target)
    output_refs = {name: references(body) for name, body in outputs.items()}
    for targets in output_refs.values():
        local = sorted(targets & resources.keys(), key=order.__getitem__)
        for other in local[1:]:
            union(local[0], other)
    groups: dict[str, _Group] = {}
    for name in resources:
        groups.setdefault(find(name), _Group([])).resources.append(name)
    first = next(iter(groups.values()), None)
    for name, targets in output_refs.items():
        local = sorted(targets & resources.keys(), key=order.__getitem__)
        group = groups[find(local[0])] if local else first
        if group is None:
            raise AssemblyError(f"stack {child.name}: output {name} has no resource to go with")
        group.outputs.append(name)
    fmt = "json" if child.extension == "json" else "yaml"
    for group in groups.values():
        named = set().union(
            *(refs[r] for r in group.resources), *(output_refs[o] for o in group.outputs)
        )
        group.conditions = _condition_closure(named & conditions.keys(), conditions)
        for condition in group.conditions:
            named |= references(conditions[condition])
        group.parameters = named & template.parameters.keys()
        group.size = sum(
            _section_size("Resources", r, resources[r], fmt) for r in group.resources
        ) + sum(_section_size("Outputs", o, outputs[o], fmt) for o in group.outputs)
    return list(groups.values()), document


def resource_groups(child: ChildStack) -> list[list[str]]:
    """The groups `child` would be split along: logical ids that must share a stack."""
    return [group.resources for group in _groups(child)[0]]


def _condition_closure(names: set[str], conditions: Mapping[str, Any]) -> set[str]:
    found = set(names)
    pending = list(names)
    while pending:
        for name in references(conditions[pending.pop()]) & conditions.keys():
            if name not in found:
                found.add(name)
                pending.append(name)
    return found


def _section_size(section: str, name: str, body: Any, fmt: str) -> int:
    """Rendered bytes of one entry at its place in the template (a slight overestimate)."""
    return len(render({section: {name: body}}, fmt).encode())


def _split(child: ChildStack, chosen: SplitLimits) -> list[ChildStack]:
    groups, document = _groups(child)
    fmt = "json" if child.extension == "json" else "yaml"
    parameters: dict[str, Any] = document.get("Parameters", {})
    parameter_size = {
        name: _section_size("Parameters", name, body, fmt) for name, body in parameters.items()
    }
    base = _rendered_size(
        {k: v for k, v in document.items() if k not in _SECTIONS}, child.extension
    )
    base += len(f" (part 99 of 99){chr(10)}") + 64  # the part's description, section headers

    def over(groups: list[_Group]) -> str | None:
        """Which threshold `groups` together pass, or None when they fit one stack."""
        resources = sum(len(g.resources) for g in groups)
        outputs = sum(len(g.outputs) for g in groups)
        names: set[str] = set().union(*(g.parameters for g in groups))
        size = base + sum(g.size for g in groups) + sum(parameter_size[n] for n in names)
        if resources > chosen.max_resources:
            return f"{resources} resources, over the {chosen.max_resources} allowed per stack"
        if outputs > chosen.max_outputs:
            return f"{outputs} outputs, over the {chosen.max_outputs} allowed per stack"
        if len(names) > chosen.max_parameters:
            return f"{len(names)} parameters, over the {chosen.max_parameters} allowed per stack"
        if size > chosen.max_bytes:
            return f"about {size:,} bytes, over the {chosen.max_bytes:,} allowed per stack"
        return None

    packed: list[list[_Group]] = []
    current: list[_Group] = []
    for group in groups:
        alone = over([group])
        if alone is not None:
            shown = ", ".join(group.resources[:4]) + (", ..." if len(group.resources) > 4 else "")
            raise AssemblyError(
                f"stack {child.name} is too big for one stack and cannot be split: resources "
                f"{shown} refer to each other, so they must share a stack, and together they "
                f"have {alone}"
            )
        if current and over([*current, group]) is not None:
            packed.append(current)
            current = []
        current.append(group)
    if current:
        packed.append(current)
    return [_part(child, i, len(packed), chosen_groups) for i, chosen_groups in enumerate(packed)]


_SECTIONS = ("Resources", "Outputs", "Parameters", "Conditions")


def _part(child: ChildStack, index: int, count: int, groups: list[_Group]) -> ChildStack:
    name = child.name if index == 0 else f"{child.name}-{index + 1}"
    part = ChildStack(name, f"{child.description} (part {index + 1} of {count})", child.extension)
    source = child.template
    template = part.template
    template.metadata = dict(source.metadata)
    template.mappings = dict(source.mappings)
    template.transform = source.transform
    template.rules = dict(source.rules)
    wanted = set().union(*(g.resources for g in groups))
    outputs = set().union(*(g.outputs for g in groups))
    parameters: set[str] = set().union(*(g.parameters for g in groups))
    conditions: set[str] = set().union(*(g.conditions for g in groups))
    if index == 0:  # parameters no resource uses stay declared, in the first part
        used = set().union(*(references(r.to_dict()) for r in source.resources.values()))
        used |= set().union(*(references(o.to_dict()) for o in source.outputs.values()))
        used |= set().union(*(references(c) for c in _plain(source.conditions).values()))
        parameters |= source.parameters.keys() - used
    for key, parameter in source.parameters.items():
        if key in parameters:
            template.parameters[key] = parameter
            if key in child.inputs:
                part.inputs[key] = child.inputs[key]
    for key, condition in source.conditions.items():
        if key in conditions:
            template.conditions[key] = condition
    for key, resource in source.resources.items():
        if key in wanted:
            template.resources[key] = resource
    for key, output in source.outputs.items():
        if key in outputs:
            template.outputs[key] = output
    part.after = list(child.after)
    return part


def _plain(conditions: Mapping[str, Any]) -> dict[str, Any]:
    return {name: (c.to_dict() if hasattr(c, "to_dict") else c) for name, c in conditions.items()}
