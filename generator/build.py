"""spec files -> validated models -> template sets -> rendered, linted, swapped into output/."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from generator import writer
from generator.assembly.assemble import TemplateSet
from generator.errors import LintFailure, Located, SpecError
from generator.lint.gate import LOCAL_ROOT_EXPECTED, Finding, lint_files
from generator.spec.loader import LoadedSpec, load_spec

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass
class BuildResult:
    pipelines: list[str] = field(default_factory=list)
    files: int = 0
    removed: list[str] = field(default_factory=list)


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


def compose_all(paths: Sequence[Path], template_format: str) -> list[TemplateSet]:
    return [item.blueprint.build(item.spec, template_format) for item in load_all(paths)]


def lint_staged(staging: Path, sets: Sequence[TemplateSet], template_format: str) -> list[Finding]:
    findings: list[Finding] = []
    for template_set in sets:
        folder = staging / template_set.pipeline
        templates = [folder / relative for relative, _ in template_set.templates()]
        templates[0] = folder / writer.root_file(template_format)
        findings += lint_files(templates, template_set.regions, base=staging)
        local = folder / f"{writer.LOCAL_ROOT_NAME}.{template_format}"
        local.write_bytes(writer.local_root(template_set, template_format))
        try:
            findings += lint_files(
                [local], template_set.regions, base=staging, ignore=LOCAL_ROOT_EXPECTED
            )
        finally:
            local.unlink()
    return findings


def build(
    paths: Sequence[Path], out_dir: Path, *, template_format: str = "yaml", prune: bool = False
) -> BuildResult:
    """Build every spec in `paths`; nothing in `out_dir` changes unless all of them pass."""
    sets = compose_all(paths, template_format)
    result = BuildResult()
    with writer.staging_area(out_dir) as staging:
        for template_set in sets:
            files = writer.render_set(template_set, template_format)
            writer.write_tree(staging / template_set.pipeline, files)
            result.files += len(files)
        findings = lint_staged(staging, sets, template_format)
        if findings:
            raise LintFailure(
                "cfn-lint rejected the generated templates (a pipegen bug; nothing was written):\n"
                + "\n".join(f"  {f}" for f in findings)
            )
        result.pipelines = [s.pipeline for s in sets]
        result.removed = writer.swap_in(staging, out_dir, result.pipelines, prune=prune)
    return result
