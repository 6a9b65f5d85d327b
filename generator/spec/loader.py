"""Reads a spec file into a validated model, reporting every problem as `file:line: field: msg`."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from generator.errors import Located, SpecError
from generator.spec.checks import Loc, SpecIssue

LineIndex = dict[Loc, int]


class SpecLoader(yaml.SafeLoader):
    """YAML 1.2 scalars: only true/false are booleans, and numbers with a leading zero stay
    text. YAML 1.1 would read `on:` as True, `off` as False and `012345678901` as an octal
    number, silently changing what the spec says."""


SpecLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)


def format_loc(loc: Sequence[str | int]) -> str:
    """('environments', 2, 'account') -> 'environments[2].account'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def read_yaml(path: Path, display: str) -> tuple[Any, LineIndex]:
    """Parse YAML, keeping the line of every key and list item. Duplicate keys are errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Located(display, None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SpecError([Located(display, None, "", f"cannot read the spec: {reason}")]) from None
    try:
        node = yaml.compose(text, Loader=SpecLoader)
        data = yaml.load(text, Loader=SpecLoader)
    except yaml.YAMLError as exc:
        raise SpecError([_syntax_error(exc, display)]) from None
    if node is None:
        raise SpecError(
            [Located(display, 1, "", "the spec is empty; start from `pipegen new web-app NAME`")]
        )
    index: LineIndex = {}
    duplicates: list[Located] = []
    _index_node(node, (), index, duplicates, display)
    if duplicates:
        raise SpecError(duplicates)
    return data, index


def _syntax_error(exc: yaml.YAMLError, display: str) -> Located:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    if isinstance(exc, yaml.composer.ComposerError) and "another document" in problem:
        return Located(
            display,
            line,
            "",
            "YAML syntax error: a spec holds exactly one document; remove this '---' and "
            "everything after it, or move it to a file of its own",
        )
    detail = problem
    if context and context_mark is not None and context_mark.line + 1 != line:
        detail += f" ({context} that starts on line {context_mark.line + 1})"
    return Located(
        display,
        line,
        "",
        f"YAML syntax error: {detail}; check the brackets, indentation and quoting here",
    )


def _index_node(
    node: yaml.Node, loc: Loc, index: LineIndex, duplicates: list[Located], display: str
) -> None:
    index.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key_node.tag != "tag:yaml.org,2002:str":
                duplicates.append(
                    Located(
                        display,
                        key_node.start_mark.line + 1,
                        format_loc((*loc, key)),
                        f'key {key!r} is not text to YAML; quote it ("{key}":)',
                    )
                )
            if key in seen:
                duplicates.append(
                    Located(
                        display,
                        key_node.start_mark.line + 1,
                        format_loc((*loc, key)),
                        "key defined twice; YAML would silently keep only the last one",
                    )
                )
            seen.add(key)
            index[(*loc, key)] = key_node.start_mark.line + 1
            _index_node(value_node, (*loc, key), index, duplicates, display)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            index[(*loc, position)] = item.start_mark.line + 1
            _index_node(item, (*loc, position), index, duplicates, display)


def line_of(loc: Loc, index: LineIndex) -> int | None:
    """The line of `loc`, or of its nearest ancestor that the file contains."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in index:
            return index[loc[:end]]
    return None


def locate(display: str, index: LineIndex, issues: Iterable[SpecIssue]) -> list[Located]:
    return [Located(display, line_of(i.loc, index), format_loc(i.loc), i.message) for i in issues]


def validate_model(model: type[BaseModel], data: Any, display: str, index: LineIndex) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues = [_translate(model, error) for error in exc.errors()]
        raise SpecError(locate(display, index, issues)) from None


def _translate(model: type[BaseModel], error: Any) -> SpecIssue:
    loc: Loc = tuple(p for p in error["loc"] if p != "[key]")
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _fields_at(model, loc[:-1])
        hint = _did_you_mean(key, allowed) or f"; allowed: {', '.join(allowed)}"
        return SpecIssue(loc, f"unknown field {key!r}{hint}")
    if kind == "missing":
        return SpecIssue(loc, f"missing required field {loc[-1]!r}; add it")
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", ""))
        options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",")]
        hint = _did_you_mean(str(value), options)
        return SpecIssue(loc, f"{value!r} is not one of {', '.join(options)}{hint}")
    if kind == "value_error":
        return SpecIssue(loc, str(ctx.get("error", error["msg"])))
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        if "@" in pattern:
            return SpecIssue(loc, f"{value!r} is not an e-mail address")
        if "http" in pattern:
            return SpecIssue(loc, f"{value!r} is not an http(s):// URL")
        return SpecIssue(loc, f"{value!r} does not match the pattern {pattern}")
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        return SpecIssue(loc, _length_message(kind.removeprefix("string_"), ctx, value))
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {"greater_than_equal": "at least", "less_than_equal": "at most"}.get(
            kind, kind.replace("_", " ")
        )
        limit = next(iter(ctx.values()))
        return SpecIssue(loc, f"{value!r} is out of range; use a value {bound} {limit}")
    expected_type = {
        "string_type": "text",
        "int_type": "a whole number",
        "int_parsing": "a whole number",
        "int_from_float": "a whole number",
        "float_type": "a number",
        "float_parsing": "a number",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "list_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
    }.get(kind)
    if expected_type:
        shown = type(value).__name__ if value is not None else "nothing"
        return SpecIssue(loc, f"expected {expected_type}, got {shown} {value!r}")
    return SpecIssue(loc, str(error["msg"]))


def _did_you_mean(value: str, options: Sequence[str]) -> str:
    """Case-insensitive near miss: 'queued' -> 'QUEUED', 'regoin' -> 'region'."""
    lowered = {option.lower(): option for option in options}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""


def _length_message(kind: str, ctx: dict[str, Any], value: Any) -> str:
    if isinstance(value, str):
        if kind == "too_short":
            return (
                "must not be empty"
                if ctx.get("min_length") == 1
                else (f"is too short; use at least {ctx.get('min_length')} characters")
            )
        return f"is {len(value)} characters long; at most {ctx.get('max_length')} are allowed"
    if kind == "too_short":
        need = ctx.get("min_length", 1)
        return f"needs at least {need} item{'s' if need != 1 else ''}"
    most = ctx.get("max_length")
    actual = ctx.get("actual_length") or len(value)
    return f"has {actual} items; at most {most} are allowed"


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names of the model found at `loc`, for "did you mean" hints."""
    current: Any = model
    for part in loc:
        current = _inner_model(current, part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _inner_model(annotation: Any, part: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if isinstance(part, int) or part not in annotation.model_fields:
            return None
        return _unwrap(annotation.model_fields[part].annotation)
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, dict) and typing.get_args(annotation):
        return _unwrap(typing.get_args(annotation)[-1])
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated so that the model or container underneath is visible."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = members[0]
        else:
            return annotation


@dataclass(frozen=True)
class LoadedSpec:
    blueprint: Any  # generator.blueprint.Blueprint (imported lazily: blueprints import us)
    spec: Any
    display: str
    lines: LineIndex

    def line_of(self, *loc: str | int) -> int | None:
        return line_of(tuple(loc), self.lines)


def load_spec(path: Path, display: str | None = None) -> LoadedSpec:
    """The blueprint and validated spec of a file, or SpecError naming every problem."""
    from generator.blueprint import registry

    shown = display or str(path)
    data, index = read_yaml(path, shown)
    if not isinstance(data, dict):
        raise SpecError(
            [
                Located(
                    shown,
                    1,
                    "",
                    "a spec is a mapping of keys (name:, blueprint:, source:, environments:); "
                    f"this file holds {type(data).__name__}",
                )
            ]
        )
    blueprints = registry()
    chosen = data.get("blueprint")
    if not isinstance(chosen, str) or chosen not in blueprints:
        names = sorted(blueprints)
        if chosen is None:
            message = f"missing required field 'blueprint'; choose one of {', '.join(names)}"
        elif not isinstance(chosen, str):
            message = f"expected the name of one blueprint ({', '.join(names)}), got {chosen!r}"
        else:
            hint = _did_you_mean(chosen, names) or f"; choose one of {', '.join(names)}"
            message = f"unknown blueprint {chosen!r}{hint}"
        raise SpecError(locate(shown, index, [SpecIssue(("blueprint",), message)]))
    blueprint = blueprints[chosen]
    spec: Any = validate_model(blueprint.spec_model, data, shown, index)
    issues = list(blueprint.checks(spec))
    if issues:
        raise SpecError(locate(shown, index, issues))
    return LoadedSpec(blueprint, spec, shown, index)
