"""Reading built template sets in blueprint tests: build a spec (or a variant of one) in
process, render its child stacks to dicts, and pick out resources, stages and policies."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from generator.assembly.assemble import TemplateSet
from generator.spec.loader import load_spec

Templates = dict[str, dict[str, Any]]


def build_set(path: Path) -> TemplateSet:
    loaded = load_spec(path)
    return loaded.blueprint.build(loaded.spec, "yaml")


def rendered(template_set: TemplateSet) -> Templates:
    """Child stack name -> its template as a dict."""
    return {child.name: child.template.to_dict() for child in template_set.children}


def write_variant(
    spec: dict[str, Any], folder: Path, mutate: Callable[[dict[str, Any]], None]
) -> Path:
    """A copy of `spec`, changed by `mutate`, written to `folder`."""
    data = copy.deepcopy(spec)
    mutate(data)
    path = folder / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def variant(
    spec: dict[str, Any], folder: Path, mutate: Callable[[dict[str, Any]], None]
) -> Templates:
    return rendered(build_set(write_variant(spec, folder, mutate)))


def resources(templates: Templates, stack: str) -> dict[str, dict[str, Any]]:
    return templates[stack]["Resources"]


def props(templates: Templates, stack: str, logical_id: str) -> dict[str, Any]:
    return resources(templates, stack)[logical_id]["Properties"]


def every_resource(templates: Templates, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        f"{stack}/{name}": res
        for stack, template in templates.items()
        for name, res in template.get("Resources", {}).items()
        if res["Type"] == resource_type
    }


def stages(templates: Templates) -> dict[str, dict[str, Any]]:
    return {s["Name"]: s for s in props(templates, "pipeline", "Pipeline")["Stages"]}


def actions(templates: Templates, stage: str) -> dict[str, dict[str, Any]]:
    return {a["Name"]: a for a in stages(templates)[stage]["Actions"]}


def deploy_stages(templates: Templates) -> list[str]:
    return [name for name in stages(templates) if name.startswith("Deploy")]


def action_variables(action: dict[str, Any]) -> dict[str, str]:
    """The CodeBuild action's EnvironmentVariables (a JSON string), name -> value."""
    return {
        v["name"]: v["value"] for v in json.loads(action["Configuration"]["EnvironmentVariables"])
    }


def project_variables(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["Name"]: v for v in project["Environment"]["EnvironmentVariables"]}


def statements(templates: Templates, policy: str) -> list[dict[str, Any]]:
    return list(props(templates, "iam", policy)["PolicyDocument"]["Statement"])


def by_sid(templates: Templates, policy: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements(templates, policy)}


def role_policies(templates: Templates, role: str) -> dict[str, list[dict[str, Any]]]:
    """Every inline policy attached to `role` (the scoped one and the wildcard-only one)."""
    return {
        name: list(res["Properties"]["PolicyDocument"]["Statement"])
        for name, res in resources(templates, "iam").items()
        if res["Type"] == "AWS::IAM::Policy" and {"Ref": role} in res["Properties"]["Roles"]
    }


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def sub_text(value: Any) -> str:
    sub = value["Fn::Sub"]
    return sub[0] if isinstance(sub, list) else sub


def buildspec(project: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The inline buildspec of a project, as text and parsed."""
    text = project["Source"]["BuildSpec"]
    assert isinstance(text, str), "the docker buildspec is plain text, not an Fn::Sub"
    return text, yaml.safe_load(text)


def buildspec_of_sub(project: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A report-publishing buildspec is an Fn::Sub; its ${ReportGroupArn} key is harmless."""
    text = sub_text(project["Source"]["BuildSpec"])
    return text, yaml.safe_load(text)


def commands(spec: dict[str, Any]) -> list[str]:
    return [c for phase in spec["phases"].values() for c in phase.get("commands", [])]
