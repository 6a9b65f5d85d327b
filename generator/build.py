"""spec files -> validated models -> template sets -> rendered, checked against AWS limits,
linted, swapped into output/."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

from generator import limits, service_catalog, writer
from generator.assembly.assemble import TemplateSet
from generator.errors import LintFailure, Located, SpecError
from generator.lint.cache import CACHE_ROOT, LintCache, cache_key, restore
from generator.lint.gate import (
    DEFAULT_RULES,
    LOCAL_ROOT_EXPECTED,
    Finding,
    LintJob,
    RuleSet,
    lint_all,
)
from generator.output_cache import OutputCache, RenderedSet
from generator.spec.loader import LoadedSpec, load_spec

SPEC_SUFFIXES = (".yaml", ".yml")
Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class BuildResult:
    pipelines: list[str] = field(default_factory=list)
    files: int = 0
    removed: list[str] = field(default_factory=list)
    lint: LintStats = field(default_factory=lambda: LintStats())
    reused: int = 0  # specs whose rendered output came from the cache


def find_specs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file())


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def load_all(paths: Sequence[Path]) -> list[LoadedSpec]:
    """Every spec, validated; all problems of all files are reported together."""
    loaded: list[LoadedSpec] = []
    problems: list[Located] = []
    seen: dict[str, str] = {}
    for path in paths:
        try:
            spec = load_spec(path, display_path(path))
        except SpecError as error:
            problems.extend(error.problems)
            continue
        name = spec.spec.name
        if name in seen:
            problems.append(
                Located(
                    spec.display,
                    spec.line_of("name"),
                    "name",
                    f"pipeline {name!r} is already defined in {seen[name]}; pipeline names "
                    "must be unique, so rename one of them",
                )
            )
            continue
        seen[name] = spec.display
        loaded.append(spec)
    if problems:
        raise SpecError(problems)
    return loaded


def render_all(
    paths: Sequence[Path],
    template_format: str,
    cache: OutputCache,
    progress: Progress | None = None,
) -> tuple[list[RenderedSet], int]:
    """Rendered sets in `paths` order, and how many came from the cache. A cached spec skips
    validation too: it validated when it was stored, and neither it nor the code has changed.

    Every fresh rendering is checked against AWS's limits (generator/limits.py) and cached only
    if it holds; a cached one held when it was stored, under the same code. Once every spec is
    rendered, the limits any of them break are raised together (LimitExceeded), before anything
    is staged or linted."""
    keys = [cache.key(path.read_bytes(), template_format) for path in paths]
    found = [cache.get(key) for key in keys]
    missing = [path for path, hit in zip(paths, found, strict=True) if hit is None]
    fresh = iter(_compose(load_all(missing), template_format, progress) if missing else [])
    rendered = []
    over_limits: list[str] = []
    for key, hit in zip(keys, found, strict=True):
        if hit is None:
            hit = next(fresh)
            problems = limits.check_rendered(hit.pipeline, hit.files)
            if problems:
                over_limits += problems
            else:
                cache.put(key, hit)
        rendered.append(hit)
    names = [r.pipeline for r in rendered]
    if len(set(names)) != len(names):
        load_all(paths)  # reports the duplicate pipeline name, with its file and line
    if over_limits:
        raise limits.LimitExceeded(over_limits)
    return rendered, len(paths) - len(missing)


def _compose(
    loaded: Sequence[LoadedSpec], template_format: str, progress: Progress | None
) -> Iterator[RenderedSet]:
    # Imported here: generator.review.docs imports generator.publish, which imports this
    # module, so at module level `import generator.publish` (or .review.documents) failed.
    from generator.review.documents import review_documents

    for done, item in enumerate(loaded, start=1):
        template_set: TemplateSet = item.blueprint.build(item.spec, template_format)
        template_set.documents.update(review_documents(item, template_set))
        yield RenderedSet(
            template_set.pipeline,
            tuple(sorted(set(template_set.regions))),
            writer.render_set(template_set, template_format),
            writer.local_root(template_set, template_format),
        )
        if progress:
            progress("compose", done, len(loaded))


@dataclass
class LintStats:
    templates: int = 0  # template files checked, the local-root copies included
    linted: int = 0  # distinct contents actually linted
    cached: int = 0  # distinct contents answered by the cache


def lint_staged(
    staging: Path,
    sets: Sequence[RenderedSet],
    template_format: str,
    *,
    cache: LintCache,
    workers: int,
    progress: Progress | None = None,
    rules: RuleSet = DEFAULT_RULES,
) -> tuple[list[Finding], LintStats]:
    """Lint every staged template once per distinct content; reuse cached results."""
    planned: list[tuple[str, LintJob]] = []  # (cache key, job)
    for template_set in sets:
        files = template_set.files
        folder = staging / template_set.pipeline
        regions = template_set.regions
        for relative, content in files.items():
            if relative.startswith("app/") or not relative.endswith((".yaml", ".json")):
                continue
            key = cache_key([content], regions, (), rules)
            display = f"{template_set.pipeline}/{relative}"
            planned.append((key, LintJob(folder / relative, display, regions, rules=rules)))
        # The root again, with TemplateURLs pointing at the local children, so that E3043
        # checks each parent/child parameter contract; its result depends on the children too.
        local_name = f"{writer.LOCAL_ROOT_NAME}.{template_format}"
        local = template_set.local_root
        (folder / local_name).write_bytes(local)
        children = [files[r] for r in sorted(files) if r.startswith("stacks/")]
        key = cache_key([local, *children], regions, LOCAL_ROOT_EXPECTED, rules)
        planned.append(
            (
                key,
                LintJob(
                    folder / local_name,
                    f"{template_set.pipeline}/{local_name}",
                    regions,
                    LOCAL_ROOT_EXPECTED,
                    rules=rules,
                ),
            )
        )
    stats = LintStats(templates=len(planned))
    answers: dict[str, list[tuple[Any, ...]]] = {}
    to_lint: dict[str, LintJob] = {}
    for key, job in planned:
        if key in answers or key in to_lint:
            continue
        cached = cache.get(key)
        if cached is not None:
            answers[key] = cached
            stats.cached += 1
        else:
            to_lint[key] = job
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress:
            progress("lint", done[0], len(to_lint))

    results = lint_all(list(to_lint.values()), workers, tick)
    for key, findings in zip(to_lint, results, strict=True):
        cache.put(key, findings)
        answers[key] = [astuple(f)[1:] for f in findings]
    stats.linted = len(to_lint)
    findings = [f for key, job in planned for f in restore(answers[key], job.display)]
    for template_set in sets:
        (staging / template_set.pipeline / f"{writer.LOCAL_ROOT_NAME}.{template_format}").unlink()
    return sorted(set(findings), key=lambda f: (f.path, f.line, f.rule, f.message)), stats


class LintGateFailure(LintFailure):
    """The lint gate's rejection; `findings` are what it found (`pipegen build --sarif`)."""

    def __init__(self, message: str, findings: Sequence[Finding]) -> None:
        super().__init__(message)
        self.findings = list(findings)


def build(
    paths: Sequence[Path],
    out_dir: Path,
    *,
    template_format: str = "yaml",
    prune: bool = False,
    cache_dir: Path | None = CACHE_ROOT,
    workers: int = 1,
    progress: Progress | None = None,
    catalog: bool = False,
    rules: RuleSet = DEFAULT_RULES,
) -> BuildResult:
    """Build every spec in `paths`; nothing in `out_dir` changes unless all of them pass.
    `catalog`: also the Service Catalog portfolio of them all; `rules`: extra lint rules."""
    outputs = OutputCache(cache_dir / "output" if cache_dir else None)
    sets, reused = render_all(paths, template_format, outputs, progress)  # limits checked
    staged = list(sets)
    if catalog:  # every spec is built: the portfolio of a subset would drop the others
        specs = [item.spec for item in load_all(paths)]
        staged.append(service_catalog.catalog_set(specs, sets, template_format))
    result = BuildResult(reused=reused)
    with writer.staging_area(out_dir) as staging:
        for rendered in staged:
            writer.write_tree(staging / rendered.pipeline, rendered.files)
            result.files += len(rendered.files)
        findings, result.lint = lint_staged(
            staging,
            staged,
            template_format,
            cache=LintCache(cache_dir / "lint" if cache_dir else None),
            workers=workers,
            progress=progress,
            rules=rules,
        )
        if findings:
            raise LintGateFailure(
                "cfn-lint rejected the generated templates (a pipegen bug; nothing was written):\n"
                + "\n".join(f"  {f}" for f in findings),
                findings,
            )
        result.pipelines = [s.pipeline for s in sets]
        with writer.output_lock(out_dir):
            names = [s.pipeline for s in staged]
            result.removed = writer.swap_in(staging, out_dir, names, prune=prune)
    return result
