"""`pipegen build --sarif FILE` (and `pipegen lint --sarif FILE`): the lint findings as SARIF 2.1.0
for GitHub code scanning, validated against the official OASIS schema vendored in tests/data/
(see tests/data/sarif-schema-2.1.0.md for where it came from)."""

from __future__ import annotations

import json
import random
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft4Validator

from generator import __version__, writer
from generator.cli import main
from generator.lint.gate import Finding
from generator.review import sarif
from generator.spec.loader import load_spec
from tests.component_lint import team_rules

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "tests" / "data" / "sarif-schema-2.1.0.json"
WEB_APP = REPO / "pipelines" / "web-app.yaml"
FINDING_LINE = re.compile(r"^  (\S+):(\d+): (\S+) \((\w+)\) (.*)$")


@cache
def validator() -> Draft4Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)


def valid(document: dict[str, Any]) -> dict[str, Any]:
    errors = sorted(
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator().iter_errors(document)
    )
    assert errors == [], "\n".join(errors)
    return document


def read_sarif(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    return valid(json.loads(text))


def check_github_shape(document: dict[str, Any]) -> None:
    """What GitHub code scanning reads beyond the schema: one run, a named driver with a
    version, rules with ids and short descriptions that the results point at by index."""
    assert document["version"] == "2.1.0"
    assert document["$schema"] == sarif.SCHEMA
    (run,) = document["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("pipegen", __version__)
    assert driver["informationUri"].startswith("https://")
    rules = driver["rules"]
    assert [r["id"] for r in rules] == sorted(r["id"] for r in rules)
    assert all(r["shortDescription"]["text"] for r in rules)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]["artifactLocation"]
        if "uriBaseId" in location:
            assert location["uriBaseId"] == "%SRCROOT%"
            assert not location["uri"].startswith("/") and "\\" not in location["uri"]


# -- pipegen build --sarif ----------------------------------------------------------------------


def test_a_failing_build_writes_its_findings_before_exiting_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the repository root: no .git above a temporary folder
    rules = team_rules(tmp_path / "team-rules")
    report = tmp_path / "reports" / "pipegen.sarif"
    result = CliRunner().invoke(
        main,
        ["build", str(WEB_APP), "--out", "output", "--rules", str(rules), "--sarif", str(report)],
    )
    assert result.exit_code == 1, result.output
    assert not (tmp_path / "output" / "web-app").exists(), "nothing was written but the SARIF"
    reported = {
        (f"output/{m[1]}", int(m[2]), m[3], m[4], m[5])
        for m in map(FINDING_LINE.match, result.stderr.splitlines())
        if m
    }
    assert reported, result.stderr

    document = read_sarif(report)
    check_github_shape(document)
    (run,) = document["runs"]
    assert run["tool"]["driver"]["rules"] == [
        {
            "id": "E9990",
            "name": "NoSnsTopics",
            "shortDescription": {"text": "Team policy: no SNS topics"},
            "fullDescription": {"text": "This platform team sends notifications elsewhere."},
            "helpUri": "https://example.com/policy",
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["mandatory", "team"]},
        }
    ]
    results = run["results"]
    found = set()
    for result_ in results:
        (where,) = result_["locations"]
        physical = where["physicalLocation"]
        (logical,) = where["logicalLocations"]
        assert logical["kind"] == "resource"
        assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        found.add(
            (
                physical["artifactLocation"]["uri"],
                physical["region"]["startLine"],
                result_["ruleId"],
                {"error": "error"}[result_["level"]],
                f"{logical['name']}: {result_['message']['text']}",
            )
        )
    assert found == reported
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results} <= {
        "output/web-app/stacks/notifications.yaml",
        "output/web-app/stacks/pipeline.yaml",
        "output/web-app/root.yaml",
    }
    fingerprints = [r["partialFingerprints"][sarif.FINGERPRINT] for r in results]
    assert len(set(fingerprints)) == len(fingerprints)


def test_a_clean_build_writes_a_sarif_with_no_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "clean.sarif"
    runner = CliRunner()
    result = runner.invoke(main, ["build", str(WEB_APP), "--out", "output", "--sarif", str(report)])
    assert result.exit_code == 0, result.output
    document = read_sarif(report)
    check_github_shape(document)
    (run,) = document["runs"]
    assert run["results"] == []
    assert run["tool"]["driver"]["rules"] == []
    first = report.read_bytes()
    again = runner.invoke(main, ["build", str(WEB_APP), "--out", "output", "--sarif", str(report)])
    assert again.exit_code == 0, again.output
    assert report.read_bytes() == first, "the same build gives the same bytes"


def test_without_sarif_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["build", str(WEB_APP), "--out", "output"])
    assert result.exit_code == 0, result.output
    assert not list(tmp_path.glob("*.sarif"))


# -- the log itself -----------------------------------------------------------------------------


FINDINGS = [
    Finding("web-app/stacks/iam.yaml", 12, "W2001", "warning", "Parameter X not used", ""),
    Finding("web-app/stacks/iam.yaml", 40, "E9301", "error", "not encrypted", "Topic"),
    Finding("web-app/stacks/logs.yaml", 7, "I3011", "informational", "no policy", "Logs"),
    Finding("web-app/.root-with-local-children.yaml", 90, "E3043", "error", "bad", "Stack"),
    Finding("web-app/stacks/iam.yaml", 0, "E0000", "error", "could not parse", ""),
    Finding("web-app/stacks/iam.yaml", 41, "E9301", "error", "not encrypted", "Topic"),
]


def test_levels_rules_locations_and_order(tmp_path: Path) -> None:
    log = valid(sarif.sarif_log(FINDINGS, out_dir=tmp_path / "output", root=tmp_path))
    check_github_shape(log)
    (run,) = log["runs"]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert list(rules) == ["E0000", "E3043", "E9301", "I3011", "W2001"]
    assert rules["E9301"]["name"] == "SnsTopicEncryption"
    assert "guardrail" in rules["E9301"]["properties"]["tags"]
    assert rules["W2001"]["defaultConfiguration"] == {"level": "warning"}
    assert rules["I3011"]["defaultConfiguration"] == {"level": "note"}
    assert rules["W2001"]["helpUri"].startswith("https://")
    summary = [
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"].get("region", {}).get("startLine"),
            r["ruleId"],
            r["level"],
        )
        for r in run["results"]
    ]
    assert summary == [
        ("output/web-app/root.yaml", 90, "E3043", "error"),  # the lint copy is the root
        ("output/web-app/stacks/iam.yaml", None, "E0000", "error"),  # no line: no region
        ("output/web-app/stacks/iam.yaml", 12, "W2001", "warning"),
        ("output/web-app/stacks/iam.yaml", 40, "E9301", "error"),
        ("output/web-app/stacks/iam.yaml", 41, "E9301", "error"),
        ("output/web-app/stacks/logs.yaml", 7, "I3011", "note"),
    ]
    assert "logicalLocations" not in run["results"][2]["locations"][0]
    fingerprints = {r["partialFingerprints"][sarif.FINGERPRINT] for r in run["results"]}
    assert len(fingerprints) == len(FINDINGS), "equal findings on two lines stay apart"
    assert run["tool"]["extensions"][0]["name"] == "cfn-lint"


def test_the_lint_copy_of_the_root_keeps_its_lines_in_yaml_only(tmp_path: Path) -> None:
    """Findings on the root copy with local TemplateURLs are reported on the root; its line
    numbers hold there in YAML (checked here on a real root), so only JSON drops them."""
    loaded = load_spec(WEB_APP, str(WEB_APP))
    template_set = loaded.blueprint.build(loaded.spec, "yaml")
    root = writer.render_set(template_set, "yaml")["root.yaml"].decode().splitlines()
    copy = writer.local_root(template_set, "yaml").decode().splitlines()
    assert len(root) == len(copy)
    assert [a for a, b in zip(root, copy, strict=True) if a != b] == [
        a for a in root if a.lstrip().startswith("TemplateURL:")
    ]
    findings = [
        Finding(f"p/{writer.LOCAL_ROOT_NAME}.{ext}", 9, "E3043", "error", "m", "Stack")
        for ext in ("yaml", "json")
    ]
    log = valid(sarif.sarif_log(findings, out_dir=tmp_path, root=tmp_path))
    located = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r["locations"][0][
            "physicalLocation"
        ].get("region")
        for r in log["runs"][0]["results"]
    }
    assert located == {"p/root.yaml": {"startLine": 9}, "p/root.json": None}


def test_the_same_findings_in_any_order_give_the_same_bytes(tmp_path: Path) -> None:
    shuffled = list(FINDINGS)
    random.Random(7).shuffle(shuffled)
    texts = {
        sarif.render(sarif.sarif_log(order, out_dir=tmp_path / "output", root=tmp_path))
        for order in (FINDINGS, shuffled, FINDINGS + FINDINGS[:2])
    }
    assert len(texts) == 1


def test_fingerprints_survive_line_shifts(tmp_path: Path) -> None:
    def fingerprint(line: int) -> str:
        finding = Finding("web-app/stacks/iam.yaml", line, "E9301", "error", "m", "Topic")
        log = sarif.sarif_log([finding], out_dir=tmp_path, root=tmp_path)
        return str(log["runs"][0]["results"][0]["partialFingerprints"][sarif.FINGERPRINT])

    assert fingerprint(10) == fingerprint(30)


def test_repository_root_and_output_outside_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "sub").mkdir()
    assert sarif.source_root(repo / "sub") == repo
    assert sarif.source_root(tmp_path) == tmp_path
    inside = sarif.artifact_location("p/root.yaml", repo / "build" / "out", repo)
    assert inside == {"uri": "build/out/p/root.yaml", "uriBaseId": "%SRCROOT%"}
    spaced = sarif.artifact_location("p/root.yaml", repo / "my out", repo)
    assert spaced == {"uri": "my%20out/p/root.yaml", "uriBaseId": "%SRCROOT%"}
    outside = sarif.artifact_location("p/root.yaml", tmp_path / "elsewhere", repo)
    assert outside == {"uri": (tmp_path / "elsewhere" / "p" / "root.yaml").as_uri()}
    log = sarif.sarif_log(
        [Finding("p/root.yaml", 3, "E9301", "error", "m", "")],
        out_dir=tmp_path / "elsewhere",
        root=repo,
    )
    valid(log)


def test_a_rule_that_is_not_loaded_is_still_described(tmp_path: Path) -> None:
    finding = Finding("p/root.yaml", 3, "E9999", "warning", "planted", "")
    log = valid(sarif.sarif_log([finding], out_dir=tmp_path, root=tmp_path))
    assert log["runs"][0]["tool"]["driver"]["rules"] == [
        {
            "id": "E9999",
            "shortDescription": {"text": "E9999"},
            "defaultConfiguration": {"level": "warning"},
        }
    ]


# -- pipegen lint --sarif -----------------------------------------------------------------------


KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_lint_writes_the_sarif_it_would_print(tmp_path: Path) -> None:
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"Unused": {"Type": "String"}},  # W2001
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},  # E9301
            "Logs": {  # I3011
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"KmsKeyId": KEY_ARN, "RetentionInDays": 365},
            },
        },
    }
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template, indent=1), encoding="utf-8")
    report = tmp_path / "out" / "lint.sarif"
    runner = CliRunner()
    result = runner.invoke(main, ["lint", str(path), "--sarif", str(report)])
    assert result.exit_code == 2 | 4 | 8, result.output
    assert "E9301 (error)" in result.output, "text still goes to stdout"
    document = read_sarif(report)
    levels = {r["ruleId"]: r["level"] for r in document["runs"][0]["results"]}
    assert levels == {"E9301": "error", "W2001": "warning", "I3011": "note"}
    printed = runner.invoke(main, ["lint", str(path), "--format", "sarif"])
    assert json.loads(printed.output) == document

    clean = tmp_path / "clean.json"
    template["Parameters"] = {}
    template["Resources"] = {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": KEY_ARN}}
    }
    clean.write_text(json.dumps(template), encoding="utf-8")
    result = runner.invoke(main, ["lint", str(clean), "--sarif", str(report)])
    assert result.exit_code == 0, result.output
    assert read_sarif(report)["runs"][0]["results"] == []
