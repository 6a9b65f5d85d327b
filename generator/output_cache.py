"""Rendered pipelines cached by spec content, under .cache/pipegen/output/.

The generator is deterministic, so a spec whose bytes are unchanged, built by unchanged code
with unchanged libraries, renders to the same files: the key covers the spec bytes, the
template format, a hash of every source and template file of the generator and blueprints, and
the versions of the libraries that shape the output. Only specs that built cleanly are stored.
Writes are atomic (temporary file, then rename); unreadable entries are ignored.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

from generator.cache_files import read_entry, write_entry

SOURCE_SUFFIXES = (".py", ".j2", ".yaml", ".yml", ".json", ".sh")
LIBRARIES = ("troposphere", "awacs", "cfn-lint", "pydantic", "PyYAML", "Jinja2")


@dataclass(frozen=True)
class RenderedSet:
    """A pipeline's files as bytes: all a build keeps once its templates are rendered."""

    pipeline: str
    regions: tuple[str, ...]
    files: dict[str, bytes]
    local_root: bytes  # the root with local TemplateURLs, for E3043


@cache
def code_fingerprint() -> str:
    """Every file that can change what a spec renders to, found without importing it."""
    digest = hashlib.sha256()
    for package in ("generator", "blueprints"):
        found = importlib.util.find_spec(package)
        assert found is not None and found.submodule_search_locations
        root = Path(next(iter(found.submodule_search_locations)))
        for path in sorted(root.rglob("*")):
            if path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts:
                digest.update(f"{package}/{path.relative_to(root)}\0".encode())
                digest.update(path.read_bytes())
    for library in LIBRARIES:
        digest.update(f"{library} {version(library)}\0".encode())
    return digest.hexdigest()


class OutputCache:
    """`root=None` disables it."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    @staticmethod
    def key(spec: bytes, template_format: str) -> str:
        digest = hashlib.sha256(f"{code_fingerprint()}\0{template_format}\0".encode())
        digest.update(spec)
        return digest.hexdigest()

    def _entry(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> RenderedSet | None:
        if self.root is None:
            return None
        data = read_entry(self._entry(key))
        try:
            if data["key"] != key:
                return None
            return RenderedSet(
                pipeline=data["pipeline"],
                regions=tuple(data["regions"]),
                files={path: text.encode() for path, text in data["files"].items()},
                local_root=data["local_root"].encode(),
            )
        except (KeyError, TypeError, AttributeError):
            return None

    def put(self, key: str, rendered: RenderedSet) -> None:
        if self.root is None:
            return
        write_entry(
            self._entry(key),
            {
                "key": key,
                "pipeline": rendered.pipeline,
                "regions": list(rendered.regions),
                "files": {path: data.decode() for path, data in rendered.files.items()},
                "local_root": rendered.local_root.decode(),
            },
        )
