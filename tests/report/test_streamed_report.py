"""``silspec report`` streams the store: lean rows, the current plan as a join, a re-score reads
the whole record. The streamed analysis must equal the analysis of every record in memory."""

from __future__ import annotations

import sqlite3

import pytest

from kgss_fixture import ROOT, inputs_present
from silspec.analysis.pipeline import analyse
from silspec.analysis.scoring import row_of
from silspec.report.load import analyse_run, load_run
from silspec.run.records import AnswerRecord
from silspec.run.rundir import RunDirectory
from silspec.run.store import Store

SPEC = ROOT / "specs" / "kgss_paper_replay.sil"
pytestmark = pytest.mark.skipif(
    not (inputs_present() and SPEC.exists()), reason="KGSS replay spec and inputs not shipped yet"
)


def run(out, *, overrides=()):
    from silspec.run.runner import run_spec

    assert run_spec(SPEC, out=out, overrides=overrides).exit_code == 0


@pytest.fixture(scope="module")
def rerun_dir(tmp_path_factory):
    """The replay, then again with a temperature --set: 1,800 stored answers, 600 superseded."""
    out = tmp_path_factory.mktemp("rerun")
    run(out)
    run(out, overrides=(("model.gpt52.temperature", "1.0"),))
    return out


def test_rows_carry_what_the_records_say(rerun_dir):
    with Store.open(rerun_dir, create=False) as store:
        records = list(store.iter_answers())
        rows = list(store.iter_answer_rows())
    assert len(rows) == len(records) == 1800
    for row, record in zip(rows, records):
        expected = row_of(record)
        assert row._replace(probs=None, option_tokens=None, defaulted=bool(row.defaulted),
                            dropped=bool(row.dropped)) == expected._replace(probs=None, option_tokens=None)
        assert row.option_tokens == "null"  # sampled answers: no option tokens in meta


def test_the_plan_join_keeps_the_current_plan_and_counts_the_rest(rerun_dir):
    spec, _ = load_run(rerun_dir)
    current = RunDirectory.at(rerun_dir).current_plan(spec)
    lean = RunDirectory.at(rerun_dir).current_plan(spec, with_ids=False)
    assert current.source == lean.source == "store" and lean.ids is None and lean.plan_hashes
    with Store.open(rerun_dir, create=False) as store:
        joined = {row.request_id for row in store.iter_answer_rows(plan_hashes=lean.plan_hashes)}
        assert store.count_plan_requests(lean.plan_hashes) == len(current.ids) == 1200
        outside = store.answers_outside_plans(lean.plan_hashes)
        every = {row.request_id for row in store.iter_answer_rows()}
    assert joined == every & current.ids and len(joined) == 1200
    assert outside == [("baseline", 600)]  # the --set changed the gpt52 condition only


def test_streamed_report_equals_the_analysis_of_every_record(rerun_dir):
    spec, records = load_run(rerun_dir)
    ids = RunDirectory.at(rerun_dir).current_plan(spec).ids
    in_memory = analyse(spec, records, plan_ids=ids)
    streamed = analyse_run(rerun_dir)
    assert streamed.study.n_superseded == 600 and streamed.study.n_answers == 1200
    assert streamed == in_memory


def test_a_stale_verdict_is_read_whole_and_scored_again(rerun_dir, tmp_path):
    """A row whose scorer hash is not the current definition's: the stream fetches the whole
    record, scores its stored text again and says so; the other rows stay as stored."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(rerun_dir, copy)
    with sqlite3.connect(copy / "store.sqlite") as db:
        (request_id,) = db.execute(
            "SELECT a.request_id FROM answers a JOIN plan_requests p ON p.request_id = a.request_id"
            " WHERE a.outcome = 'answered' ORDER BY a.rowid DESC LIMIT 1").fetchone()
        # a stale definition that also stored a wrong verdict: the text says otherwise
        db.execute("UPDATE answers SET scorer = 'stale', outcome = 'invalid', parsed_code = NULL"
                   " WHERE request_id = ?", (request_id,))
    results = analyse_run(copy)
    (warning,) = [w for w in results.warnings if w.kind == "rescored"]
    assert warning.message.startswith(f"{warning.condition}: 1 stored answers") and "1 verdicts differ" in warning.message
    original = analyse_run(rerun_dir)
    assert results.compliance == original.compliance and results.items == original.items


def test_records_and_rows_score_alike():
    """``analyse`` over records (the Python API) goes through the same lean rows."""
    record = AnswerRecord(
        request_id="r", condition="c", model="m", model_id="x", item="s.Q", persona="P", replicate=0,
        answers="option_probs", params={}, prompt_hash="h", outcome="answered", probs={1: 0.25, 2: 0.75},
        meta={"option_tokens": ["1", "2"]},
    )
    row = row_of(record)
    assert row.probs == {1: 0.25, 2: 0.75} and row.option_tokens == '["1", "2"]'
