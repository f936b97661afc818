"""A run directory reused with a changed spec: the report scores only the current plan's answers."""

from __future__ import annotations

import json

import pytest

from kgss_fixture import ROOT, inputs_present

SPEC = ROOT / "specs" / "kgss_paper_replay.sil"
pytestmark = pytest.mark.skipif(
    not (inputs_present() and SPEC.exists()), reason="KGSS replay spec and inputs not shipped yet"
)
HOT = (("model.gpt52.temperature", "1.0"),)


def run(out, *, overrides=(), conditions=(), limit=None):
    from silspec.run.runner import run_spec

    summary = run_spec(SPEC, out=out, overrides=overrides, conditions=conditions, limit=limit)
    assert summary.exit_code == 0


@pytest.fixture(scope="module")
def rerun_dir(tmp_path_factory):
    """The replay, then the replay again with a temperature --set: 1,800 stored answers."""
    out = tmp_path_factory.mktemp("rerun")
    run(out)
    run(out, overrides=HOT)
    return out


def test_rerun_with_a_changed_set_scores_only_the_current_plan(rerun_dir):
    from silspec.report.load import analyse_run
    from silspec.run.store import Store

    with Store.open(rerun_dir, create=False) as store:
        assert store.count_answers() == 1800
    results = analyse_run(rerun_dir)
    assert results.study.n_answers == 1200 and results.study.n_superseded == 600
    assert {c.n for c in results.compliance} == {100}
    (warning,) = [w for w in results.warnings if w.kind == "superseded_answers"]
    assert warning.severity == "high" and "600 of 1800" in warning.message and "baseline 600" in warning.message
    assert results.warnings[0] is warning  # first in the WARNINGS panel


def test_the_left_out_answers_are_those_of_the_earlier_spec(rerun_dir, tmp_path):
    """Same scores as a clean directory holding the second run only."""
    from silspec.report.load import analyse_run

    run(tmp_path, overrides=HOT)
    clean = analyse_run(tmp_path)
    mixed = analyse_run(rerun_dir)
    assert sorted((r.condition, r.code, r.variant, r.counts) for r in mixed.items) == sorted(
        (r.condition, r.code, r.variant, r.counts) for r in clean.items
    )
    assert not [w for w in clean.warnings if w.kind in ("superseded_answers", "plans_mixed")]


def test_console_report_says_how_many_were_left_out(rerun_dir, capsys):
    from silspec.cli.main import main

    assert main(["report", str(rerun_dir)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "600 of a superseded plan left out" in text
    assert text.index("superseded plan (an earlier run") < text.index("Format compliance")


def test_conditions_run_one_at_a_time_are_both_current(tmp_path):
    from silspec.report.load import analyse_run

    run(tmp_path, conditions=("baseline",))
    run(tmp_path, conditions=("indigenous",))
    results = analyse_run(tmp_path)
    assert results.study.n_answers == 1200 and results.study.n_superseded == 0
    assert not [w for w in results.warnings if w.kind in ("superseded_answers", "plan_incomplete")]
    from silspec.report.load import load_run
    from silspec.run.rundir import RunDirectory

    spec, _ = load_run(tmp_path)  # the two partial plans together are the whole plan: a query
    current = RunDirectory.at(tmp_path).current_plan(spec)
    assert current.source == "store" and len(current.ids) == 1200


def test_a_partial_run_notes_the_missing_requests(tmp_path):
    from silspec.report.load import analyse_run

    run(tmp_path, conditions=("baseline",))
    results = analyse_run(tmp_path)
    # half the plan was run: the whole plan's ids come from compiling the bundle again, silently
    assert not [w for w in results.warnings if w.kind == "plan_membership_recompiled"]
    (note,) = [w for w in results.warnings if w.kind == "plan_incomplete"]
    assert note.severity == "medium" and note.message.startswith("600 of the current plan's 1200")


def test_unverifiable_plan_with_several_runs_warns_that_answers_mix(rerun_dir, tmp_path):
    """If the recompiled plan cannot be trusted, everything is scored, loudly."""
    import shutil

    from silspec.report.load import analyse_run

    copy = tmp_path / "run"
    shutil.copytree(rerun_dir, copy)
    header = json.loads((copy / "plan_header.json").read_text())
    header["plan_hash"] = "0" * 64  # as if another silspec version had compiled it
    (copy / "plan_header.json").write_text(json.dumps(header))
    results = analyse_run(copy)
    assert results.study.n_answers == 1800
    (warning,) = [w for w in results.warnings if w.kind == "plans_mixed"]
    assert warning.severity == "high" and "2 different plans" in warning.message and "1800" in warning.message


def test_unknown_benchmark_is_a_usage_error(rerun_dir, capsys):
    from silspec.cli.main import main

    assert main(["report", str(rerun_dir), "--benchmark", "nope"]) == 2
    error = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in error and "codebook_2023, paper" in error


def test_a_limited_run_is_verified_and_its_answers_are_current(tmp_path):
    from silspec.report.load import analyse_run

    from silspec.run.store import Store

    run(tmp_path, limit=50)
    with Store.open(tmp_path, create=False) as store:
        stored = store.count_answers()
    results = analyse_run(tmp_path)
    assert 0 < stored < 1200 and results.study.n_answers == stored and results.study.n_superseded == 0
    assert [w.kind for w in results.warnings if w.kind in ("plan_incomplete", "plans_mixed")] == ["plan_incomplete"]


def test_one_complete_run_is_not_recompiled(tmp_path, monkeypatch):
    from silspec.report.load import analyse_run
    from silspec.run.rundir import RunDirectory

    run(tmp_path)
    monkeypatch.setattr(RunDirectory, "current_plan", lambda *a: pytest.fail("looked up a plan it did not need"))
    results = analyse_run(tmp_path)
    assert results.study.n_answers == 1200 and results.study.n_superseded == 0


def test_the_current_plan_is_read_from_the_store_not_recompiled(rerun_dir, monkeypatch):
    """Both plans' membership is in the store: which answers are current is a query."""
    from silspec.report.load import analyse_run
    from silspec.run import rundir

    monkeypatch.setattr(rundir, "_plan_ids_of", lambda *a: pytest.fail("recompiled the plan"))
    current = rundir.RunDirectory.at(rerun_dir)
    with current.open_store() as store:
        plans = store.recorded_plans()
    assert len(plans) == 2 and all(p["n_requests"] == 1200 for p in plans)
    results = analyse_run(rerun_dir)
    assert results.study.n_answers == 1200 and results.study.n_superseded == 600
    assert not [w for w in results.warnings if w.kind == "plan_membership_recompiled"]


def test_a_store_made_before_plan_membership_recompiles_and_says_so(rerun_dir, tmp_path):
    import shutil
    import sqlite3

    from silspec.report.load import analyse_run

    copy = tmp_path / "old"
    shutil.copytree(rerun_dir, copy)
    with sqlite3.connect(copy / "store.sqlite") as db:  # as a store of the previous silspec
        db.execute("DROP TABLE plan_requests")
        db.execute("DROP TABLE plans")
    results = analyse_run(copy)
    assert results.study.n_answers == 1200 and results.study.n_superseded == 600
    (note,) = [w for w in results.warnings if w.kind == "plan_membership_recompiled"]
    assert note.severity == "info" and "compiling the bundled spec again" in note.message
