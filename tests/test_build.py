"""End to end: specs in pipelines/ become the committed output/, deterministically and safely."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator import __version__, build, writer
from generator.cli import main
from generator.components.iam import wildcard_only_actions
from generator.errors import LintFailure
from generator.lint.gate import Finding
from tests.cfn_yaml import load_template
from tests.component_lint import team_rules

REPO = Path(__file__).resolve().parent.parent
SPECS = sorted((REPO / "pipelines").glob("*.yaml"))
WEB_APP_SPEC = REPO / "pipelines" / "web-app.yaml"
OUTPUT = REPO / "output"


def before_names(files: dict[str, bytes]) -> set[str]:
    return {path.split("/", 1)[0] for path in files}


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fresh")
    build.build(SPECS, out)
    return out


def test_committed_output_matches_a_fresh_build(fresh: Path) -> None:
    for spec in SPECS:
        name = yaml.safe_load(spec.read_text())["name"]
        assert tree(fresh / name) == tree(OUTPUT / name), f"output/{name} is stale: make templates"


def test_web_app_has_root_children_and_app_files(fresh: Path) -> None:
    folder = fresh / "web-app"
    children = sorted(p.name for p in (folder / "stacks").iterdir())
    assert len(children) >= 5
    assert {"iam.yaml", "pipeline.yaml", "artifact-store.yaml"} <= set(children)
    assert {"buildspec.yml", "appspec.yml"} <= {p.name for p in (folder / "app").iterdir()}
    assert os.access(folder / "app/scripts/validate_service.sh", os.X_OK)


def test_identical_bytes_across_hash_seeds(tmp_path: Path) -> None:
    outputs = []
    for seed in ("1", "4242"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [sys.executable, "-m", "generator.cli", "build", "--out", str(out), *map(str, SPECS)],
            check=True,
            cwd=REPO,
            env=env,
            capture_output=True,
        )
        outputs.append(tree(out))
    assert outputs[0] == outputs[1]


def test_lint_failure_leaves_previous_output_untouched(
    fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    build.build(SPECS, out)
    before = tree(out)
    planted = Finding("web-app/stacks/iam.yaml", 3, "E3012", "error", "planted")

    def lint_all(jobs: Any, *args: Any) -> list[list[Finding]]:
        return [[planted] if job.display == planted.path else [] for job in jobs]

    monkeypatch.setattr(build, "lint_all", lint_all)
    with pytest.raises(LintFailure) as caught:
        build.build(SPECS, out, cache_dir=None)
    assert "web-app/stacks/iam.yaml:3: E3012 (error) planted" in str(caught.value)
    assert tree(out) == before
    assert sorted(p.name for p in out.iterdir()) == sorted(before_names(before)), "staging left"


def test_failed_swap_restores_previous_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    build.build(SPECS, out)
    before = tree(out)
    real_replace = os.replace
    calls = {"n": 0}

    def flaky_replace(src: Any, dst: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the move of the new folder into place
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(writer.os, "replace", flaky_replace)
    with pytest.raises(OSError):
        build.build(SPECS, out)
    monkeypatch.setattr(writer.os, "replace", real_replace)
    assert tree(out) == before


def test_read_only_output_is_a_clear_error_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulated: the suite may run as root, which no file mode stops."""
    out = tmp_path / "out"
    build.build(SPECS, out)
    before = tree(out)

    def refuse(*args: Any, **kwargs: Any) -> str:
        raise PermissionError(13, "Permission denied", str(out))

    monkeypatch.setattr(writer.tempfile, "mkdtemp", refuse)
    result = CliRunner().invoke(main, ["build", "--out", str(out), "--no-cache"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"{out}: Permission denied; pipegen could not write there, so nothing was changed: make "
        "the folder writable, or build elsewhere with --out DIR\n"
    )
    assert "Traceback" not in result.output
    assert tree(out) == before


def test_building_all_specs_prunes_outputs_whose_spec_is_gone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "retired").mkdir(parents=True)
    (out / "retired" / "root.yaml").write_text("old")
    (out / "notes").mkdir()
    (out / "notes" / "keep.txt").write_text("not ours")
    result = build.build(SPECS, out, prune=True)
    assert result.removed == ["retired"]
    assert (out / "notes" / "keep.txt").read_text() == "not ours"


def test_json_format_points_nested_stacks_at_json_children(tmp_path: Path) -> None:
    build.build(SPECS[:1], tmp_path, template_format="json")
    name = yaml.safe_load(SPECS[0].read_text())["name"]
    root = json.loads((tmp_path / name / "root.json").read_text())
    urls = [
        r["Properties"]["TemplateURL"]["Fn::Sub"]
        for r in root["Resources"].values()
        if r["Type"] == "AWS::CloudFormation::Stack"
    ]
    assert urls and all(u.endswith(".json") for u in urls)
    for url in urls:
        assert (tmp_path / name / "stacks" / url.rsplit("/", 1)[1]).is_file()


def _statements(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            found.append(node)
        for value in node.values():
            found += _statements(value)
    elif isinstance(node, list):
        for item in node:
            found += _statements(item)
    return found


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_wildcard_actions_and_star_resources_only_where_aws_requires(fresh: Path) -> None:
    allowed = wildcard_only_actions()
    for path in sorted(fresh.rglob("stacks/*.yaml")):
        template = load_template(path)
        for name, resource in template["Resources"].items():
            if resource["Type"] in (
                "AWS::KMS::Key",
                "AWS::KMS::ReplicaKey",
                "AWS::S3::BucketPolicy",
            ):
                continue  # resource policies: "*" means "this key/bucket", Deny statements
            for statement in _statements(resource.get("Properties", {})):
                if statement["Effect"] != "Allow":
                    continue
                actions = _listed(statement["Action"])
                assert not any("*" in str(a) for a in actions), f"{path.name}:{name}: {actions}"
                if "*" in _listed(statement.get("Resource", [])):
                    extra = [a for a in actions if a not in allowed]
                    assert not extra, f"{path.name}:{name}: Resource * for {extra}"


def test_root_is_console_ready(fresh: Path) -> None:
    root = load_template(fresh / "web-app" / "root.yaml")
    interface = root["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [p for g in interface["ParameterGroups"] for p in g["Parameters"]]
    assert sorted(grouped) == sorted(root["Parameters"])
    for name, parameter in root["Parameters"].items():
        assert parameter["Description"], name
        assert name in interface["ParameterLabels"]
        assert {"AllowedPattern", "AllowedValues"} & set(parameter), name
        assert "ConstraintDescription" in parameter, name
    assert {
        "PipelineName",
        "PipelineConsoleUrl",
        "ArtifactBucketName",
        "NotificationTopicArn",
    } <= set(root["Outputs"])


def test_every_taggable_resource_carries_cost_tags(fresh: Path) -> None:
    for path in sorted(fresh.rglob("stacks/*.yaml")):
        for name, resource in load_template(path)["Resources"].items():
            tags = resource.get("Properties", {}).get("Tags")
            if tags is None:
                continue
            keys = {t["Key"] for t in tags} if isinstance(tags, list) else set(tags)
            assert {"pipegen:pipeline", "pipegen:blueprint", "CostCenter"} <= keys, name


def test_cli_version_schema_list_and_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["--version"]).output.strip() == f"pipegen, version {__version__}"
    schema = json.loads(runner.invoke(main, ["schema"]).output)
    assert schema["discriminator"]["propertyName"] == "blueprint"
    for model in ("WebAppSpec", "MicroserviceSpec"):
        assert schema["$defs"][model]["additionalProperties"] is False
        assert "environments" in schema["$defs"][model]["required"]
    assert "web-app:" in runner.invoke(main, ["list"]).output
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipelines").mkdir()
    starter = runner.invoke(main, ["new", "web-app", "my-shop"])
    assert starter.exit_code == 0
    (tmp_path / "pipelines" / "my-shop.yaml").write_text(starter.output)
    result = runner.invoke(main, ["validate"])
    assert result.exit_code == 0, result.output
    assert "pipelines/my-shop.yaml: ok (web-app pipeline my-shop)" in result.output
    bad = runner.invoke(main, ["new", "web-app", "My_Shop"])
    assert bad.exit_code == 2
    assert "is not a valid pipeline name" in bad.output


def test_two_specs_with_one_pipeline_name_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text(WEB_APP_SPEC.read_text())
    (tmp_path / "b.yaml").write_text("# a copy\n" + WEB_APP_SPEC.read_text())
    result = CliRunner().invoke(main, ["build", "--out", "out", "a.yaml", "b.yaml"])
    assert result.exit_code == 2
    assert result.stderr == (
        "b.yaml:4: name: pipeline 'web-app' is already defined in a.yaml; pipeline names must "
        "be unique, so rename one of them\n"
    )
    assert not (tmp_path / "out" / "web-app").exists()


def test_concurrent_builds_leave_one_complete_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "generator.cli", "build", "--out", str(out), *map(str, SPECS)]
    builds = [
        subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    for process in builds:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()
    fresh_out = tmp_path / "fresh"
    build.build(SPECS, fresh_out, cache_dir=None)
    assert tree(out) == tree(fresh_out)
    assert not [p for p in out.iterdir() if p.name.startswith(".pipegen-staging-")]


def test_cli_exit_codes_for_lint_failures_and_bad_usage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = Finding("web-app/stacks/iam.yaml", 3, "E3012", "error", "planted", "PipelineRole")

    def lint_all(jobs: Any, *args: Any) -> list[list[Finding]]:
        return [[planted] if job.display == planted.path else [] for job in jobs]

    monkeypatch.setattr(build, "lint_all", lint_all)
    runner = CliRunner()
    failed = runner.invoke(
        main, ["build", "--no-cache", "--out", str(tmp_path / "out"), str(WEB_APP_SPEC)]
    )
    assert failed.exit_code == 1
    assert "web-app/stacks/iam.yaml:3: E3012 (error) PipelineRole: planted" in failed.stderr
    assert not (tmp_path / "out" / "web-app").exists()
    usage = runner.invoke(main, ["build", "--jobs", "0"])
    assert usage.exit_code == 2
    assert "Traceback" not in usage.output


def test_build_rules_option_adds_a_teams_rules_to_the_gate(tmp_path: Path) -> None:
    """`pipegen build --rules DIR`: a platform team's own cfn-lint rules run in the gate, and
    a finding stops the build (exit 1) before anything is written."""
    rules = team_rules(tmp_path / "team-rules")
    out = tmp_path / "out"
    web_app = str(REPO / "pipelines" / "web-app.yaml")
    result = CliRunner().invoke(main, ["build", web_app, "--out", str(out), "--rules", str(rules)])
    assert result.exit_code == 1, result.output
    assert "E9990 (error) ProdApprovalTopic: ProdApprovalTopic: topics are not allowed here" in (
        result.stderr
    )
    assert not out.exists() or not any(out.iterdir())
    missing = CliRunner().invoke(main, ["build", web_app, "--rules", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert missing.stderr == f"rules directory {str(tmp_path / 'nope')!r} does not exist\n"
