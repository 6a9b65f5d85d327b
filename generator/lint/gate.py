"""The lint gate: cfn-lint in-process, rules loaded once per process and reused.

`cfnlint.api.lint()` rebuilds its rule collection on every call (~0.45 s each); loading the
rules once and running them per file costs ~0.2 s a template instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

PINNED_CONFIG = str(resources.files("generator.lint").joinpath("cfnlintrc.yaml"))

# Expected only on the copy of the root whose TemplateURLs point at local files: the template
# bucket parameters go unused there (W2001) and cfn-lint suggests `package` (W3002).
LOCAL_ROOT_EXPECTED = frozenset({"W2001", "W3002"})


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    severity: str
    message: str
    resource: str = ""

    def __str__(self) -> str:
        where = f" {self.resource}:" if self.resource else ""
        return f"{self.path}:{self.line}: {self.rule} ({self.severity}){where} {self.message}"


@cache
def _rules() -> Any:
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(["--config-file", PINNED_CONFIG], include_checks=["I"])).rules


@cache
def _config(regions: tuple[str, ...]) -> Any:
    from cfnlint.config import ConfigMixIn

    return ConfigMixIn(
        ["--config-file", PINNED_CONFIG], regions=list(regions), include_checks=["I"]
    )


def _resource(match: Any) -> str:
    """The logical id a match is about, when it is about a resource."""
    path = list(getattr(match.rulematch_obj, "path", None) or [])
    return str(path[1]) if len(path) > 1 and path[0] == "Resources" else ""


@dataclass(frozen=True)
class LintJob:
    """One file to lint; `display` is how findings name it."""

    path: Path
    display: str
    regions: tuple[str, ...]
    ignore: frozenset[str] = frozenset()


def lint_one(job: LintJob) -> list[Finding]:
    """Every finding (errors, warnings and informational) for one file, in every region."""
    from cfnlint.runner.template.runner import run_template_by_file_path

    findings = {
        Finding(
            path=job.display,
            line=match.linenumber,
            rule=match.rule.id,
            severity=match.rule.severity,
            message=match.message,
            resource=_resource(match),
        )
        for match in run_template_by_file_path(
            str(job.path), _config(tuple(sorted(set(job.regions)))), _rules(), False
        )
        if match.rule.id not in job.ignore
    }
    return sorted(findings, key=lambda f: (f.path, f.line, f.rule, f.message))


def lint_all(
    jobs: Sequence[LintJob], workers: int = 1, on_done: Callable[[], None] | None = None
) -> list[list[Finding]]:
    """Findings per job, in job order. With workers > 1 the jobs run in forked processes that
    inherit the rules this process has already loaded, so no worker loads them again."""
    results: list[list[Finding]] = []
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(lint_one(job))
            if on_done:
                on_done()
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _rules()  # load once, before forking
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        for result in pool.map(lint_one, jobs, chunksize=max(1, len(jobs) // (workers * 8))):
            results.append(result)
            if on_done:
                on_done()
    return results
