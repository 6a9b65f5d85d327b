"""The lint gate: cfn-lint in-process, rules loaded once per process and reused.

`cfnlint.api.lint()` rebuilds its rule collection on every call (~0.45 s each); loading the
rules once and running them per file costs ~0.2 s a template instead.

Besides cfn-lint's stock rules the gate runs pipegen's guardrail rules (generator/lint/rules,
ids E9xxx/W9xxx) and any extra rule directories a `RuleSet` names (`pipegen build --rules DIR`),
loaded the way `cfn-lint --append-rules DIR` loads them. Rules in the custom range (E9/W9) are
mandatory: a template's `Metadata: cfn-lint: config: ignore_checks` cannot silence them, and a
template cannot reconfigure them either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from generator.errors import PipegenError

PINNED_CONFIG = str(resources.files("generator.lint").joinpath("cfnlintrc.yaml"))
GUARDRAIL_RULES = str(resources.files("generator.lint").joinpath("rules"))
MANDATORY = ("E9", "W9")  # cfn-lint's custom-rule range: ours and a platform team's

# Expected only on the copy of the root whose TemplateURLs point at local files: the template
# bucket parameters go unused there (W2001) and cfn-lint suggests `package` (W3002).
LOCAL_ROOT_EXPECTED = frozenset({"W2001", "W3002"})


class RuleSetError(PipegenError):
    """A rule directory or rule option the gate cannot use (bad usage: exit code 2)."""


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


def _parse_option(option: str) -> tuple[str, str, str]:
    rule, sep, setting = option.partition(":")
    key, eq, value = setting.partition("=")
    if not (sep and eq and rule.strip() and key.strip()):
        raise RuleSetError(
            f"rule option {option!r} is not RULE:KEY=VALUE (e.g. E9303:min_retention_days=400)"
        )
    return rule.strip(), key.strip(), value.strip()


@dataclass(frozen=True)
class RuleSet:
    """The rules a lint runs beyond cfn-lint's stock rules and pipegen's guardrails.

    `directories`: extra folders of cfn-lint custom rules (`pipegen build --rules DIR`).
    `options`: cfn-lint `--configure-rule` settings, `RULE:KEY=VALUE`, for example
    `E9303:min_retention_days=400` (see `log_retention()`).
    Both are normalised (absolute paths, sorted, deduplicated), so equal rule sets compare and
    hash equal; a directory that does not exist raises RuleSetError.
    """

    directories: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        folders = set()
        for folder in self.directories:
            path = Path(folder).expanduser()
            if not path.is_dir():
                raise RuleSetError(f"rules directory {str(folder)!r} does not exist")
            resolved = str(path.resolve())
            if resolved != str(Path(GUARDRAIL_RULES).resolve()):  # always loaded already
                folders.add(resolved)
        options = {}
        for option in self.options:
            rule, key, value = _parse_option(option)
            options[(rule, key)] = f"{rule}:{key}={value}"  # the last setting of a key wins
        object.__setattr__(self, "directories", tuple(sorted(folders)))
        object.__setattr__(self, "options", tuple(sorted(options.values())))


def log_retention(days: int) -> str:
    """The rule option that sets the guardrail minimum for log group retention (E9303)."""
    return f"E9303:min_retention_days={days}"


def rule_set(directories: Iterable[str | Path] = (), options: Iterable[str] = ()) -> RuleSet:
    """A RuleSet from CLI-style values: `--rules DIR` (repeatable) and rule options."""
    return RuleSet(tuple(str(d) for d in directories), tuple(options))


DEFAULT_RULES = RuleSet()


@cache
def _rules(directories: tuple[str, ...] = ()) -> Any:
    """Stock rules, the guardrails and `directories` (a normalised RuleSet.directories)."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    config = ConfigMixIn(
        ["--config-file", PINNED_CONFIG],
        include_checks=["I"],
        append_rules=[GUARDRAIL_RULES, *directories],
    )
    try:
        return Runner(config).rules
    except Exception as error:  # a duplicate rule id, an import or syntax error in a rule file
        raise RuleSetError(
            f"cannot load the lint rules from {', '.join(directories) or GUARDRAIL_RULES}: {error}"
        ) from error


def _configure(rules: Any, options: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """cfn-lint's configure_rules: every rule's `config_definition` defaults, then `options`.
    Always non-empty, so that a template's own cfn-lint configure_rules never applies."""
    configured: dict[str, dict[str, Any]] = {}
    for rule_id, rule in rules.items():
        if rule_id.startswith(MANDATORY) and rule.config_definition:
            configured[rule_id] = {
                key: spec.get("default") for key, spec in rule.config_definition.items()
            }
    for option in options:
        rule_id, key, value = _parse_option(option)
        rule = rules.get(rule_id)
        if rule is None:
            raise RuleSetError(f"rule option {option!r}: no rule {rule_id} is loaded")
        definition = rule.config_definition.get(key)
        if definition is None:
            known = ", ".join(sorted(rule.config_definition)) or "none"
            raise RuleSetError(
                f"rule option {option!r}: {rule_id} has no option {key!r} (its options: {known})"
            )
        if definition.get("type") == "integer":
            try:
                int(value)
            except ValueError:
                raise RuleSetError(f"rule option {option!r}: {key} takes a whole number") from None
        configured.setdefault(rule_id, {})[key] = value
    return configured


@cache
def _config(regions: tuple[str, ...], rules: RuleSet = DEFAULT_RULES) -> Any:
    from cfnlint.config import ConfigMixIn

    return ConfigMixIn(
        ["--config-file", PINNED_CONFIG],
        regions=list(regions),
        include_checks=["I"],
        mandatory_checks=list(MANDATORY),
        configure_rules=_configure(_rules(rules.directories), rules.options),
    )


def _resource(match: Any) -> str:
    """The logical id a match is about, when it is about a resource. cfn-lint copies the rule
    match's attributes, `path` among them, onto the Match (`rulematch_obj` is only an InitVar)."""
    path = list(getattr(match, "path", None) or [])
    return str(path[1]) if len(path) > 1 and path[0] == "Resources" else ""


@dataclass(frozen=True)
class LintJob:
    """One file to lint; `display` is how findings name it; `rules` adds rule directories and
    rule options (give the same RuleSet to `cache_key`)."""

    path: Path
    display: str
    regions: tuple[str, ...]
    ignore: frozenset[str] = frozenset()
    rules: RuleSet = field(default=DEFAULT_RULES)


def load_rules(rules: RuleSet = DEFAULT_RULES) -> None:
    """Load (and check) the rules and options of `rules` now, so that a bad rule directory or
    option fails before any linting; later lints in this process reuse them."""
    _config(("us-east-1",), rules)


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
            str(job.path),
            _config(tuple(sorted(set(job.regions))), job.rules),
            _rules(job.rules.directories),
            False,
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

    for rules in {job.rules for job in jobs}:
        load_rules(rules)  # load once, before forking
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        for result in pool.map(lint_one, jobs, chunksize=max(1, len(jobs) // (workers * 8))):
            results.append(result)
            if on_done:
                on_done()
    return results
