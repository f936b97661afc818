"""`silspec plan` on the shipped KGSS spec, through the real loader (skipped until it exists)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KGSS = REPO / "specs" / "kgss_indigenous.sil"

pytestmark = pytest.mark.skipif(
    not (REPO / "silspec" / "spec" / "load.py").exists() or not KGSS.exists(),
    reason="needs the spec loader and specs/kgss_indigenous.sil",
)


def _plan_json(hash_seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "silspec.cli.main", "plan", str(KGSS), "--format", "json"],
        cwd=REPO, env=env, capture_output=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    return done.stdout


def test_kgss_plan_is_byte_identical_across_processes_and_has_1200_requests():
    first, second = _plan_json("0"), _plan_json("12345")
    assert first == second
    plan = json.loads(first)
    assert len(plan["requests"]) == 1200
    assert list(plan["header"]["conditions"]) == ["baseline", "indigenous"]
    request = plan["requests"][0]
    assert request["messages"][0]["role"] == "system"
    assert "금융기관을 이끌어가는 사람들을" in request["messages"][1]["content"]
