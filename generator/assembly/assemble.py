"""Turns child stacks into a root template plus children, and proves their contracts hold."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from troposphere import GetAtt, Output, Ref, Sub, Tags, Template
from troposphere.cloudformation import Stack

from generator.assembly.split import split_children
from generator.assembly.stack import ChildStack, Exported, RootParameter, StackValue
from generator.errors import AssemblyError

TEMPLATE_LOCATION_GROUP = "Template location"

TEMPLATE_BUCKET = RootParameter(
    name="TemplateBucketName",
    description="S3 bucket that holds the child templates (upload the stacks/ folder there).",
    label="Template bucket",
    group=TEMPLATE_LOCATION_GROUP,
    allowed_pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
    constraint_description="An S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens.",
    min_length=3,
    max_length=63,
)
TEMPLATE_PREFIX = RootParameter(
    name="TemplateKeyPrefix",
    description="Key prefix of the child templates in the template bucket; empty or ending in /.",
    label="Template key prefix",
    group=TEMPLATE_LOCATION_GROUP,
    default="",
    allowed_pattern=r"^$|^[0-9a-zA-Z!*'()_./-]*/$",
    constraint_description="Empty, or S3 key characters ending in a slash (for example pipegen/).",
    max_length=200,
)
TEMPLATE_REGION = RootParameter(
    name="TemplateBucketRegion",
    description="Region of the template bucket.",
    label="Template bucket region",
    group=TEMPLATE_LOCATION_GROUP,
    default="us-east-1",
    allowed_pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$",
    constraint_description="A region name such as us-east-1.",
)
TEMPLATE_LOCATION = (TEMPLATE_BUCKET, TEMPLATE_PREFIX, TEMPLATE_REGION)


@dataclass(frozen=True)
class RootOutput:
    name: str
    value: Any  # an Exported handle, or an expression valid in the root
    description: str


@dataclass
class TemplateSet:
    """Everything one spec produces, before anything is written."""

    pipeline: str
    root: Template
    children: list[ChildStack]
    files: dict[str, str] = field(default_factory=dict)  # app starter files: path -> text
    regions: tuple[str, ...] = ()
    # Templates launched on their own, not nested (prerequisites, StackSet templates), and
    # documents beside the root: relative path -> template / text.
    extra_templates: dict[str, Template] = field(default_factory=dict)
    documents: dict[str, str] = field(default_factory=dict)

    def templates(self) -> Iterator[tuple[str, Template]]:
        """(relative path, template) for the root, every child and every extra template."""
        yield "root.yaml", self.root
        for child in self.children:
            yield f"stacks/{child.file_name}", child.template
        yield from sorted(self.extra_templates.items())


def root_value(
    value: StackValue,
    children: Mapping[str, ChildStack],
    home: Mapping[tuple[str, str], str] | None = None,
) -> Any:
    """The root's expression for `value`; `home` says which part of a split stack now declares
    an output (see split.py)."""
    if isinstance(value, RootParameter):
        return Ref(value.name)
    stack = source_stack(value, home)
    if stack not in children:
        raise AssemblyError(
            f"output {value.name} comes from stack {value.stack}, which is not assembled"
        )
    return GetAtt(children[stack].logical_id, f"Outputs.{value.name}")


def source_stack(value: Exported, home: Mapping[tuple[str, str], str] | None = None) -> str:
    """The stack that declares the output `value` names: its own, or the part it moved to."""
    return (home or {}).get((value.stack, value.name), value.stack)


def assemble(
    *,
    pipeline: str,
    description: str,
    children: Sequence[ChildStack],
    outputs: Sequence[RootOutput],
    tags: Mapping[str, str],
    regions: Sequence[str],
    files: Mapping[str, str] | None = None,
    group_order: Sequence[str] = (),
) -> TemplateSet:
    """Build the root template that nests `children` and wires their parameters.

    A child that would pass one of CloudFormation's per-template limits is first split into
    several (split.py); handles that name it are wired to the part holding their output."""
    for child in children:
        for resource in child.template.resources.values():
            _tag(resource, tags)  # before splitting: tags count towards a part's size
    split = split_children(children)
    children = split.children
    home = split.home
    by_name = {child.name: child for child in children}
    root = Template(Description=description)
    root.set_version()
    parameters: dict[str, RootParameter] = {p.name: p for p in TEMPLATE_LOCATION}
    for child in children:
        for value in child.inputs.values():
            if isinstance(value, RootParameter):
                known = parameters.setdefault(value.name, value)
                if known != value:
                    raise AssemblyError(
                        f"root parameter {value.name} is declared twice, differently"
                    )
    ordered = _console_order(parameters.values(), group_order)
    for param in ordered:
        root.add_parameter(param.to_parameter())
    root.set_metadata({"AWS::CloudFormation::Interface": _interface(ordered)})

    stack_tags = Tags(**dict(tags))
    for child in children:
        url = Sub(
            "https://${TemplateBucketName}.s3.${TemplateBucketRegion}.${AWS::URLSuffix}/"
            f"${{TemplateKeyPrefix}}stacks/{child.file_name}"
        )
        stack_parameters = {
            name: root_value(value, by_name, home) for name, value in sorted(child.inputs.items())
        }
        nested = Stack(
            child.logical_id,
            TemplateURL=url,
            Tags=stack_tags,
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
        )
        if stack_parameters:
            nested.Parameters = stack_parameters
        feeding = {source_stack(v, home) for v in child.inputs.values() if isinstance(v, Exported)}
        # An output already orders the stacks; cfn-lint (W3005) flags a second DependsOn.
        # A stack that waits for a split one waits for every part of it.
        waits = [n for c in child.after for n in split.parts.get(c.name, [c.name])]
        included = [by_name[n] for n in dict.fromkeys(waits) if n in by_name and n not in feeding]
        if included:
            nested.DependsOn = sorted(c.logical_id for c in included)
        root.add_resource(nested)
    for out in outputs:
        value = (
            root_value(out.value, by_name, home) if isinstance(out.value, Exported) else out.value
        )
        root.add_output(Output(out.name, Value=value, Description=out.description))
    template_set = TemplateSet(pipeline, root, list(children), dict(files or {}), tuple(regions))
    problems = check_contracts(template_set)
    if problems:
        raise AssemblyError("stack contract broken:\n  " + "\n  ".join(problems))
    return template_set


def _console_order(parameters: Any, group_order: Sequence[str]) -> list[RootParameter]:
    """Groups in `group_order`, then in first-seen order; template location last (set once)."""
    groups: dict[str, list[RootParameter]] = {}
    for param in parameters:
        groups.setdefault(param.group, []).append(param)
    location = groups.pop(TEMPLATE_LOCATION_GROUP, [])
    rank = {name: i for i, name in enumerate(group_order)}
    ordered = sorted(groups, key=lambda g: rank.get(g, len(rank)))
    return [p for group in ordered for p in groups[group]] + location


def _interface(ordered: list[RootParameter]) -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for param in ordered:
        groups.setdefault(param.group, []).append(param.name)
    return {
        "ParameterGroups": [
            {"Label": {"default": label}, "Parameters": names} for label, names in groups.items()
        ],
        "ParameterLabels": {p.name: {"default": p.label} for p in ordered},
    }


def _tag(resource: Any, tags: Mapping[str, str]) -> None:
    """Cost-allocation tags on every resource type that takes a Tags list."""
    spec = resource.props.get("Tags")
    if spec is None:
        return
    existing = resource.properties.get("Tags")
    if spec[0] is dict:  # a few types (SSM parameters, ...) take a plain map
        resource.Tags = {**dict(tags), **(existing or {})}
        return
    # Others declare Tags with the Tags class or a validator that accepts it. A key the
    # resource sets itself (a component tags for an IAM condition) is not repeated.
    own = {t["Key"] for t in existing.to_dict()} if isinstance(existing, Tags) else set()
    merged = Tags(**{k: v for k, v in tags.items() if k not in own})
    resource.Tags = merged + existing if existing is not None else merged


def check_contracts(template_set: TemplateSet) -> list[str]:
    """Every parent/child contract, checked from the rendered dicts alone.

    cfn-lint's E3043 compares parameter names only and ignores `Outputs.X` lookups, so both
    directions are checked here: required parameters passed, nothing extra passed, every
    referenced child output declared, and no cycle between children.
    """
    root = template_set.root.to_dict()
    children = {c.logical_id: c.template.to_dict() for c in template_set.children}
    problems: list[str] = []
    nested = {
        name
        for name, r in root.get("Resources", {}).items()
        if r.get("Type") == "AWS::CloudFormation::Stack"
    }
    for logical_id in children:
        if logical_id not in nested:
            problems.append(f"{logical_id}: child template is not nested in the root")
    graph: dict[str, set[str]] = {}
    for logical_id, resource in root.get("Resources", {}).items():
        if resource.get("Type") != "AWS::CloudFormation::Stack":
            continue
        child = children.get(logical_id)
        if child is None:
            problems.append(f"{logical_id}: no child template")
            continue
        declared = child.get("Parameters", {})
        passed = resource.get("Properties", {}).get("Parameters", {})
        for name, spec in declared.items():
            if "Default" not in spec and name not in passed:
                problems.append(f"{logical_id}: required parameter {name} is not passed")
        for name in passed:
            if name not in declared:
                problems.append(f"{logical_id}: passes {name}, which the child does not declare")
        graph[logical_id] = set()
        for source, output in _output_refs(passed):
            graph[logical_id].add(source)
            if source not in children:
                problems.append(f"{logical_id}: takes {source}.Outputs.{output} from no child")
            elif output not in children[source].get("Outputs", {}):
                problems.append(f"{logical_id}: {source} has no output {output}")
    for source, output in _output_refs(root.get("Outputs", {})):
        if output not in children.get(source, {}).get("Outputs", {}):
            problems.append(f"root output refers to {source}.Outputs.{output}, which is missing")
    cycle = _find_cycle(graph)
    if cycle:
        problems.append("children depend on each other in a cycle: " + " -> ".join(cycle))
    return problems


def _output_refs(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"}:
            target, attribute = node["Fn::GetAtt"]
            if attribute.startswith("Outputs."):
                yield target, attribute.removeprefix("Outputs.")
        for value in node.values():
            yield from _output_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _output_refs(item)


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return []
