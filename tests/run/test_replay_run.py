"""The README's main job: the KGSS paper's recorded answers, replayed through `silspec run`."""

from __future__ import annotations

from pathlib import Path

from silspec.run.runner import run_spec
from silspec.run.store import Store

REPO = Path(__file__).resolve().parents[2]


def test_replay_of_recorded_failures_is_complete_and_exits_zero(tmp_path: Path) -> None:
    summary = run_spec(REPO / "specs" / "kgss_paper_replay.sil", out=tmp_path / "run")
    assert summary.total == 1200
    assert summary.missing == 0
    # The paper's CLOVA run lost 253 requests to HTTP 429: replayed as errors, not this run's.
    assert summary.recorded_errors == 253
    assert summary.errors == 0
    assert summary.exit_code == 0
    with Store.open(tmp_path / "run", create=False) as store:
        assert len(store.recorded_error_ids()) == 253
        assert store.count_answers() == 1200
        failed = [a for a in store.iter_answers("indigenous") if a.outcome == "error"]
        assert len(failed) == 253 and all(a.raw_text is None for a in failed)
        assert all("429" in (a.error or "") for a in failed)


def test_rerunning_the_replay_asks_nothing_again(tmp_path: Path) -> None:
    run_spec(REPO / "specs" / "kgss_paper_replay.sil", out=tmp_path / "run")
    again = run_spec(REPO / "specs" / "kgss_paper_replay.sil", out=tmp_path / "run")
    assert sum(c.asked for c in again.conditions) == 0
    assert sum(c.already for c in again.conditions) == 1200
    assert again.exit_code == 0
