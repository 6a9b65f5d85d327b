"""`pipegen`: build, validate, list, new, schema. Exit 0 ok, 1 lint failure, 2 bad input."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from generator import __version__
from generator.errors import PipegenError

if TYPE_CHECKING:
    from click.decorators import FC

DEFAULT_SPECS = Path("pipelines")
DEFAULT_OUT = Path("output")


def _fail(error: PipegenError) -> None:
    click.echo(str(error), err=True)
    sys.exit(error.exit_code)


class _Group(click.Group):
    """Turns every PipegenError into its message and exit code; bad usage exits 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PipegenError as error:
            _fail(error)
        except OSError as error:
            where = f"{error.filename}: " if error.filename else ""
            hint = ""
            if isinstance(error, PermissionError) or error.errno == errno.EROFS:
                hint = (
                    "; pipegen could not write there, so nothing was changed: make the folder "
                    "writable, or build elsewhere with --out DIR"
                )
            click.echo(f"{where}{error.strerror or error}{hint}", err=True)
            sys.exit(2)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as error:  # a bug: say so plainly, keep the traceback opt-in
            if os.environ.get("PIPEGEN_DEBUG"):
                raise
            click.echo(
                f"pipegen internal error: {type(error).__name__}: {error}\n"
                "This is a bug in pipegen, not in your spec. Rerun with PIPEGEN_DEBUG=1 for the "
                "traceback and report it.",
                err=True,
            )
            sys.exit(70)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pipegen")
def main() -> None:
    """Turn short pipeline specs into lint-clean CloudFormation for AWS CodePipeline."""


def _report_format(choices: list[str], help_text: str) -> Callable[[FC], FC]:
    """`--format` of the commands that report: into `output`, text by default."""
    return click.option(
        "--format",
        "output",
        type=click.Choice(choices),
        default="text",
        show_default=True,
        help=help_text,
    )


def _sarif_file(help_text: str) -> Callable[[FC], FC]:
    return click.option(
        "--sarif",
        "sarif_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=help_text,
    )


def _spec_paths(specs: tuple[Path, ...]) -> tuple[list[Path], bool]:
    from generator.build import find_specs

    if specs:
        return list(specs), False
    found = find_specs(DEFAULT_SPECS)
    if not found:
        raise click.UsageError(f"no specs given and none found in {DEFAULT_SPECS}/")
    return found, True


@main.command()
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Folder that receives one sub-folder per pipeline.",
)
@click.option(
    "--format",
    "template_format",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="Template format.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Lint processes (default: the number of cores). Output is the same for every value.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Compose and lint everything again instead of reusing .cache/pipegen/.",
)
@click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A folder of cfn-lint custom rules the lint gate also runs (repeatable).",
)
@_sarif_file(
    "Also write the lint findings to this file as SARIF 2.1.0 (GitHub code scanning); "
    "written when the build passes (no results) and when lint fails it."
)
def build(
    specs: tuple[Path, ...],
    out_dir: Path,
    template_format: str,
    jobs: int | None,
    no_cache: bool,
    rule_dirs: tuple[Path, ...],
    sarif_file: Path | None,
) -> None:
    """Build SPECS (default: every spec in pipelines/) into OUT/<pipeline>/.

    Templates are linted before anything in OUT changes. Building all specs also removes
    the output of pipelines whose spec is gone.
    """
    from generator.build import LintGateFailure
    from generator.build import build as run_build
    from generator.lint.cache import CACHE_ROOT
    from generator.lint.gate import rule_set
    from generator.review.sarif import write_sarif

    paths, all_specs = _spec_paths(specs)
    rules = rule_set(rule_dirs)
    started = time.perf_counter()
    try:
        with _progress(len(paths)) as progress:
            result = run_build(
                paths,
                out_dir,
                template_format=template_format,
                prune=all_specs,
                cache_dir=None if no_cache else CACHE_ROOT,
                workers=jobs or os.cpu_count() or 1,
                progress=progress,
                catalog=all_specs,
                rules=rules,
            )
    except LintGateFailure as failure:
        if sarif_file is not None:  # before the failure exits 1
            write_sarif(sarif_file, failure.findings, out_dir=out_dir, rules=rules)
        raise
    if sarif_file is not None:
        write_sarif(sarif_file, [], out_dir=out_dir, rules=rules)
    elapsed = time.perf_counter() - started
    if len(result.pipelines) <= PLAIN_LIST_LIMIT or not sys.stdout.isatty():
        for name in result.pipelines:
            click.echo(f"built {out_dir / name}/")
    for name in result.removed:
        click.echo(f"removed {out_dir / name}/ (its spec is gone)")
    lint = result.lint
    click.echo(
        f"{len(result.pipelines)} spec(s), {lint.templates} templates "
        f"({lint.linted} linted, {lint.cached} cached), {result.files} files, "
        f"{result.reused} unchanged spec(s) reused, lint clean, {elapsed:.2f}s"
    )


PLAIN_LIST_LIMIT = 5  # more specs than this on a terminal get a progress bar


@contextlib.contextmanager
def _progress(specs: int) -> Iterator[Any]:
    """A rich progress bar on a terminal with many specs; nothing otherwise (CI logs stay plain)."""
    if specs <= PLAIN_LIST_LIMIT or not sys.stdout.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                label = {"compose": "Composing", "lint": "Linting"}.get(phase, phase)
                tasks[phase] = bar.add_task(label, total=total)
            bar.update(tasks[phase], completed=done)

        yield update


@main.command()
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
def validate(specs: tuple[Path, ...]) -> None:
    """Check SPECS (default: every spec in pipelines/) without building anything."""
    from generator.build import load_all

    paths, _ = _spec_paths(specs)
    for item in load_all(paths):
        click.echo(f"{item.display}: ok ({item.spec.blueprint} pipeline {item.spec.name})")


@main.command()
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@_report_format(
    ["text", "json", "markdown"],
    "text: a table; json: exact amounts as strings; markdown: the README section.",
)
@click.option(
    "--no-free-tier",
    is_flag=True,
    help="Leave the account's free tiers out (other pipelines share the account).",
)
def cost(specs: tuple[Path, ...], output: str, no_free_tier: bool) -> None:
    """Estimate what SPECS (default: every spec in pipelines/) cost a month.

    From each spec's `usage:` and the templates it builds, at the list prices of
    generator/data/prices.yaml. Nothing is written.
    """
    from decimal import Decimal

    from generator.build import load_all
    from generator.errors import SpecError
    from generator.review import cost as costing

    paths, _ = _spec_paths(specs)
    estimates = []
    problems = []
    for item in load_all(paths):
        template_set = item.blueprint.build(item.spec, "yaml")
        try:
            estimates.append(
                costing.estimate(item, template_set, free_tier=False if no_free_tier else None)
            )
        except SpecError as error:
            problems.extend(error.problems)
    if problems:
        raise SpecError(problems)
    total = sum((e.total_usd for e in estimates), Decimal(0))
    if output == "json":
        document = {"estimates": [e.to_dict() for e in estimates], "total_usd": str(total)}
        click.echo(json.dumps(document, indent=2))
        return
    render = costing.render_markdown if output == "markdown" else costing.render_text
    click.echo("\n".join(render(e) for e in estimates), nl=False)
    if output == "text" and len(estimates) > 1:
        free = "" if no_free_tier else " (each counting the free tiers; see --no-free-tier)"
        click.echo(f"\n{len(estimates)} pipelines: {costing.money(total)} a month{free}")


@main.command(name="list")
def list_blueprints() -> None:
    """The blueprints and their options."""
    from generator.blueprint import registry

    for name, blueprint in sorted(registry().items()):
        click.echo(f"{name}: {blueprint.summary}")
        env_model = blueprint.spec_model.model_fields["environments"].annotation
        deploy = env_model.__args__[0].model_fields.get("deploy")  # type: ignore[union-attr]
        if deploy is not None:
            click.echo("  environments[].deploy options:")
            for field_name, field in deploy.annotation.model_fields.items():
                text = (field.description or "").split(". ")[0]
                click.echo(f"    {field_name}: {text}".rstrip(": "))


@main.command()
@click.argument("blueprint")
@click.argument("name")
def new(blueprint: str, name: str) -> None:
    """Print a commented starting spec: pipegen new web-app my-shop > pipelines/my-shop.yaml"""
    from generator.blueprint import registry
    from generator.spec.types import _pipeline_name

    blueprints = registry()
    if blueprint not in blueprints:
        raise click.BadParameter(
            f"unknown blueprint {blueprint!r}; choose one of {', '.join(sorted(blueprints))}",
            param_hint="BLUEPRINT",
        )
    try:
        _pipeline_name(name)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="NAME") from None
    click.echo(blueprints[blueprint].starter_spec(name), nl=False)


@main.command()
def schema() -> None:
    """Print the JSON Schema of specs, for editor validation."""
    import functools
    import operator
    from typing import Annotated

    from pydantic import Field, TypeAdapter

    from generator.blueprint import registry

    models = [b.spec_model for b in registry().values()]
    either: Any = functools.reduce(operator.or_, models)  # A | B | ...
    union: Any = Annotated[either, Field(discriminator="blueprint")] if len(models) > 1 else either
    document = TypeAdapter(union).json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "pipegen pipeline spec"
    click.echo(json.dumps(document, indent=2, sort_keys=True))


@main.command()
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--bucket", required=True, help="S3 bucket that receives the templates.")
@click.option(
    "--prefix",
    default="",
    show_default=True,
    help="Key prefix in the bucket; sets go under PREFIX/<pipeline>/<version>/.",
)
@click.option(
    "--region",
    default=None,
    help="Region of the bucket (default: the AWS profile's region, else us-east-1).",
)
@click.option(
    "--endpoint-url",
    default=None,
    help="S3 endpoint to use instead of AWS's (a local S3 such as moto).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="The output folder to publish.",
)
def publish(
    specs: tuple[Path, ...],
    bucket: str,
    prefix: str,
    region: str | None,
    endpoint_url: str | None,
    out_dir: Path,
) -> None:
    """Upload OUT to S3 as immutable versioned sets and print quick-create links.

    OUT must be exactly what SPECS (default: every spec in pipelines/) build now, and pass the
    lint gate. Each template set goes under PREFIX/<pipeline>/<version>/, the portfolio under
    PREFIX/service-catalog/<version>/; keys already published are never written again.
    """
    from generator.publish import publish as run_publish

    paths, _ = _spec_paths(specs)
    report = run_publish(
        paths, out_dir, bucket=bucket, prefix=prefix, region=region, endpoint_url=endpoint_url
    )
    for line in report.lines():
        click.echo(line)


def _diff_report(specs: tuple[Path, ...], out_dir: Path) -> Any:
    """OUT against a fresh build of SPECS, made as `pipegen build` makes it (the portfolio too
    when every spec is built), into a temporary folder: OUT itself is only read."""
    import tempfile

    from generator.build import build as run_build
    from generator.errors import LintFailure
    from generator.lint.cache import CACHE_ROOT
    from generator.review.diff import compare_trees

    paths, all_specs = _spec_paths(specs)
    template_format = "json" if any(out_dir.glob("*/root.json")) else "yaml"
    with tempfile.TemporaryDirectory(prefix="pipegen-diff-") as folder:
        fresh = Path(folder) / "output"
        try:
            result = run_build(
                paths,
                fresh,
                template_format=template_format,
                prune=all_specs,
                cache_dir=CACHE_ROOT,
                workers=os.cpu_count() or 1,
                catalog=all_specs,
            )
        except LintFailure as error:  # exit 1 means "differs" here
            raise PipegenError(f"the fresh build failed, nothing to compare: {error}") from None
        return compare_trees(out_dir, fresh, only=None if all_specs else result.pipelines)


_DIFF_OUT = click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="The output folder to compare with a fresh build.",
)
_DIFF_FORMAT = _report_format(
    ["text", "json"], "text for people; json: the structure documented in generator/review/diff.py."
)


@main.command(name="diff")
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@_DIFF_OUT
@_DIFF_FORMAT
def diff_command(specs: tuple[Path, ...], out_dir: Path, output: str) -> None:
    """What building SPECS (default: every spec in pipelines/) would change in OUT: resources,
    parameters and outputs, template by template, with the resources CloudFormation will
    REPLACE or delete and create again first. OUT is not changed.

    Exit code: 0 nothing differs, 1 something differs, 2 bad input.
    """
    from generator.review.diff import render_json, render_text

    report = _diff_report(specs, out_dir)
    click.echo(render_json(report) if output == "json" else render_text(report))
    sys.exit(1 if report.changed else 0)


@main.command(name="check")
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@_DIFF_OUT
@_DIFF_FORMAT
def check_command(specs: tuple[Path, ...], out_dir: Path, output: str) -> None:
    """`pipegen diff`, quiet, for CI: one line per file of OUT that a build of SPECS would
    change, nothing when OUT is fresh. Exit code: 0 fresh, 1 stale, 2 bad input.
    """
    from generator.review.diff import render_check, render_check_json

    report = _diff_report(specs, out_dir)
    text = render_check_json(report) if output == "json" else render_check(report)
    if text:
        click.echo(text)
    sys.exit(1 if report.changed else 0)


LINT_USAGE_EXIT = 32  # cfn-lint's code for input it cannot use; findings use 2, 4 and 8


class _LintUsageError(click.UsageError):
    exit_code = LINT_USAGE_EXIT


class _LintCommand(click.Command):
    """Bad usage of `pipegen lint` exits 32, apart from the finding bits 2, 4 and 8."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as error:
            raise _LintUsageError(error.format_message(), error.ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            raise _LintUsageError(error.format_message(), error.ctx) from None


def _regions(values: tuple[str, ...]) -> list[str]:
    from cfnlint.helpers import REGIONS

    from generator.lint.rules._pipeline import did_you_mean

    regions = [r.strip() for value in values for r in value.split(",") if r.strip()]
    for region in regions:
        if region not in REGIONS:
            raise click.BadParameter(
                f"{region!r} is not a region cfn-lint knows{did_you_mean(region, REGIONS)}",
                param_hint="--regions",
            )
    return regions or ["us-east-1"]


@main.command(cls=_LintCommand)
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
)
@_report_format(
    ["text", "json", "sarif"],
    "text: one line a finding; json: cfn-lint's JSON; sarif: SARIF 2.1.0.",
)
@click.option(
    "--regions",
    multiple=True,
    metavar="REGION[,REGION...]",
    help="Regions to lint for (repeatable or comma-separated; default us-east-1).",
)
@click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    metavar="DIR",
    type=click.Path(path_type=Path),
    help="A folder of extra cfn-lint rules (repeatable), run like --append-rules.",
)
@_sarif_file("Also write the findings to this file as SARIF 2.1.0 (what --format sarif prints).")
def lint(
    files: tuple[Path, ...],
    output: str,
    regions: tuple[str, ...],
    rule_dirs: tuple[Path, ...],
    sarif_file: Path | None = None,
) -> None:
    """Lint CloudFormation templates (any, not only pipegen's) with cfn-lint's rules,
    pipegen's guardrails and pipeline semantics rules, and the rules in each --rules DIR.

    Exit code: cfn-lint's bitmask, 2 for errors, 4 warnings, 8 informational findings (0 when
    clean); 32 for bad usage or a file that cannot be read.
    """
    from generator.lint import report
    from generator.lint.gate import RuleSetError, load_rules, rule_set

    chosen = _regions(regions)
    try:
        rules = rule_set(rule_dirs)
        load_rules(rules)
    except RuleSetError as error:
        raise click.BadParameter(str(error), param_hint="--rules") from None
    matches = report.lint_files(files, chosen, rules)
    if sarif_file is not None:
        sarif_file.parent.mkdir(parents=True, exist_ok=True)
        sarif_file.write_text(report.render(matches, "sarif", len(files)) + "\n", encoding="utf-8")
    click.echo(report.render(matches, output, len(files)))
    sys.exit(report.exit_code(matches))


if __name__ == "__main__":  # pragma: no cover
    main()
