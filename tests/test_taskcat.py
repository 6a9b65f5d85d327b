"""`output/<pipeline>/.taskcat.yml`: a taskcat project config that deploy-tests the root template.

The config is checked twice: here, against the root template's own parameter constraints, and
by taskcat itself in its own virtualenv (.venv-taskcat; `make test` builds it), which loads it
with taskcat's Config class and JSON schema, finds the nested templates and resolves the
pseudo-parameters the way `taskcat test run` would, offline.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import writer
from generator.assembly.assemble import TemplateSet
from generator.review import taskcat
from generator.review.taskcat import placeholder, resolve_sample, satisfies, taskcat_config
from generator.spec.loader import load_spec

REPO = Path(__file__).resolve().parent.parent
SPECS = sorted((REPO / "pipelines").glob("*.yaml"))
TASKCAT_PYTHON = REPO / ".venv-taskcat" / "bin" / "python"
RESOLVER = REPO / "tests" / "taskcat" / "resolve_parameters.py"
LOCATION = {"TemplateBucketName", "TemplateKeyPrefix", "TemplateBucketRegion"}


@cache
def template_sets() -> dict[str, TemplateSet]:
    built = {}
    for path in SPECS:
        loaded = load_spec(path, str(path))
        template_set = loaded.blueprint.build(loaded.spec, "yaml")
        built[template_set.pipeline] = template_set
    return built


def parameters(template_set: TemplateSet) -> dict[str, dict[str, Any]]:
    return dict(template_set.root.to_dict()["Parameters"])


def accepts(spec: dict[str, Any], value: str) -> bool:
    """What CloudFormation checks of a String parameter, written out again for the test."""
    pattern = spec.get("AllowedPattern")
    return (
        (pattern is None or re.fullmatch(pattern, value) is not None)
        and spec.get("MinLength", 0) <= len(value) <= spec.get("MaxLength", 4096)
        and (not spec.get("AllowedValues") or value in spec["AllowedValues"])
    )


PIPELINES = sorted(template_sets())


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_project_template_and_regions(pipeline: str) -> None:
    template_set = template_sets()[pipeline]
    text = taskcat_config(template_set)
    assert text == taskcat_config(template_set), "deterministic"
    assert text.startswith(f"# taskcat project config for the {pipeline} pipeline")
    config = yaml.safe_load(text)
    assert config["project"]["name"] == pipeline
    assert config["project"]["regions"] == sorted(set(template_set.regions))
    assert config["project"]["s3_regional_buckets"] is True
    assert list(config["tests"]) == ["default"]
    assert config["tests"]["default"]["template"] == "root.yaml"
    given = config["tests"]["default"]["parameters"]
    assert list(given) == sorted(given)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_template_location_maps_to_taskcat_pseudo_parameters(pipeline: str) -> None:
    given = yaml.safe_load(taskcat_config(template_sets()[pipeline]))["tests"]["default"]
    assert {k: v for k, v in given["parameters"].items() if k in LOCATION} == {
        "TemplateBucketName": "$[taskcat_autobucket]",
        "TemplateKeyPrefix": "$[taskcat_project_name]/",
        "TemplateBucketRegion": "$[taskcat_current_region]",
    }


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_every_parameter_without_default_gets_a_value_that_satisfies_it(pipeline: str) -> None:
    template_set = template_sets()[pipeline]
    declared = parameters(template_set)
    given = yaml.safe_load(taskcat_config(template_set))["tests"]["default"]["parameters"]
    required = {name for name, spec in declared.items() if "Default" not in spec}
    assert required - LOCATION, "every blueprint has a parameter without a default"
    assert set(given) == required | LOCATION, "defaults are kept, nothing undeclared is given"
    for name in sorted(given):
        value = resolve_sample(given[name], pipeline)
        assert "$[" not in value, f"{name}: {given[name]} uses an unknown pseudo-parameter"
        assert accepts(declared[name], value), f"{name}: {value!r} breaks {declared[name]}"
        if name not in LOCATION:  # obviously a placeholder: ours, or the description's example
            example = f"such as {value}" in str(declared[name].get("Description", ""))
            assert "123456789012" in value or "pipegen-test" in value or example, f"{name}"


def test_regions_can_be_narrowed_to_the_home_region() -> None:
    template_set = template_sets()["multi-region"]
    assert len(template_set.regions) > 1
    config = yaml.safe_load(taskcat_config(template_set, regions=["us-east-1"]))
    assert config["project"]["regions"] == ["us-east-1"]
    with pytest.raises(ValueError, match="no region"):
        taskcat.config(template_set, regions=[])


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("Stage", {"Type": "String", "AllowedValues": ["beta", "prod"]}),
        ("Replicas", {"Type": "Number", "MinValue": 2}),
        ("Token", {"Type": "String", "AllowedPattern": "^[a-z]{20}$"}),
        ("Label", {"Type": "String", "AllowedPattern": "^[a-z-]+$", "MaxLength": 30}),
        ("DevOpsRoleArn", {"Type": "String", "AllowedPattern": r"^arn:aws:iam::\d{12}:role/.+$"}),
        (
            "ExtremelyLongEnvironmentNameBlueTargetGroupArn",
            {
                "Type": "String",
                "AllowedPattern": r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:"
                r"targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$",
            },
        ),
    ],
)
def test_placeholders_for_shapes_no_committed_spec_has(name: str, spec: dict[str, Any]) -> None:
    value = placeholder(name, spec, "demo")
    assert satisfies(spec, resolve_sample(value, "demo")), value


# -- taskcat's own loader, in taskcat's own virtualenv ------------------------------------------


def taskcat_python() -> Path:
    if not TASKCAT_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{TASKCAT_PYTHON} is missing: `make test` builds it (make taskcat-venv)")
        pytest.skip(f"{TASKCAT_PYTHON} is missing: make taskcat-venv")
    return TASKCAT_PYTHON


def project(folder: Path, template_set: TemplateSet, config: str) -> Path:
    """What `output/<pipeline>/` holds for taskcat: the rendered templates and the config."""
    writer.write_tree(folder, writer.render_set(template_set, "yaml"))
    (folder / ".taskcat.yml").write_text(config, encoding="utf-8")
    return folder


def run_taskcat(*folders: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(taskcat_python()), str(RESOLVER), *map(str, folders)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=folders[0],  # taskcat resolves a few defaults against the working directory
        env={k: v for k, v in os.environ.items() if not k.startswith("TASKCAT_")},
    )


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """pipeline -> what taskcat made of its config, every pipeline in one taskcat process."""
    taskcat_python()
    root = tmp_path_factory.mktemp("taskcat")
    folders = {
        name: project(root / name, template_set, taskcat_config(template_set))
        for name, template_set in template_sets().items()
    }
    result = run_taskcat(*folders.values())
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    return {name: described[str(folder)] for name, folder in folders.items()}


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_taskcat_loads_the_config_and_its_schema_accepts_it(
    loaded: dict[str, dict[str, Any]], pipeline: str
) -> None:
    template_set = template_sets()[pipeline]
    described = loaded[pipeline]
    assert described["schema_errors"] == []
    assert described["name"] == pipeline
    (test,) = described["tests"].values()
    assert test["template"] == "root.yaml"
    assert test["regions"] == sorted(set(template_set.regions))
    assert test["s3_regional_buckets"] is True
    assert test["undeclared"] == [], "taskcat would silently drop these"
    # taskcat found every nested template where the root's TemplateURLs will look for it
    assert test["s3_key"] == f"{pipeline}/root.yaml"
    assert test["children"] == sorted(
        f"{pipeline}/stacks/{child.file_name}" for child in template_set.children
    )


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_taskcat_resolves_every_parameter_to_a_value_the_template_accepts(
    loaded: dict[str, dict[str, Any]], pipeline: str
) -> None:
    template_set = template_sets()[pipeline]
    declared = parameters(template_set)
    (test,) = loaded[pipeline]["tests"].values()
    assert sorted(test["parameters"]) == sorted(set(template_set.regions))
    for region, values in test["parameters"].items():
        assert set(values) == set(declared), region
        for name, value in values.items():
            assert isinstance(value, str) and "$[" not in value, (region, name, value)
            assert accepts(declared[name], value), (region, name, value, declared[name])
            if "Default" in declared[name] and name not in LOCATION:
                assert value == declared[name]["Default"], "defaults are kept"
        assert values["TemplateBucketRegion"] == region
        assert values["TemplateKeyPrefix"] == f"{pipeline}/"
        assert values["TemplateBucketName"].endswith(f"-{region}")


def test_taskcat_rejects_a_config_it_cannot_use(tmp_path: Path) -> None:
    """The loader check bites: a misspelt key and a missing parameter value both fail."""
    template_set = template_sets()["serverless"]
    config = yaml.safe_load(taskcat_config(template_set))
    config["project"]["regoins"] = config["project"].pop("regions")
    misspelt = project(tmp_path / "misspelt", template_set, yaml.safe_dump(config))
    result = run_taskcat(misspelt)
    assert result.returncode != 0
    assert "regoins" in result.stderr

    config = yaml.safe_load(taskcat_config(template_set))
    del config["tests"]["default"]["parameters"]["ConnectionArn"]
    missing = project(tmp_path / "missing", template_set, yaml.safe_dump(config))
    result = run_taskcat(missing)
    assert result.returncode != 0
    assert "ConnectionArn" in result.stderr
