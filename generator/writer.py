"""The only module that writes: renders template sets, stages them, and swaps them in.

Everything is rendered into a staging folder inside the output folder (same filesystem, so
renames are atomic), checked there, and only then moved into place pipeline by pipeline. A
failure at any point leaves the previous output exactly as it was.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from generator.assembly.assemble import TemplateSet
from generator.rendering import render

STAGING_PREFIX = ".pipegen-staging-"
LOCAL_ROOT_NAME = ".root-with-local-children"


def root_file(template_format: str) -> str:
    return f"root.{'json' if template_format == 'json' else 'yaml'}"


def render_set(template_set: TemplateSet, template_format: str) -> dict[str, bytes]:
    """Relative path -> bytes for one pipeline. Pure."""
    files: dict[str, bytes] = {}
    ext = "json" if template_format == "json" else "yaml"
    files[f"root.{ext}"] = render(template_set.root.to_dict(), template_format).encode()
    for child in template_set.children:
        files[f"stacks/{child.file_name}"] = render(
            child.template.to_dict(), template_format
        ).encode()
    for path, template in sorted(template_set.extra_templates.items()):
        files[path] = render(template.to_dict(), template_format).encode()
    for path, text in sorted(template_set.documents.items()):
        files[path] = text.encode()
    for path, text in sorted(template_set.files.items()):
        files[f"app/{path}"] = text.encode()
    return files


def local_root(template_set: TemplateSet, template_format: str) -> bytes:
    """The root with every TemplateURL pointing at the local child file, for cfn-lint's E3043."""
    root: dict[str, Any] = template_set.root.to_dict()
    for resource in root["Resources"].values():
        if resource["Type"] == "AWS::CloudFormation::Stack":
            url = resource["Properties"]["TemplateURL"]["Fn::Sub"]
            resource["Properties"]["TemplateURL"] = "stacks/" + url.rsplit("stacks/", 1)[1]
    return render(root, template_format).encode()


@contextmanager
def staging_area(out_dir: Path) -> Iterator[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_tree(base: Path, files: Mapping[str, bytes]) -> None:
    for relative, data in files.items():
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if relative.endswith(".sh"):
            path.chmod(0o755)
        else:
            path.chmod(0o644)


def read_tree(folder: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file below `folder` (nothing if it is missing)."""
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def is_pipeline_output(folder: Path) -> bool:
    return folder.is_dir() and any((folder / root_file(f)).is_file() for f in ("yaml", "json"))


@contextmanager
def output_lock(out_dir: Path) -> Iterator[None]:
    """One swap into `out_dir` at a time: a second concurrent build waits here, then swaps its
    own complete staging folder, so `out_dir` never mixes two builds' files."""
    lock_path = out_dir.parent / f".{out_dir.name}.pipegen.lock"
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def swap_in(staging: Path, out_dir: Path, pipelines: list[str], *, prune: bool) -> list[str]:
    """Move each staged pipeline folder into `out_dir`; with `prune`, remove the output of
    pipelines that no longer have a spec. Returns the removed folder names."""
    for name in pipelines:
        target = out_dir / name
        old = staging / f".previous-{name}"
        if target.exists():
            os.replace(target, old)
        try:
            os.replace(staging / name, target)
        except OSError:
            if old.exists():
                os.replace(old, target)
            raise
    removed = []
    if prune:
        for folder in sorted(out_dir.iterdir()):
            if folder.name.startswith("."):
                continue
            if folder.name not in pipelines and is_pipeline_output(folder):
                shutil.rmtree(folder)
                removed.append(folder.name)
    return removed
