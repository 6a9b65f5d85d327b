"""`pipegen lint FILE...`: any CloudFormation template through cfn-lint's stock rules, the
guardrails and the pipeline semantics rules (and `--rules DIR`), reported as text, cfn-lint's
JSON or SARIF, with cfn-lint's exit code bitmask (2 errors, 4 warnings, 8 informational) and
32 for input it cannot use."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import main
from tests.cfn_yaml import load_template

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "output"
PIPELINE = OUTPUT / "web-app" / "stacks" / "pipeline.yaml"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["lint", *args], catch_exceptions=False)


def write(folder: Path, name: str, template: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(json.dumps(template, indent=1))
    return path


PLANTED_STAGE = "DeployDev"


def stage_index(template: dict[str, Any], name: str) -> int:
    """The position of stage `name` in the template's pipeline (findings name it by index)."""
    stages = template["Resources"]["Pipeline"]["Properties"]["Stages"]
    (index,) = [i for i, stage in enumerate(stages) if stage["Name"] == name]
    return index


DEV = stage_index(load_template(PIPELINE), PLANTED_STAGE)


def planted(folder: Path) -> Path:
    """The web-app pipeline with an OnSuccess condition in DeployDev that fails instead of
    rolling back."""
    template = copy.deepcopy(load_template(PIPELINE))
    stage = template["Resources"]["Pipeline"]["Properties"]["Stages"][DEV]
    assert stage["Name"] == PLANTED_STAGE
    stage["OnSuccess"]["Conditions"][0]["Result"] = "FAIL"
    return write(folder, "pipeline.json", template)


def findings(severities: set[str]) -> dict[str, Any]:
    """A template with findings of exactly the given severities."""
    parameters: dict[str, Any] = {}
    resources: dict[str, Any] = {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": KEY_ARN}}
    }
    if "warning" in severities:
        parameters["Unused"] = {"Type": "String"}  # W2001
    if "informational" in severities:
        resources["Logs"] = {  # I3011: no DeletionPolicy / UpdateReplacePolicy
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"KmsKeyId": KEY_ARN, "RetentionInDays": 365},
        }
    if "error" in severities:
        resources["Topic"]["Properties"] = {}  # E9301: not encrypted
    template: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09"}
    if parameters:
        template["Parameters"] = parameters
    template["Resources"] = resources
    return template


def test_a_clean_template_exits_0_with_a_summary() -> None:
    result = run(str(PIPELINE))
    assert result.exit_code == 0, result.output
    assert result.output == "1 file(s) linted: no findings\n"


def test_text_names_file_line_rule_and_message(tmp_path: Path) -> None:
    path = planted(tmp_path)
    result = run(str(path))
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2, result.output
    location, _, rest = lines[0].partition(": E9603 (error) ")
    file, line, column = location.rsplit(":", 2)
    assert (file, int(line) > 1, int(column) > 0) == (str(path), True, True)
    assert rest == (
        f"Pipeline Stages[{DEV}].OnSuccess.Conditions[0].Result: an OnSuccess condition takes "
        "Result ROLLBACK, not 'FAIL'; set Result: ROLLBACK"
    )
    assert lines[1] == "1 file(s) linted: 1 error"


@pytest.mark.parametrize(
    ("severities", "code"),
    [
        (set(), 0),
        ({"error"}, 2),
        ({"warning"}, 4),
        ({"informational"}, 8),
        ({"warning", "informational"}, 12),
        ({"error", "warning", "informational"}, 14),
    ],
)
def test_exit_code_is_cfn_lints_bitmask(tmp_path: Path, severities: set[str], code: int) -> None:
    result = run(str(write(tmp_path, "t.json", findings(severities))))
    assert result.exit_code == code, result.output
    found = {line.split(" (")[1].split(")")[0] for line in result.output.splitlines()[:-1]}
    assert found == severities


def test_json_is_cfn_lints_json(tmp_path: Path) -> None:
    path = planted(tmp_path)
    result = run("--format", "json", str(path), str(PIPELINE))
    assert result.exit_code == 2
    (finding,) = json.loads(result.output)
    assert finding["Filename"] == str(path)
    assert finding["Level"] == "Error"
    assert finding["Rule"]["Id"] == "E9603"
    assert finding["Rule"]["Source"].startswith("https://docs.aws.amazon.com/codepipeline/")
    assert finding["Location"]["Path"] == [
        "Resources", "Pipeline", "Properties", "Stages", DEV,
        "OnSuccess", "Conditions", 0, "Result",
    ]  # fmt: skip
    assert finding["Location"]["Start"]["LineNumber"] > 1
    assert "takes Result ROLLBACK, not 'FAIL'" in finding["Message"]
    clean = run("--format", "json", str(PIPELINE))
    assert (clean.exit_code, json.loads(clean.output)) == (0, [])


def test_sarif_is_sarif_2_1_0(tmp_path: Path) -> None:
    path = planted(tmp_path)
    warning = write(tmp_path, "warning.json", findings({"warning", "informational"}))
    result = run("--format", "sarif", str(path), str(warning))
    assert result.exit_code == 2 | 4 | 8
    log = json.loads(result.output)
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    (sarif_run,) = log["runs"]
    driver = sarif_run["tool"]["driver"]
    assert driver["name"] == "pipegen lint"
    rules = {rule["id"]: rule for rule in driver["rules"]}
    assert set(rules) == {"E9603", "W2001", "I3011"}
    assert rules["E9603"]["helpUri"].startswith("https://docs.aws.amazon.com/")
    assert rules["E9603"]["shortDescription"]["text"]
    assert rules["E9603"]["fullDescription"]["text"]
    levels = {r["ruleId"]: r["level"] for r in sarif_run["results"]}
    assert levels == {"E9603": "error", "W2001": "warning", "I3011": "note"}
    (error,) = [r for r in sarif_run["results"] if r["ruleId"] == "E9603"]
    location = error["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == path.as_posix()
    assert location["region"]["startLine"] > 1
    assert "takes Result ROLLBACK" in error["message"]["text"]


def test_regions_are_repeatable_or_comma_separated(tmp_path: Path) -> None:
    path = planted(tmp_path)
    for args in (
        ["--regions", "us-east-1", "--regions", "eu-west-1"],
        ["--regions", "us-east-1,eu-west-1"],
    ):
        result = run(*args, str(path))
        assert result.exit_code == 2, result.output
        assert "E9603" in result.output


PLATFORM_RULE = """
from cfnlint.rules import CloudFormationLintRule, RuleMatch


class PipelineNamePrefix(CloudFormationLintRule):
    id = "W9901"
    shortdesc = "Pipeline names start with acme-"
    description = "Platform naming convention"
    source_url = "https://docs.aws.amazon.com/codepipeline/latest/userguide/welcome.html"
    tags = ["platform"]

    def match(self, cfn):
        return [
            RuleMatch(["Resources", name, "Properties", "Name"], "not an acme pipeline")
            for name, resource in cfn.get_resources(["AWS::CodePipeline::Pipeline"]).items()
            if not str(resource["Properties"].get("Name", "")).startswith("acme-")
        ]
"""


def test_rules_dir_adds_a_platform_teams_rules(tmp_path: Path) -> None:
    folder = tmp_path / "platform"
    folder.mkdir()
    (folder / "PipelineNamePrefix.py").write_text(PLATFORM_RULE)
    result = run("--rules", str(folder), str(PIPELINE))
    assert result.exit_code == 4, result.output
    assert "W9901 (warning) not an acme pipeline" in result.output
    assert run(str(PIPELINE)).exit_code == 0, "only with --rules"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Missing argument 'FILES...'"),
        (["missing.yaml"], "File 'missing.yaml' does not exist"),
        (["."], "is a directory"),
        (["--format", "xml", str(PIPELINE)], "'xml' is not one of 'text', 'json', 'sarif'"),
        (["--regions", "us-east-9", str(PIPELINE)], "'us-east-9' is not a region cfn-lint knows"),
        (["--rules", "no-such-dir", str(PIPELINE)], "rules directory 'no-such-dir' does not exist"),
        (["--no-such-option", str(PIPELINE)], "No such option '--no-such-option'"),
    ],
)
def test_bad_usage_exits_32_with_one_clear_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["lint", *args])
    assert result.exit_code == 32, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_bad_usage(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.json", findings(set()))
    path.chmod(0)
    result = CliRunner().invoke(main, ["lint", str(path)])
    assert result.exit_code == 32
    assert "is not readable" in result.output


def test_a_broken_template_is_an_error_finding_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("Resources: [\n")
    result = run(str(path))
    assert result.exit_code == 2
    assert " E0000 (error) " in result.output


def templates_in_output() -> list[Path]:
    """Every CloudFormation template the build gate lints (app/ holds application files)."""
    return sorted(p for p in OUTPUT.rglob("*.yaml") if "app" not in p.relative_to(OUTPUT).parts)


def test_every_template_in_output_passes() -> None:
    files = templates_in_output()
    assert len(files) >= 3 * 7, "the committed templates are missing"
    result = run(*map(str, files))
    assert result.exit_code == 0, result.output
