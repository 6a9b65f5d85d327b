"""A content-addressed cache of lint results under .cache/pipegen/lint/.

The key covers everything that can change a result: the template bytes (and, for the root copy
with local children, the children's bytes), the regions, the ignored rules, the cfn-lint version
and a fingerprint of the loaded rules and pinned configuration. Entries are written to a
temporary file and renamed into place, so a crash leaves either the old entry or the new one,
and concurrent builds that compute the same key write the same bytes. An entry that does not
parse, or that names another key, is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import astuple
from functools import cache
from pathlib import Path
from typing import Any

from generator.cache_files import read_entry, write_entry
from generator.lint.gate import PINNED_CONFIG, Finding

CACHE_ROOT = Path(".cache") / "pipegen"
FORMAT = 1  # bump when the entry layout changes


@cache
def toolchain_fingerprint() -> str:
    """cfn-lint's version (which fixes its stock rules) and our pinned configuration. Read
    without loading the rules, so a fully cached build never pays for that."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    digest.update(f"format {FORMAT}\0cfn-lint {version('cfn-lint')}\0".encode())
    digest.update(Path(PINNED_CONFIG).read_bytes())
    return digest.hexdigest()


def cache_key(contents: Iterable[bytes], regions: Sequence[str], ignore: Iterable[str]) -> str:
    digest = hashlib.sha256(toolchain_fingerprint().encode())
    for content in contents:
        digest.update(len(content).to_bytes(8, "big"))
        digest.update(content)
    digest.update(("\0" + ",".join(sorted(set(regions)))).encode())
    digest.update(("\0" + ",".join(sorted(ignore))).encode())
    return digest.hexdigest()


class LintCache:
    """`root=None` disables the cache (every lookup misses, nothing is stored)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def _entry(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> list[tuple[Any, ...]] | None:
        if self.root is None:
            return None
        data = read_entry(self._entry(key))
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        findings = data.get("findings")
        if not isinstance(findings, list) or not all(isinstance(f, list) for f in findings):
            return None
        return [tuple(item) for item in findings]

    def put(self, key: str, findings: Sequence[Finding]) -> None:
        if self.root is None:
            return
        rows = [list(astuple(f))[1:] for f in findings]  # the path is added on lookup
        write_entry(self._entry(key), {"key": key, "findings": rows})


def restore(rows: Sequence[tuple[Any, ...]], path: str) -> list[Finding]:
    return [Finding(path, *row) for row in rows]
