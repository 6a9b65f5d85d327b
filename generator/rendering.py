"""Deterministic text for templates: the same dict always gives the same bytes.

YAML uses CloudFormation's short-form tags (`!Ref`, `!GetAtt A.B`, `!Sub`) because reviewers
read these files in pull requests. Key order is the order the generator built, which is fixed
by code, never by hashing; nothing here depends on PYTHONHASHSEED.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

Format = str  # "yaml" | "json"


class _Tagged:
    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True

    def choose_scalar_style(self) -> str:
        # PyYAML quotes every explicitly tagged scalar; `!Ref Bucket` reads better than
        # `!Ref 'Bucket'` and means the same, so use plain style wherever YAML allows it.
        style = str(super().choose_scalar_style())
        event = self.event
        analysis = self.analysis
        if (
            style == "'"
            and isinstance(event, yaml.ScalarEvent)
            and event.tag is not None
            and event.tag.startswith("!")
            and not event.style
            and analysis is not None
            and analysis.allow_block_plain
            and not analysis.multiline
            and not analysis.empty
            and not self.flow_level
        ):
            return ""
        return style


def _represent_tagged(dumper: yaml.SafeDumper, data: _Tagged) -> yaml.Node:
    if isinstance(data.value, dict):
        return dumper.represent_mapping(data.tag, data.value)
    if isinstance(data.value, list):
        return dumper.represent_sequence(data.tag, data.value)
    return dumper.represent_scalar(data.tag, str(data.value), style=_style(str(data.value)))


def _style(text: str) -> str | None:
    return "|" if "\n" in text else None


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=_style(data))


_Dumper.add_representer(_Tagged, _represent_tagged)
_Dumper.add_representer(str, _represent_str)


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
            if key.startswith("Fn::") or (key == "Condition" and isinstance(value, str)):
                tag = "!" + key.removeprefix("Fn::")
                return _Tagged(tag, _short_form(value))
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
    if "Resources" in result:
        result["Resources"] = {
            name: _ordered(resource, RESOURCE_ORDER)
            for name, resource in result["Resources"].items()
        }
    return result


def render(template: dict[str, Any], fmt: Format = "yaml") -> str:
    template = canonical(template)
    if fmt == "json":
        return json.dumps(template, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(
        _short_form(template),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
    )
