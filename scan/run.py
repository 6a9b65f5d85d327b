"""`make scan`: checkov and parliament over every CloudFormation template in output/, offline.

Run with the scan virtualenv from the repository root: `.venv-scan/bin/python -m scan`.

1. checkov (cloudformation framework, SAM included) on every template `scan.cfn` finds. Any
   failed check fails the scan. Every skip checkov reports must be in scan/allowlist.yaml
   (check id + resource type) and carry a comment.
2. Every IAM policy document in the templates is rendered with placeholder values and given to
   parliament. Any finding fails the scan unless an allow-list entry accepts it.
3. Allow-list entries that nothing uses fail the scan too, so the list cannot rot.

Exit status: 0 clean, 1 failures or findings, 2 the scan itself could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scan import allowlist as allowlist_module
from scan import cfn

ROOT = Path(__file__).resolve().parent.parent
OFFLINE_ENV = {
    # checkov fetches check metadata and runs an SCA scan over the network unless told not to.
    "BC_SKIP_MAPPING": "TRUE",
    "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
    "LOG_LEVEL": "ERROR",
}


# --- checkov ---------------------------------------------------------------------------------


def start_checkov(templates: list[Path], report: Path) -> subprocess.Popen[bytes]:
    checkov = Path(sys.executable).parent / "checkov"
    command = [str(checkov)] if checkov.exists() else [sys.executable, "-m", "checkov.main"]
    command += ["--framework", "cloudformation", "--skip-download", "--soft-fail", "-o", "json"]
    for template in templates:
        command += ["-f", str(template)]
    with report.open("wb") as stdout:
        return subprocess.Popen(
            command,
            stdout=stdout,
            stderr=subprocess.PIPE,
            env={**os.environ, **OFFLINE_ENV},
            cwd=ROOT,
        )


@dataclass
class CheckovResult:
    version: str = "?"
    passed: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    parsing_errors: list[str] = field(default_factory=list)


def read_checkov(report: Path) -> CheckovResult:
    text = report.read_text(encoding="utf-8").strip()
    start = text.find("{") if not text.startswith("[") else 0  # skip any stray banner
    data = json.loads(text[start:]) if text else {}
    runs = data if isinstance(data, list) else [data]
    result = CheckovResult()
    for run in runs:
        if not isinstance(run, dict):
            continue
        if run.get("check_type", "cloudformation") != "cloudformation":
            continue
        summary = run.get("summary") or run  # with nothing to report, checkov prints the summary
        result.version = str(summary.get("checkov_version", result.version))
        results = run.get("results") or {}
        result.passed += results.get("passed_checks") or []
        result.failed += results.get("failed_checks") or []
        result.skipped += results.get("skipped_checks") or []
        result.parsing_errors += results.get("parsing_errors") or []
    return result


def _file_of(record: dict[str, Any], output: Path) -> str:
    path = Path(record.get("file_abs_path") or record.get("file_path") or "?")
    try:
        return path.resolve().relative_to(output).as_posix()
    except ValueError:
        return str(record.get("file_path"))


def _kind_and_id(record: dict[str, Any]) -> tuple[str, str]:
    kind, _, logical_id = str(record.get("resource", "")).partition(".")
    return kind, logical_id


# --- parliament ------------------------------------------------------------------------------


@dataclass
class Finding:
    label: str
    resource_kind: str
    issue: str
    severity: str
    title: str
    detail: str
    sid: str | None
    items: list[tuple[str | None, str | None]]  # (action, required_format) not accepted


def _statement_sid(document: Any, location: Any) -> str | None:
    """The Sid of the statement a parliament finding points at. parliament gives a line in the
    JSON it read; we feed it JSON with indent=2, where each statement opens on a line "    {"."""
    line = location.get("line") if isinstance(location, dict) else None
    statements = document.get("Statement") if isinstance(document, dict) else None
    if not isinstance(line, int) or not statements:
        return None
    if isinstance(statements, dict):
        return str(statements.get("Sid") or "statement 1")
    text = json.dumps(document, indent=2).splitlines()[:line]
    index = sum(1 for row in text if row == "    {") - 1
    if 0 <= index < len(statements) and isinstance(statements[index], dict):
        return str(statements[index].get("Sid") or f"statement {index + 1}")
    return None


def _items(finding: Any) -> list[tuple[str | None, str | None]]:
    """A finding split into what an allow-list entry can accept one by one: its actions (with
    the resource format each one missed, for RESOURCE_MISMATCH)."""
    detail, location = finding.detail, finding.location
    items: list[tuple[str | None, str | None]] = []
    if isinstance(detail, list):
        for entry in detail:
            if isinstance(entry, dict):
                items.append((entry.get("action"), entry.get("required_format")))
            elif isinstance(entry, str):
                items.append((entry, None))
    elif isinstance(location, dict) and isinstance(location.get("actions"), list):
        items += [(str(action), None) for action in location["actions"]]
    elif isinstance(detail, str) and (match := re.search(r"for action (\S+)", detail)):
        items.append((match.group(1), None))
    return items or [(None, None)]


def run_parliament(
    documents: list[cfn.PolicyDocument],
    allowlist: allowlist_module.Allowlist,
    community: bool,
) -> tuple[list[Finding], list[Finding], set[int], str]:
    """(findings not accepted, findings accepted, indexes of the entries used, version)."""
    with warnings.catch_warnings():  # parliament 1.6.4 imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        import parliament  # the scan virtualenv only

    rejected: list[Finding] = []
    accepted: list[Finding] = []
    used: set[int] = set()
    for document in documents:
        policy = document.for_parliament
        raw: list[Any] = []
        if not isinstance(policy, dict):
            raw = [_Raw("MALFORMED", f"not a policy document after rendering: {policy!r:.80}")]
        else:
            try:
                analysed = parliament.analyze_policy_string(
                    json.dumps(policy, indent=2), include_community_auditors=community
                )
                raw = [_enhanced(parliament, f) for f in analysed.findings]
            except Exception as error:  # parliament raises on ARNs it cannot parse
                raw = [_Raw("EXCEPTION", f"{type(error).__name__}: {error}")]
        for item in raw:
            detail = item.detail if isinstance(item.detail, str) else json.dumps(item.detail)
            sid = _statement_sid(policy, item.location)
            open_items = []
            for action, required_format in dict.fromkeys(_items(item)):
                covering = [
                    index
                    for index, entry in enumerate(allowlist.parliament)
                    if entry.covers(
                        item.issue,
                        document.label,
                        document.resource_kind,
                        action,
                        required_format,
                        detail,
                        sid,
                    )
                ]
                used.update(covering)
                if not covering:
                    open_items.append((action, required_format))
            finding = Finding(
                label=document.label,
                resource_kind=document.resource_kind,
                issue=item.issue,
                severity=str(getattr(item, "severity", "") or ""),
                title=str(getattr(item, "title", "") or ""),
                detail=detail,
                sid=sid,
                items=open_items,
            )
            (rejected if open_items else accepted).append(finding)
    return rejected, accepted, used, str(getattr(parliament, "__version__", "?"))


def _enhanced(parliament: Any, finding: Any) -> Any:
    """Give the finding its title and severity from parliament's config.yaml."""
    try:
        return parliament.enhance_finding(finding)
    except Exception:
        return finding


@dataclass
class _Raw:
    issue: str
    detail: str
    location: Any = None
    severity: str = "CRITICAL"
    title: str = "parliament could not read the rendered policy"


# --- the scan --------------------------------------------------------------------------------


def _rel(path: Path, output: Path) -> str:
    return path.relative_to(output).as_posix()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scan", description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "output", help="templates folder")
    parser.add_argument("--allowlist", type=Path, default=allowlist_module.DEFAULT_PATH)
    parser.add_argument(
        "--community-auditors",
        action="store_true",
        help="also run parliament's community auditors (privilege escalation, credentials "
        "exposure, ...); checkov's CKV_AWS_107-111 already cover those, resource-aware",
    )
    args = parser.parse_args(argv)
    output: Path = args.output.resolve()
    started = time.monotonic()

    try:
        allowlist = allowlist_module.load(args.allowlist)
    except allowlist_module.AllowlistError as error:
        print(f"scan: {error}", file=sys.stderr)
        return 2
    templates = cfn.discover_templates(output) if output.is_dir() else []
    if not templates:
        print(
            f"scan: no CloudFormation template under {output}; run `make templates`",
            file=sys.stderr,
        )
        return 2
    files = [_rel(t, output) for t in templates]
    print(f"scan: {len(templates)} CloudFormation templates under {output.name}/:")
    for name in files:
        print(f"  {name}")

    problems: list[str] = []  # each fails the scan
    warnings: list[str] = []

    with tempfile.TemporaryDirectory(prefix="pipegen-scan-") as tmp:
        report = Path(tmp) / "checkov.json"
        checkov_started = time.monotonic()
        process = start_checkov(templates, report)

        # parliament (and reading the templates) while checkov runs.
        parliament_started = time.monotonic()
        loaded = {name: cfn.load(path) for name, path in zip(files, templates, strict=True)}
        skips = [s for name, doc in loaded.items() for s in cfn.metadata_skips(doc, name)]
        documents: list[cfn.PolicyDocument] = []
        for name, doc in loaded.items():
            found, guesses = cfn.render_policies(doc, name)
            documents += found
            warnings += [f"{name}: placeholder guessed for {g}" for g in sorted(guesses)]
        rejected, accepted, used, parliament_version = run_parliament(
            documents, allowlist, args.community_auditors
        )
        parliament_seconds = time.monotonic() - parliament_started

        _, stderr = process.communicate()
        checkov_seconds = time.monotonic() - checkov_started
        if process.returncode != 0:
            tail = "\n".join(stderr.decode(errors="replace").splitlines()[-20:])
            print(f"scan: checkov exited {process.returncode}:\n{tail}", file=sys.stderr)
            return 2
        try:
            checkov = read_checkov(report)
        except ValueError as error:
            print(f"scan: cannot read checkov's JSON report: {error}", file=sys.stderr)
            return 2

    # --- checkov: results per template
    counts: dict[str, Counter[str]] = {name: Counter() for name in files}
    for outcome, records in (
        ("passed", checkov.passed),
        ("failed", checkov.failed),
        ("skipped", checkov.skipped),
    ):
        for record in records:
            counts.setdefault(_file_of(record, output), Counter())[outcome] += 1
    print(f"\ncheckov {checkov.version} (cloudformation, offline) [{checkov_seconds:.1f} s]")
    print(f"  {'template':<48} {'resources':>9} {'passed':>7} {'failed':>7} {'skipped':>8}")
    for name in files:
        resources = len((loaded[name] or {}).get("Resources") or {})
        c = counts[name]
        print(f"  {name:<48} {resources:>9} {c['passed']:>7} {c['failed']:>7} {c['skipped']:>8}")
    templates_failed = sum(1 for name in files if counts[name]["failed"])
    print(
        f"  templates: {len(files)} scanned, {len(files) - templates_failed} passed, "
        f"{templates_failed} failed | checks: {len(checkov.passed)} passed, "
        f"{len(checkov.failed)} failed, {len(checkov.skipped)} skipped, "
        f"{len(checkov.parsing_errors)} parsing errors"
    )
    for unparsed in checkov.parsing_errors:
        problems.append(f"checkov could not parse {unparsed}")
    for record in checkov.failed:
        kind, logical_id = _kind_and_id(record)
        lines = record.get("file_line_range") or ["?"]
        problems.append(
            f"checkov {record.get('check_id')} FAILED on {logical_id} ({kind}) in "
            f"{_file_of(record, output)}:{lines[0]}: {record.get('check_name')}"
        )

    # --- checkov: skips against the allow-list
    reported = set()
    for record in checkov.skipped:
        kind, logical_id = _kind_and_id(record)
        file, check = _file_of(record, output), str(record.get("check_id"))
        reported.add((file, logical_id, check))
        comment = str((record.get("check_result") or {}).get("suppress_comment") or "").strip()
        if allowlist.checkov_entry(check, kind) is None:
            problems.append(
                f"checkov {check} is skipped on {logical_id} ({kind}) in {file}, and the "
                "allow-list has no entry for it.\n    "
                + allowlist_module.HOW_TO_ADD.format(check=check, kind=kind).replace("\n", "\n    ")
            )
        if not comment:
            problems.append(
                f"checkov {check} is skipped on {logical_id} in {file} without a comment"
            )
    for skip in skips:
        if (skip.file, skip.resource, skip.check) not in reported:
            warnings.append(
                f"{skip.file}: {skip.resource} skips {skip.check or '(no id)'}, but checkov ran no "
                f"such check on it (not a CloudFormation check for {skip.resource_kind}): "
                "the skip has no effect"
            )
            if skip.check and allowlist.checkov_entry(skip.check, skip.resource_kind) is None:
                problems.append(
                    f"{skip.file}: {skip.resource} skips {skip.check} and the allow-list has no "
                    f"entry for it.\n    "
                    + allowlist_module.HOW_TO_ADD.format(
                        check=skip.check, kind=skip.resource_kind
                    ).replace("\n", "\n    ")
                )
    for entry in allowlist.checkov:
        if not any(
            s.check == entry.check and s.resource_kind == entry.resource_kind for s in skips
        ):
            problems.append(
                f"allow-list entry {entry.check} on {entry.resource_kind} is stale: no resource "
                "skips it any more; remove it from scan/allowlist.yaml"
            )

    # --- parliament
    by_kind = Counter(d.kind for d in documents)
    print(
        f"\nparliament {parliament_version} [{parliament_seconds:.1f} s]: {len(documents)} policy "
        f"documents ({by_kind[cfn.IDENTITY]} identity, {by_kind[cfn.TRUST]} trust, "
        f"{by_kind[cfn.RESOURCE]} resource-based)"
        + (", community auditors on" if args.community_auditors else "")
    )
    print(f"  findings: {len(rejected)} not allowed, {len(accepted)} allowed by the allow-list")
    for finding in rejected:
        where = f"{finding.label}" + (f" [{finding.sid}]" if finding.sid else "")
        what = ", ".join(
            a + (f" needs a resource like {f}" if f else "")
            for a, f in finding.items
            if a is not None
        )
        if finding.detail and not finding.detail.startswith(("[", "{")):
            what = finding.detail  # a sentence already naming the action
        problems.append(
            f"parliament {finding.issue} ({finding.severity}) in {where} ({finding.resource_kind}):"
            f" {finding.title.strip().rstrip('.')}: {what}".rstrip(": ")
        )
    for index, accepted_by in enumerate(allowlist.parliament):
        if index not in used:
            problems.append(
                f"allow-list entry parliament {accepted_by.issue} for {accepted_by.policy}"
                + (f" [{accepted_by.sid}]" if accepted_by.sid else "")
                + " is stale: it "
                "accepts no finding; remove it from scan/allowlist.yaml"
            )

    for warning in warnings:
        print(f"warning: {warning}")
    elapsed = time.monotonic() - started
    if problems:
        print(f"\nscan FAILED ({len(problems)} problems) in {elapsed:.1f} s:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"\nscan OK in {elapsed:.1f} s")
    return 0
