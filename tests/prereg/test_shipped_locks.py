"""Every lock file shipped in specs/ still matches its spec: a stale lock fails here, not in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from silspec.prereg.lock import compute_lock, diff_locks, read_lock
from silspec.spec.load import load_spec

REPO = Path(__file__).resolve().parents[2]
LOCKS = sorted((REPO / "specs").glob("*.sil.lock"))


def test_at_least_the_replay_spec_is_frozen():
    assert REPO / "specs" / "kgss_paper_replay.sil.lock" in LOCKS


@pytest.mark.parametrize("lock_path", LOCKS, ids=lambda p: p.name)
def test_shipped_lock_matches_its_spec(lock_path: Path):
    spec_path = Path(str(lock_path)[: -len(".lock")])
    result = load_spec(str(spec_path))
    assert result.ok, [d.message for d in result.diagnostics if d.severity == "error"]
    differences = diff_locks(read_lock(lock_path), compute_lock(result.spec))
    assert not differences, f"re-run `silspec freeze {spec_path.relative_to(REPO)}`: {differences}"
