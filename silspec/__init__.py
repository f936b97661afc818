"""silspec: write a silicon-sampling experiment once, check it, plan it, run it, score it.

The public Python API (``silspec.api``) is re-exported here lazily (PEP 562), so that importing
one stage (``silspec.lang.parser`` for ``silspec lint``) does not load every later one.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = (
    "DryRunRow", "Format", "Plan", "ReportError", "Results", "Run", "RunSetupError", "RunSummary",
    "RunsAggregate", "Spec", "Verification", "analyse", "default_run_dir", "dry_run", "freeze",
    "load_spec", "make_plan", "open_run", "print_run_report", "run_plan", "run_spec", "verify_run",
    "write_answers", "write_report",
)

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module("silspec.api"), name)
    raise AttributeError(f"module 'silspec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
