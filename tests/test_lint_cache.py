"""The lint cache: what invalidates it, what it never trusts, and that it changes no output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator import build
from generator.cli import main
from generator.errors import SpecError
from generator.lint import cache as lint_cache
from generator.lint.cache import LintCache, cache_key
from generator.lint.gate import Finding

REPO = Path(__file__).resolve().parent.parent
WEB_APP = REPO / "pipelines" / "web-app.yaml"
SPECS = sorted((REPO / "pipelines").glob("*.yaml"))
TEMPLATE = b"AWSTemplateFormatVersion: '2010-09-09'\nResources: {}\n"


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_key_changes_with_template_regions_and_ignored_rules() -> None:
    base = cache_key([TEMPLATE], ["us-east-1"], [])
    assert cache_key([TEMPLATE], ["us-east-1"], []) == base
    assert cache_key([TEMPLATE + b"\n"], ["us-east-1"], []) != base
    assert cache_key([TEMPLATE], ["us-east-1", "eu-west-1"], []) != base
    assert cache_key([TEMPLATE], ["us-east-1"], ["W3002"]) != base
    # contents are length-prefixed: moving bytes between parts is a different key
    assert cache_key([b"ab", b"c"], ["us-east-1"], []) != cache_key(
        [b"a", b"bc"], ["us-east-1"], []
    )


def test_key_changes_with_the_cfn_lint_version(monkeypatch: pytest.MonkeyPatch) -> None:
    before = cache_key([TEMPLATE], ["us-east-1"], [])
    lint_cache.toolchain_fingerprint.cache_clear()
    monkeypatch.setattr("importlib.metadata.version", lambda name: "99.0.0")
    try:
        assert cache_key([TEMPLATE], ["us-east-1"], []) != before
    finally:
        lint_cache.toolchain_fingerprint.cache_clear()


def test_key_changes_with_the_rule_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = cache_key([TEMPLATE], ["us-east-1"], [])
    changed = tmp_path / "cfnlintrc.yaml"
    changed.write_text("include_checks:\n  - I\nignore_checks:\n  - W3005\n")
    lint_cache.toolchain_fingerprint.cache_clear()
    monkeypatch.setattr(lint_cache, "PINNED_CONFIG", str(changed))
    try:
        assert cache_key([TEMPLATE], ["us-east-1"], []) != before
    finally:
        lint_cache.toolchain_fingerprint.cache_clear()


def test_round_trip_and_corrupted_entries(tmp_path: Path) -> None:
    store = LintCache(tmp_path)
    key = cache_key([TEMPLATE], ["us-east-1"], [])
    assert store.get(key) is None
    finding = Finding("x/root.yaml", 3, "W1020", "warning", "Sub not needed", "Bucket")
    store.put(key, [finding])
    assert lint_cache.restore(store.get(key) or [], "y/root.yaml") == [
        Finding("y/root.yaml", 3, "W1020", "warning", "Sub not needed", "Bucket")
    ]
    entry = tmp_path / key[:2] / f"{key}.json"
    for corrupt in ("{not json", json.dumps({"key": "other", "findings": []}), "[]", ""):
        entry.write_text(corrupt)
        assert store.get(key) is None, corrupt
    assert not list(tmp_path.rglob(".tmp-*")), "a temporary file was left behind"


def test_disabled_cache_stores_nothing(tmp_path: Path) -> None:
    store = LintCache(None)
    store.put("k", [])
    assert store.get("k") is None


def test_second_build_lints_nothing_and_a_change_relints_only_that_spec(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    first = build.build(SPECS, tmp_path / "a", cache_dir=cache_dir)
    assert first.lint.cached == 0
    assert first.lint.linted == first.lint.templates
    second = build.build(SPECS, tmp_path / "b", cache_dir=cache_dir)
    assert (second.lint.linted, second.lint.cached) == (0, first.lint.templates)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    edited = tmp_path / "web-app.yaml"
    edited.write_text(WEB_APP.read_text().replace("bake_minutes: 15", "bake_minutes: 16"))
    others = [p for p in SPECS if p.name != "web-app.yaml"]
    third = build.build([*others, edited], tmp_path / "c", cache_dir=cache_dir)
    # pipeline.yaml of web-app changes, and so does the root copy whose key covers its children
    assert third.lint.linted == 2
    assert third.lint.cached == first.lint.templates - 2


def test_a_poisoned_entry_is_never_trusted(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    build.build([WEB_APP], tmp_path / "a", cache_dir=cache_dir)
    for entry in cache_dir.rglob("*.json"):
        entry.write_text("garbage")
    again = build.build([WEB_APP], tmp_path / "b", cache_dir=cache_dir)
    assert again.lint.cached == 0
    assert again.lint.linted == again.lint.templates


def test_output_is_identical_across_jobs_and_cache(tmp_path: Path) -> None:
    runs = {
        "jobs1": ["--jobs", "1"],
        "jobs2": ["--jobs", "2"],
        "nocache": ["--no-cache", "--jobs", "2"],
    }
    for name, options in runs.items():
        result = CliRunner().invoke(
            main, ["build", "--out", str(tmp_path / name), *options, *map(str, SPECS)]
        )
        assert result.exit_code == 0, result.output
    assert tree(tmp_path / "jobs1") == tree(tmp_path / "jobs2") == tree(tmp_path / "nocache")


def test_progress_is_plain_when_stdout_is_not_a_terminal(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    for index in range(7):  # more than the plain-list limit
        (specs / f"shop{index}.yaml").write_text(
            WEB_APP.read_text().replace("name: web-app", f"name: shop{index}")
        )
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "generator.cli",
            "build",
            "--out",
            str(tmp_path / "out"),
            *map(str, sorted(specs.iterdir())),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = completed.stdout.splitlines()
    assert lines[:7] == [f"built {tmp_path / 'out'}/shop{i}/" for i in range(7)]
    # 10 for each of 7 specs: root.yaml, 8 children (artifact-store, notifications, iam,
    # build-projects, deploy-targets, pipeline, monitoring, audit) and the local-root copy
    assert lines[-1].startswith("7 spec(s), 70 templates (")
    assert "\x1b[" not in completed.stdout, "escape codes in a non-terminal"


def test_unchanged_specs_skip_composition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache_dir = tmp_path / "cache"
    first = build.build(SPECS, tmp_path / "a", cache_dir=cache_dir)
    assert first.reused == 0

    def no_composing(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unchanged spec was composed again")

    monkeypatch.setattr(build, "_compose", no_composing)
    second = build.build(SPECS, tmp_path / "b", cache_dir=cache_dir)
    assert second.reused == len(SPECS)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_output_cache_key_covers_spec_format_and_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from generator import output_cache

    spec = WEB_APP.read_bytes()
    key = output_cache.OutputCache.key(spec, "yaml")
    assert output_cache.OutputCache.key(spec + b"\n", "yaml") != key
    assert output_cache.OutputCache.key(spec, "json") != key
    output_cache.code_fingerprint.cache_clear()
    monkeypatch.setattr(output_cache, "LIBRARIES", (*output_cache.LIBRARIES, "click"))
    try:
        assert output_cache.OutputCache.key(spec, "yaml") != key
    finally:
        output_cache.code_fingerprint.cache_clear()


def test_corrupted_output_entry_is_composed_again(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    build.build([WEB_APP], tmp_path / "a", cache_dir=cache_dir)
    for entry in (cache_dir / "output").rglob("*.json"):
        entry.write_text('{"key": "x"}')
    again = build.build([WEB_APP], tmp_path / "b", cache_dir=cache_dir)
    assert again.reused == 0
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_cached_specs_still_refuse_a_duplicate_pipeline_name(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    copy = tmp_path / "copy.yaml"
    copy.write_text(WEB_APP.read_text())
    build.build([WEB_APP], tmp_path / "a", cache_dir=cache_dir)  # both copies now cached
    with pytest.raises(SpecError) as caught:
        build.build([WEB_APP, copy], tmp_path / "b", cache_dir=cache_dir)
    assert "pipeline 'web-app' is already defined in" in str(caught.value)
    assert ":3: name:" in str(caught.value)
