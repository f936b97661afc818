"""What the viewer reads of a run directory, all through ``silspec.run.rundir.RunDirectory``.

The layout (``store.sqlite``, ``plan_header.json``, ``bundle/``) has one owner; these thin
functions give the viewer the few reads it needs, with the viewer's own error type.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from silspec.run.rundir import RunDirectory
from silspec.run.runner import load_run_spec


class RunDirError(Exception):
    """The folder is not a run directory the viewer can show."""


def store_path(run_dir: str | os.PathLike[str]) -> Path:
    """The store file of ``run_dir``; ``RunDirError`` if there is none."""
    rundir = RunDirectory.at(run_dir)
    if not rundir.has_store():
        raise RunDirError(f"{run_dir} is not a silspec run directory (no {rundir.store_path.name})")
    return rundir.store_path


def plan_header(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The latest plan's header as JSON (items, personas, conditions, models); ``{}`` if absent."""
    data = RunDirectory.at(run_dir).header_json() or {}
    header = data.get("header")
    return header if isinstance(header, dict) else {}


def plan_header_stamp(run_dir: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(modification time, size) of the plan header: changes when a run rewrites it."""
    try:
        stat = RunDirectory.at(run_dir).plan_header_path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def load_bundled_spec(run_dir: str | os.PathLike[str]) -> Any:
    """The bundled spec with the run's overrides (what ``silspec report`` reloads)."""
    return load_run_spec(run_dir)


def typed_plan_header(run_dir: str | os.PathLike[str]) -> Any:
    """The header as the plan's ``PlanHeader`` (for recompiling requests)."""
    return RunDirectory.at(run_dir).read_plan_header()[0]
