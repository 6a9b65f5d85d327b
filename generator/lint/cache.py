"""A content-addressed cache of lint results under .cache/pipegen/lint/.

The key covers everything that can change a result: the template bytes (and, for the root copy
with local children, the children's bytes), the regions, the ignored rules, the cfn-lint version
and a fingerprint of the loaded rules (the guardrail rules, the data they read and any extra rule
directories, by content), the rule options and the pinned configuration. Entries are written to a
temporary file and renamed into place, so a crash leaves either the old entry or the new one,
and concurrent builds that compute the same key write the same bytes. An entry that does not
parse, or that names another key, is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import astuple
from datetime import date
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from generator.cache_files import read_entry, write_entry
from generator.lint import gate
from generator.lint.gate import DEFAULT_RULES, GUARDRAIL_RULES, PINNED_CONFIG, Finding, RuleSet
from generator.lint.rules._helpers import DATA_FILES

CACHE_ROOT = Path(".cache") / "pipegen"
FORMAT = 1  # bump when the entry layout changes


def _hash_tree(digest: Any, folder: Path) -> None:
    """Every file under `folder` by relative path and content (compiled caches left out): rule
    modules, and whatever helpers or data files they read."""
    digest.update(b"\0rules\0")
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        content = path.read_bytes()
        digest.update(f"\0{path.relative_to(folder).as_posix()}\0{len(content)}\0".encode())
        digest.update(content)


def _runtime_lifecycle_today() -> bytes:
    """Which Lambda runtime lifecycle dates (deprecated, create-block, update-block) have passed:
    the runtime rules (ours and cfn-lint's) answer by today's date, so the key must change when
    one passes. Read from cfn-lint's data file without importing cfn-lint."""
    spec = find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        return b""
    data = Path(next(iter(spec.submodule_search_locations)))
    data = data / "data" / "AdditionalSpecs" / "LmbdRuntimeLifecycle.json"
    if not data.is_file():
        return b""
    today = date.today().isoformat()
    phases = {
        runtime: sorted(
            k for k, v in dates.items() if isinstance(v, str) and "-" in v and v <= today
        )
        for runtime, dates in json.loads(data.read_text()).items()
        if isinstance(dates, dict)
    }
    return json.dumps(phases, sort_keys=True).encode()


@cache
def toolchain_fingerprint(directories: tuple[str, ...] = ()) -> str:
    """cfn-lint's version (which fixes its stock rules), our pinned configuration, the gate, the
    guardrail rules and their data, and the extra rule `directories` (a RuleSet's, normalised),
    all by content. Read without loading the rules, so a fully cached build never pays for
    that."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    digest.update(f"format {FORMAT}\0cfn-lint {version('cfn-lint')}\0".encode())
    digest.update(Path(PINNED_CONFIG).read_bytes())
    digest.update(Path(gate.__file__).read_bytes())  # mandatory checks, option handling
    for folder in (GUARDRAIL_RULES, *directories):
        _hash_tree(digest, Path(folder))
    for data in DATA_FILES:
        digest.update(data.read_bytes())
    digest.update(_runtime_lifecycle_today())
    return digest.hexdigest()


def cache_key(
    contents: Iterable[bytes],
    regions: Sequence[str],
    ignore: Iterable[str],
    rules: RuleSet = DEFAULT_RULES,
) -> str:
    """The key of one lint result; `rules` is the RuleSet of the LintJob that produces it."""
    digest = hashlib.sha256(toolchain_fingerprint(rules.directories).encode())
    digest.update(("\0" + ",".join(rules.options)).encode())
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
