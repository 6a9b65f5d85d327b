"""Governance and advanced delivery as the shipped pipelines carry them: where each stage and
action sits, and what ships beside the templates (each component has its own tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.components.load_test import perf_baseline_source
from generator.components.self_update import script_source
from tests.template_reading import every_resource, props, stages
from tests.test_operations import built

ROOT = Path(__file__).resolve().parent.parent
NAMES = sorted(p.stem for p in (ROOT / "pipelines").glob("*.yaml"))


def order(templates: dict, stage: str) -> list[tuple[str, int, str]]:  # type: ignore[type-arg]
    return [
        (a["Name"], a.get("RunOrder", 1), a["ActionTypeId"]["Provider"])
        for a in stages(templates)[stage]["Actions"]
    ]


@pytest.mark.parametrize("name", NAMES)
def test_every_pipeline_updates_itself_right_after_source(name: str) -> None:
    template_set, templates = built(name)
    assert list(stages(templates))[:2] == ["Source", "UpdatePipeline"]
    (update,) = stages(templates)["UpdatePipeline"]["Actions"]
    assert update["ActionTypeId"]["Provider"] == "CodeBuild"
    assert update["Namespace"] == "UpdateVariables"
    assert props(templates, "pipeline", "Pipeline")["RestartExecutionOnUpdate"] is True
    assert template_set.documents["scripts/publish_templates.py"] == script_source()


def test_path_filters_also_watch_the_committed_templates() -> None:
    _, templates = built("web-app")
    (trigger,) = props(templates, "pipeline", "Pipeline")["Triggers"]
    includes = trigger["GitConfiguration"]["Push"][0]["FilePaths"]["Includes"]
    assert includes[-1] == "output/web-app/**"
    assert "src/**" in includes


def test_web_app_staging_load_tests_then_runs_chaos_after_its_smoke_test() -> None:
    _, templates = built("web-app")
    assert order(templates, "DeployStaging") == [
        ("Deploy", 1, "CodeDeploy"),
        ("SmokeTest", 2, "CodeBuild"),
        ("LoadTest", 3, "CodeBuild"),
        ("ChaosExperimentStaging", 4, "CodeBuild"),
    ]
    for stage in ("DeployDev", "DeployProd"):
        assert [a for a, _, _ in order(templates, stage)] == ["Deploy", "SmokeTest"]


def test_the_chaos_experiment_stops_on_stagings_alarms() -> None:
    _, templates = built("web-app")
    (experiment,) = every_resource(templates, "AWS::FIS::ExperimentTemplate").values()
    stops = experiment["Properties"]["StopConditions"]
    assert {s["Source"] for s in stops} == {"aws:cloudwatch:alarm"}
    assert len(stops) == 2  # staging's 5xx and latency alarms


def test_the_load_test_compares_with_the_shipped_baseline_script() -> None:
    template_set, _ = built("web-app")
    assert template_set.files["perf_baseline.py"] == perf_baseline_source()
    template_set, _ = built("serverless")
    assert "perf_baseline.py" not in template_set.files


def test_microservice_ships_its_flags_after_each_deploy_and_before_the_smoke_test() -> None:
    _, templates = built("microservice")
    for stage in ("DeployDev", "DeployStaging", "DeployProd"):
        names = [(a, n) for a, n, _ in order(templates, stage)]
        assert names[1:] == [("DeployFeatureFlags", 2), ("SmokeTest", 3)], stage
    flags = next(
        a for a in stages(templates)["DeployProd"]["Actions"] if a["Name"] == "DeployFeatureFlags"
    )
    assert flags["ActionTypeId"] == {
        "Category": "Deploy",
        "Owner": "AWS",
        "Provider": "AppConfig",
        "Version": "1",
    }
    assert flags["Configuration"]["InputArtifactConfigurationPath"] == "flags/flags.json"
    assert flags["InputArtifacts"] == [{"Name": "Source"}]


def test_only_the_pipeline_with_audit_has_the_trail() -> None:
    for name in NAMES:
        _, templates = built(name)
        trails = every_resource(templates, "AWS::CloudTrail::Trail")
        assert bool(trails) == (name == "web-app"), name
