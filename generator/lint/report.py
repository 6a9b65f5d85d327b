"""`pipegen lint`: any CloudFormation template through the gate's rules (cfn-lint's stock rules,
the guardrails, the pipeline semantics rules and extra rule directories), reported as text,
cfn-lint's JSON or SARIF 2.1.0, with cfn-lint's exit code bitmask.

The rules and configuration are the gate's own (`generator.lint.gate`), loaded once per process;
findings are cfn-lint `Match` objects, so the JSON output is exactly `cfn-lint --format json`'s.
SARIF is written here (the shape of cfn-lint's SARIF formatter) so that it needs no extra
dependency.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from generator.lint import gate
from generator.lint.gate import RuleSet

FORMATS = ("text", "json", "sarif")
SEVERITY_BITS = {"error": 2, "warning": 4, "informational": 8}
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/cos02/schemas/sarif-schema-2.1.0.json"
)
SARIF_LEVELS = {"error": "error", "warning": "warning", "informational": "note"}


def lint_files(paths: Sequence[Path], regions: Sequence[str], rules: RuleSet) -> list[Any]:
    """Every cfn-lint match of every file, in file order and then line order."""
    from cfnlint.runner.template.runner import run_template_by_file_path

    config = gate._config(tuple(sorted(set(regions))), rules)
    loaded = gate._rules(rules.directories)
    matches: list[Any] = []
    for path in paths:
        found = list(run_template_by_file_path(str(path), config, loaded, False))
        found.sort(key=lambda m: (m.linenumber, m.columnnumber, m.rule.id, m.message))
        matches.extend(found)
    return matches


def exit_code(matches: Iterable[Any]) -> int:
    """cfn-lint's bitmask: 2 errors, 4 warnings, 8 informational findings; 0 clean."""
    code = 0
    for match in matches:
        code |= SEVERITY_BITS.get(match.rule.severity, 0)
    return code


def as_text(matches: Sequence[Any], files: int) -> str:
    """One `file:line:column: RULE (severity) message` line a finding, then a count."""
    lines = [
        f"{m.filename}:{m.linenumber}:{m.columnnumber}: {m.rule.id} ({m.rule.severity}) {m.message}"
        for m in matches
    ]
    counts = {severity: 0 for severity in SEVERITY_BITS}
    for match in matches:
        counts[match.rule.severity] = counts.get(match.rule.severity, 0) + 1
    if matches:
        summary = ", ".join(f"{n} {severity}" for severity, n in counts.items() if n)
        lines.append(f"{files} file(s) linted: {summary}")
    else:
        lines.append(f"{files} file(s) linted: no findings")
    return "\n".join(lines)


def as_json(matches: Sequence[Any]) -> str:
    """cfn-lint's own JSON format (`cfn-lint --format json`)."""
    from cfnlint.formatters import JsonFormatter

    return str(JsonFormatter().print_matches(list(matches), None, None))


def as_sarif(matches: Sequence[Any]) -> str:
    """SARIF 2.1.0, one run of the tool `pipegen lint`, rules described by their cfn-lint
    metadata (short and full description, help URI)."""
    from cfnlint.version import __version__ as cfn_lint_version

    from generator import __version__

    rules: dict[str, Any] = {}
    results = []
    for match in matches:
        rules.setdefault(match.rule.id, match.rule)
        results.append(
            {
                "ruleId": match.rule.id,
                "level": SARIF_LEVELS.get(match.rule.severity, "none"),
                "message": {"text": match.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {
                                "uri": Path(match.filename).as_posix(),
                                "uriBaseId": "EXECUTIONROOT",
                            },
                            "region": {
                                "startLine": match.linenumber,
                                "startColumn": match.columnnumber,
                                "endLine": match.linenumberend,
                                "endColumn": match.columnnumberend,
                            },
                        }
                    }
                ],
            }
        )
    driver = {
        "name": "pipegen lint",
        "version": __version__,
        "informationUri": "https://github.com/aws-cloudformation/cfn-lint",
        "shortDescription": {
            "text": f"cfn-lint {cfn_lint_version} with pipegen's guardrail and pipeline rules"
        },
        "rules": [
            {
                "id": rule_id,
                "shortDescription": {"text": rule.shortdesc},
                "fullDescription": {"text": rule.description},
                "helpUri": rule.source_url
                or "https://github.com/aws-cloudformation/cfn-lint/blob/main/docs/rules.md",
            }
            for rule_id, rule in sorted(rules.items())
        ],
    }
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "originalUriBaseIds": {
                    "EXECUTIONROOT": {
                        "description": {"text": "The directory in which pipegen lint was run."}
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, sort_keys=True)


def render(matches: Sequence[Any], output: str, files: int) -> str:
    if output == "json":
        return as_json(matches)
    if output == "sarif":
        return as_sarif(matches)
    return as_text(matches, files)
