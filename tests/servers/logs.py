"""Reading a test server's JSON-lines log while the server may still be writing it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every complete entry: a line still being written (no newline yet) is not read. A long entry
    (a 600-id upload is ~130 kB) can be seen half-written by a reader polling the file."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]
