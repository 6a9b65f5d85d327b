"""Deterministic text for templates: the same dict always gives the same bytes.

YAML uses CloudFormation's short-form tags (`!Ref`, `!GetAtt A.B`, `!Sub`) because reviewers
read these files in pull requests. Key order is the order the generator built, which is fixed
by code, never by hashing; nothing here depends on PYTHONHASHSEED.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

Format = str  # "yaml" | "json"


class _Tagged:
    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value


# A plain (unquoted) scalar must start with a safe character and hold no sequence that YAML
# reads as structure; the resolver check below rules out what YAML 1.1 would read as a bool,
# number, null or date.
_PLAIN = re.compile(r"^[A-Za-z0-9_./$(<][\x20-\x7e]*$")
_STRUCTURAL = (": ", " #")
_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"


def _plain_ok(text: str) -> bool:
    return (
        _PLAIN.fullmatch(text) is not None
        and not text.endswith((" ", ":"))
        and not any(mark in text for mark in _STRUCTURAL)
        and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR
    )


def _literal_ok(text: str) -> bool:
    """A `|` block keeps the text as written; it cannot start with a space or blank line."""
    return (
        "\n" in text.rstrip("\n")
        and not text.startswith((" ", "\t", "\n"))
        and all(ch == "\n" or (ch.isprintable() and ch != "\t") for ch in text)
        and not text.endswith("\n\n")
    )


def _scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        text = repr(value)  # YAML 1.1 wants a dot before the exponent: 5.0e-324, not 5e-324
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text
    text = str(value)
    if _plain_ok(text):
        return text
    return _double_quoted(text)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _double_quoted(text: str) -> str:
    """YAML's double-quoted style, with every unprintable character escaped by code point."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(
                f"\\x{code:02X}"
                if code <= 0xFF
                else f"\\u{code:04X}"
                if code <= 0xFFFF
                else f"\\U{code:08X}"
            )
    return '"' + "".join(out) + '"'


def _block(text: str, indent: int) -> list[str]:
    header = "|" if text.endswith("\n") else "|-"
    pad = " " * indent
    return [header, *[f"{pad}{line}" if line else "" for line in text.rstrip("\n").split("\n")]]


def _is_collection(value: Any) -> bool:
    inner = value.value if isinstance(value, _Tagged) else value
    return isinstance(inner, dict | list) and bool(inner)


def _value(value: Any, indent: int) -> tuple[str, list[str]]:
    """(text after `key:` or `- `, the following lines) for one value."""
    tag = ""
    if isinstance(value, _Tagged):
        tag, value = value.tag, value.value
    if isinstance(value, dict) and value:
        return tag, _mapping(value, indent + 2)
    if isinstance(value, list) and value:
        return tag, _sequence(value, indent)
    if isinstance(value, dict):
        return f"{tag} {{}}".strip(), []
    if isinstance(value, list):
        return f"{tag} []".strip(), []
    if isinstance(value, str) and _literal_ok(value):
        header, *lines = _block(value, indent + 2)
        return f"{tag} {header}".strip(), lines
    return f"{tag} {_scalar(value)}".strip(), []


def _mapping(node: dict[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, value in node.items():
        head, rest = _value(value, indent)
        lines.append(f"{pad}{_scalar(key)}:" + (f" {head}" if head else ""))
        lines.extend(rest)
    return lines


def _sequence(items: list[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for item in items:
        inner = item.value if isinstance(item, _Tagged) else item
        if isinstance(inner, dict) and inner and not isinstance(item, _Tagged):
            nested = _mapping(inner, indent + 2)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines.extend(nested[1:])
        elif isinstance(inner, list) and inner and not isinstance(item, _Tagged):
            nested = _sequence(inner, indent + 2)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines.extend(nested[1:])
        else:
            head, rest = _value(item, indent + 2 if _is_collection(item) else indent)
            lines.append(f"{pad}- {head}".rstrip())
            lines.extend(rest)
    return lines


def to_yaml(document: dict[str, Any]) -> str:
    """Block-style YAML for a template, written directly: PyYAML's emitter was 75% of a
    build's time. Parsing the result gives back `document` exactly (tests check)."""
    body = {key: _short_form(value) for key, value in document.items()}
    return "\n".join(_mapping(body, 0)) + "\n"


# The intrinsic functions CloudFormation accepts in short form.
SHORT_FORMS = frozenset(
    {
        "Base64", "Cidr", "FindInMap", "GetAZs", "ImportValue", "Join", "Select", "Split",
        "Sub", "Transform", "And", "Equals", "If", "Not", "Or", "ToJsonString", "Length",
    }
)  # fmt: skip


def _short_form(node: Any) -> Any:
    if isinstance(node, dict):
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return _Tagged("!Ref", value)
            if (
                key == "Fn::GetAtt"
                and isinstance(value, list)
                and all(isinstance(v, str) for v in value)
            ):
                return _Tagged("!GetAtt", ".".join(value))
            if key.removeprefix("Fn::") in SHORT_FORMS and key.startswith("Fn::"):
                return _Tagged("!" + key.removeprefix("Fn::"), _short_form(value))
            if key == "Condition" and isinstance(value, str):
                return _Tagged("!Condition", value)
        return {k: _short_form(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_short_form(v) for v in node]
    return node


TOP_LEVEL_ORDER = (
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Transform",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Resources",
    "Outputs",
)
RESOURCE_ORDER = (
    "Type",
    "Condition",
    "DependsOn",
    "Metadata",
    "Properties",
    "CreationPolicy",
    "UpdatePolicy",
    "DeletionPolicy",
    "UpdateReplacePolicy",
)


def _ordered(node: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    rank = {key: i for i, key in enumerate(order)}
    return dict(sorted(node.items(), key=lambda item: rank.get(item[0], len(order))))


def canonical(template: dict[str, Any]) -> dict[str, Any]:
    """The conventional section order, and Type first in every resource, for reviewers."""
    result = _ordered(template, TOP_LEVEL_ORDER)
    resources = result.get("Resources")
    if isinstance(resources, dict):
        result["Resources"] = {
            name: _ordered(resource, RESOURCE_ORDER) if isinstance(resource, dict) else resource
            for name, resource in resources.items()
        }
    return result


def render(template: dict[str, Any], fmt: Format = "yaml") -> str:
    template = canonical(template)
    if fmt == "json":
        return json.dumps(template, indent=2, ensure_ascii=False) + "\n"
    return to_yaml(template)
