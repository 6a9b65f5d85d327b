"""JSON cache entries that survive crashes and concurrent builds."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def read_entry(path: Path) -> Any:
    """The parsed entry, or None when it is missing or unreadable (never trusted half-way)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_entry(path: Path, document: Any) -> None:
    """Write to a temporary file beside `path`, then rename: readers see the old entry or the
    new one, never a torn write. A cache that cannot be written only costs time."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, sort_keys=True)
        os.replace(temporary, path)
    except OSError:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
