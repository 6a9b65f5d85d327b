"""Every malformed spec in tests/bad_specs/ fails with its one exact message and exit code 2.

`validate` and `build` must both print the message from expected.yaml (file:line: field: how to
fix) without a traceback, and a failed `build` must leave the output folder untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from generator.cli import main

REPO = Path(__file__).resolve().parent.parent
BAD_SPECS = REPO / "tests" / "bad_specs"
EXPECTED_FILE = BAD_SPECS / "expected.yaml"
PREVIOUS_ROOT = REPO / "output" / "web-app" / "root.yaml"


def _expected() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(EXPECTED_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{EXPECTED_FILE} must map file names to expectations"
    return data


EXPECTED = _expected()
CASES = sorted(EXPECTED)


def _spec_files() -> set[str]:
    return {
        p.name
        for p in BAD_SPECS.iterdir()
        if p.is_file() and p.suffix in (".yaml", ".yml") and p != EXPECTED_FILE
    }


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under `folder`, relative path -> bytes (None for a folder)."""
    return {
        p.relative_to(folder).as_posix(): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


def _check_failure(result: Result, expectation: dict[str, Any]) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "internal error" not in output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == expectation["exit"] == 2, output
    assert result.stderr == expectation["message"] + "\n"
    assert result.stdout == ""


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("PIPEGEN_DEBUG", raising=False)
    return CliRunner()


@pytest.mark.parametrize("name", CASES)
def test_validate_reports_the_exact_message(in_repo: CliRunner, name: str) -> None:
    result = in_repo.invoke(main, ["validate", f"tests/bad_specs/{name}"])
    _check_failure(result, EXPECTED[name])


@pytest.mark.parametrize("name", CASES)
def test_build_reports_the_message_and_leaves_output_alone(
    in_repo: CliRunner, name: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    (out / "web-app").mkdir(parents=True)
    (out / "sentinel.txt").write_bytes(b"left here by the test\n")
    (out / "web-app" / "root.yaml").write_bytes(PREVIOUS_ROOT.read_bytes())
    before = _snapshot(out)

    result = in_repo.invoke(main, ["build", "--out", str(out), f"tests/bad_specs/{name}"])

    _check_failure(result, EXPECTED[name])
    assert _snapshot(out) == before


def test_every_bad_spec_has_an_expectation_and_vice_versa() -> None:
    files = _spec_files()
    assert sorted(files - set(EXPECTED)) == [], "bad specs without an entry in expected.yaml"
    assert sorted(set(EXPECTED) - files) == [], "expected.yaml entries without a bad spec"
    assert len(files) >= 30
