"""The lint gate's findings as SARIF 2.1.0, for GitHub code scanning: `pipegen build --sarif FILE`.

One run of the tool `pipegen`; its rules are the cfn-lint rules (stock ones, pipegen's E9xxx/W9xxx
guardrails and any `--rules DIR` ones) that have a result, described from their cfn-lint
metadata. Each result points at the generated file relative to the repository root
(`output/<pipeline>/stacks/iam.yaml`, under the base id `%SRCROOT%`, the one GitHub resolves
against the checkout) and at its line; the lint copy of the root whose TemplateURLs point at
local files is reported as the root itself. The same findings always give the same bytes:
results, rules and keys are sorted, and nothing depends on the time or the order of findings.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from generator import __version__, writer
from generator.lint.gate import DEFAULT_RULES, MANDATORY, Finding, RuleSet

VERSION = "2.1.0"
SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL = "pipegen"
CFN_LINT_URI = "https://github.com/aws-cloudformation/cfn-lint"
INFORMATION_URI = CFN_LINT_URI  # pipegen's gate is cfn-lint with pipegen's rules
RULES_DOC = "https://github.com/aws-cloudformation/cfn-lint/blob/main/docs/rules.md"
SRCROOT = "%SRCROOT%"
LEVELS = {"error": "error", "warning": "warning", "informational": "note"}
FINGERPRINT = "pipegenFinding/v1"


def level(severity: str) -> str:
    """cfn-lint's severity as a SARIF level: error, warning, note (informational)."""
    return LEVELS.get(severity, "warning")


def source_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder from `start` (default: the working directory) up
    that holds `.git`; `start` itself outside a repository."""
    here = Path(os.path.abspath(start or Path.cwd()))
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def generated_path(display: str) -> tuple[str, bool]:
    """A finding's path (`<pipeline>/<file>`) as the file a reader finds in the output, and
    whether its line numbers hold there. The lint copy of the root with local TemplateURLs is
    the root: in YAML line for line (a TemplateURL is one line either way), in JSON not (the
    root's `{"Fn::Sub": ...}` takes three lines where the copy's string takes one)."""
    folder, slash, name = display.rpartition("/")
    prefix = writer.LOCAL_ROOT_NAME + "."
    if name.startswith(prefix):
        ext = name.removeprefix(prefix)
        return folder + slash + writer.root_file(ext), ext != "json"
    return display, True


def artifact_location(display: str, out_dir: Path, root: Path) -> dict[str, str]:
    """Where a finding's file is: relative to `root` under %SRCROOT%, or an absolute file URI
    when the output folder is outside the repository."""
    path = Path(os.path.abspath(out_dir / generated_path(display)[0]))
    try:
        relative = path.relative_to(os.path.abspath(root))
    except ValueError:
        return {"uri": path.as_uri()}
    return {"uri": quote(relative.as_posix()), "uriBaseId": SRCROOT}


def _rule_objects(rule_ids: Iterable[str], rules: RuleSet) -> dict[str, Any]:
    """The loaded cfn-lint rule of each id (the gate's own collection, loaded once a process)."""
    wanted = set(rule_ids)
    if not wanted:
        return {}
    from generator.lint.gate import _rules

    loaded = _rules(rules.directories)
    return {rule_id: loaded.get(rule_id) for rule_id in sorted(wanted)}


def rule_descriptor(rule_id: str, rule: Any, severity: str) -> dict[str, Any]:
    """SARIF's reportingDescriptor of one rule, from its cfn-lint metadata (id, class name,
    short and full description, help URI, tags); `severity` when no rule of that id is loaded."""
    if rule is None:
        return {
            "id": rule_id,
            "shortDescription": {"text": rule_id},
            "defaultConfiguration": {"level": level(severity)},
        }
    short = str(rule.shortdesc or rule_id)
    descriptor: dict[str, Any] = {
        "id": rule_id,
        "name": type(rule).__name__,
        "shortDescription": {"text": short},
        "fullDescription": {"text": str(rule.description or short)},
        "defaultConfiguration": {"level": level(str(rule.severity))},
    }
    help_uri = rule.source_url or ("" if rule_id.startswith(MANDATORY) else RULES_DOC)
    if help_uri:
        descriptor["helpUri"] = str(help_uri)
    tags = sorted({str(tag) for tag in rule.tags or ()})
    if rule_id.startswith(MANDATORY):
        tags = sorted({*tags, "mandatory"})
    if tags:
        descriptor["properties"] = {"tags": tags}
    return descriptor


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def sarif_log(
    findings: Iterable[Finding],
    *,
    out_dir: Path,
    root: Path | None = None,
    rules: RuleSet = DEFAULT_RULES,
    rule_objects: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The SARIF log of `findings` (paths relative to `out_dir`, as the gate reports them).
    `root`: the repository root (default: found from the working directory); `rules`: the rule
    set the gate ran, to describe the rules; `rule_objects`: rule id -> cfn-lint rule, instead
    of loading them."""
    base = root if root is not None else source_root()
    located = sorted(
        ((artifact_location(f.path, out_dir, base), f) for f in set(findings)),
        key=lambda pair: (
            pair[0]["uri"],
            pair[1].line,
            pair[1].rule,
            pair[1].message,
            pair[1].resource,
            pair[1].severity,
        ),
    )
    objects = (
        dict(rule_objects)
        if rule_objects is not None
        else _rule_objects((f.rule for _, f in located), rules)
    )
    severities = {f.rule: f.severity for _, f in located}
    rule_ids = sorted(severities)
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    seen: dict[tuple[str, ...], int] = {}
    results = []
    for location, finding in located:
        physical: dict[str, Any] = {"artifactLocation": location}
        if finding.line > 0 and generated_path(finding.path)[1]:
            physical["region"] = {"startLine": finding.line}
        where: dict[str, Any] = {"physicalLocation": physical}
        if finding.resource:
            where["logicalLocations"] = [
                {
                    "name": finding.resource,
                    "fullyQualifiedName": f"Resources.{finding.resource}",
                    "kind": "resource",
                }
            ]
        # Stable across line shifts; the occurrence number keeps equal findings apart.
        key = (finding.rule, location["uri"], finding.resource, finding.message)
        seen[key] = seen.get(key, 0) + 1
        results.append(
            {
                "ruleId": finding.rule,
                "ruleIndex": index[finding.rule],
                "level": level(finding.severity),
                "message": {"text": finding.message},
                "locations": [where],
                "partialFingerprints": {FINGERPRINT: _fingerprint(*key, str(seen[key]))},
            }
        )
    driver = {
        "name": TOOL,
        "version": __version__,
        "semanticVersion": __version__,
        "informationUri": INFORMATION_URI,
        "rules": [
            rule_descriptor(rule_id, objects.get(rule_id), severities[rule_id])
            for rule_id in rule_ids
        ],
    }
    run: dict[str, Any] = {
        "tool": {"driver": driver, "extensions": [_cfn_lint_component()]},
        "originalUriBaseIds": {
            SRCROOT: {"description": {"text": "The root of the repository that holds the output."}}
        },
        "results": results,
    }
    return {"$schema": SCHEMA, "version": VERSION, "runs": [run]}


def _cfn_lint_component() -> dict[str, Any]:
    from importlib.metadata import version

    return {"name": "cfn-lint", "version": version("cfn-lint"), "informationUri": CFN_LINT_URI}


def render(log: Mapping[str, Any]) -> str:
    return json.dumps(log, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_sarif(
    path: Path,
    findings: Iterable[Finding],
    *,
    out_dir: Path,
    root: Path | None = None,
    rules: RuleSet = DEFAULT_RULES,
) -> None:
    """Write the SARIF log of `findings` to `path` (see `sarif_log`), creating its folder."""
    text = render(sarif_log(findings, out_dir=out_dir, root=root, rules=rules))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
