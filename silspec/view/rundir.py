"""What the viewer reads of a run directory, through small functions one owner can take over.

The layout (``store.sqlite``, ``plan_header.json``, ``bundle/``) belongs to the runner; these
functions are the only places the viewer names it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from silspec.run.store import STORE_FILE

PLAN_HEADER_FILE = "plan_header.json"


class RunDirError(Exception):
    """The folder is not a run directory the viewer can show."""


def store_path(run_dir: str | os.PathLike[str]) -> Path:
    """The store file of ``run_dir``; ``RunDirError`` if there is none."""
    path = Path(run_dir) / STORE_FILE
    if not path.is_file():
        raise RunDirError(f"{run_dir} is not a silspec run directory (no {STORE_FILE})")
    return path


def plan_header(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The latest plan's header as JSON (items, personas, conditions, models); ``{}`` if absent."""
    path = Path(run_dir) / PLAN_HEADER_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    header = data.get("header") if isinstance(data, dict) else None
    return header if isinstance(header, dict) else {}


def plan_header_stamp(run_dir: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(modification time, size) of the plan header: changes when a run rewrites it."""
    try:
        stat = (Path(run_dir) / PLAN_HEADER_FILE).stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def load_bundled_spec(run_dir: str | os.PathLike[str]) -> Any:
    """The bundled spec with the run's overrides (what ``silspec report`` reloads)."""
    from silspec.run.runner import load_run_spec

    return load_run_spec(run_dir)


def typed_plan_header(run_dir: str | os.PathLike[str]) -> Any:
    """The header as the plan's ``PlanHeader`` (for recompiling requests)."""
    from silspec.run.runner import read_plan_header

    return read_plan_header(run_dir)[0]
