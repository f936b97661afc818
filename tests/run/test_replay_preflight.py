"""Replay coverage is checked before anything is asked: gaps stop the model with one message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from silspec.plan.model import PlanModel
from silspec.run.backends.base import PermanentError, run_preflight
from silspec.run.backends.replay import ReplayBackend
from silspec.run.runner import run_plan
from silspec.run.store import Store
from silspec.spec.model import Parser
from tests.run import _fakes as fk
from tests.servers.fixtures import make_request

PARSER = Parser("first")


def replay(tmp_path: Path, text: str | bytes, model_id: str = "m-id", name: str = "answers.csv") -> ReplayBackend:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return ReplayBackend(PlanModel(name="r", backend="replay", model_id=model_id, path=str(path)), env={})


def requests(personas=("P001", "P002"), items=("s.Q1", "s.Q2"), **fields):
    return [make_request(persona=p, item=i, **fields) for p in personas for i in items]


FULL = "persona_id,item,response_raw\nP001,Q1,1\nP001,Q2,2\nP002,Q1,3\nP002,Q2,4\n"


def test_a_file_that_covers_the_plan_has_no_problems(tmp_path):
    assert replay(tmp_path, FULL).preflight(requests()) == []


def test_missing_pairs_are_listed_with_the_file_up_to_ten_plus_a_count(tmp_path):
    b = replay(tmp_path, FULL)
    wanted = requests(personas=[f"P{n:03d}" for n in range(1, 16)])
    [problem] = b.preflight(wanted)
    assert "answers.csv" in problem
    assert "lacks answers for 26 persona × item pair(s)" in problem
    assert "P003 × Q1" in problem and "... and 16 more" in problem
    assert "P015 × Q2" not in problem  # only the first ten are named
    assert "Personas not in the file at all: 13" in problem


def test_an_item_missing_from_the_file_is_named(tmp_path):
    [problem] = replay(tmp_path, FULL).preflight(requests(items=("s.Q1", "s.Q9")))
    assert "Items not in the file at all: Q9" in problem and "P001 × Q9" in problem


def test_too_few_replicates_is_a_problem(tmp_path):
    wanted = requests(personas=("P001",), items=("s.Q1",)) + [make_request(persona="P001", item="s.Q1", replicate=1)]
    [problem] = replay(tmp_path, FULL).preflight(wanted)
    assert "too few answers" in problem and "P001 × Q1 (has 1, asked 2)" in problem


def test_conflicting_duplicates_are_an_error_identical_ones_are_not(tmp_path):
    conflicting = FULL + "P001,Q1,5\n"
    [problem] = replay(tmp_path, conflicting).preflight(requests())
    assert "conflicting duplicate rows" in problem and "P001 item Q1" in problem and "lines 2, 6" in problem
    # two answers are exactly what a plan with two replicates asks for
    two = requests(personas=("P001",), items=("s.Q1",)) + [make_request(persona="P001", item="s.Q1", replicate=1)]
    assert replay(tmp_path, conflicting, name="b.csv").preflight(two) == []
    assert replay(tmp_path, FULL + "P001,Q1,1\n", name="c.csv").preflight(requests()) == []


def test_conflicting_duplicates_with_a_replicate_column(tmp_path):
    text = "persona_id,item,response_raw,replicate\nP001,Q1,1,0\nP001,Q1,2,0\nP001,Q2,2,0\nP001,Q2,2,0\n"
    problems = replay(tmp_path, text).preflight(requests(personas=("P001",)))
    assert len(problems) == 1
    assert "1 conflicting duplicate row(s)" in problems[0]
    assert "persona P001 item Q1 replicate 0 (lines 2 and 3)" in problems[0]


def test_bare_and_qualified_rows_that_disagree_conflict(tmp_path):
    text = "persona_id,item,response_raw\nP001,Q1,1\nP001,s.Q1,2\n"
    [problem] = replay(tmp_path, text).preflight(requests(personas=("P001",), items=("s.Q1",)))
    assert "under both Q1 and s.Q1" in problem


def test_wrong_columns_are_named_with_what_the_file_has(tmp_path):
    [problem] = replay(tmp_path, "persona,question,answer\nP001,Q1,1\n").preflight(requests())
    assert "answers.csv lacks column(s) persona_id, item, response_raw" in problem
    assert "has: persona, question, answer" in problem


def test_unreadable_values_are_reported_by_line(tmp_path):
    text = 'persona_id,item,response_raw,attempts\nP001,Q1,1,one\nP001,Q2,2,1\n'
    [problem] = replay(tmp_path, text).preflight(requests(personas=("P001",), items=("s.Q2",)))
    assert "answers.csv has 1 unreadable row(s): line 2" in problem


def test_text_only_file_for_option_probs_requests(tmp_path):
    [problem] = replay(tmp_path, FULL).preflight(requests(answers="option_probs"))
    assert "answers.csv has no option_probs column" in problem and "condition(s) base" in problem


def test_option_probs_column_with_empty_cells(tmp_path):
    text = ('persona_id,item,response_raw,option_probs\nP001,Q1,,"{""1"": 1.0}"\nP001,Q2,,\n')
    [problem] = replay(tmp_path, text).preflight(
        requests(personas=("P001",), answers="option_probs"))
    assert "no option_probs for 1 option_probs request(s): line 3 (persona P001 item Q2)" in problem


@pytest.mark.parametrize("content, phrase", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is binary"),
    ("persona_id,item,response_raw\nP001,Q1,é\n".encode("latin-1"), "is not UTF-8 text"),
])
def test_binary_or_non_utf8_file_is_named(tmp_path, content, phrase):
    [problem] = replay(tmp_path, content, name="weird.csv").preflight(requests())
    assert "weird.csv" in problem and phrase in problem
    with pytest.raises(PermanentError, match="weird.csv"):
        asyncio.run(replay(tmp_path, content, name="weird.csv").answer(requests()[0]))


def test_a_directory_is_unreadable(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    b = ReplayBackend(PlanModel(name="r", backend="replay", model_id="m",
                                path=str(tmp_path / "folder.csv")), env={})
    [problem] = b.preflight(requests())
    assert "folder.csv cannot be read" in problem


def test_several_models_none_of_them_ours(tmp_path):
    text = "persona_id,item,response_raw,model\nP001,Q1,1,a\nP001,Q1,2,b\n"
    problems = replay(tmp_path, text, model_id="c").preflight(requests(personas=("P001",), items=("s.Q1",)))
    assert any("several models (a, b)" in p and "'c'" in p for p in problems)


def test_run_preflight_tolerates_backends_without_the_hook_and_broken_hooks():
    class NoHook:
        pass

    class Broken:
        def preflight(self, requests):
            raise RuntimeError("boom")

    class Async:
        async def preflight(self, requests):
            return [f"{len(requests)} requests"]

    assert asyncio.run(run_preflight(NoHook(), [])) == []
    assert asyncio.run(run_preflight(Broken(), [])) == ["preflight failed: RuntimeError: boom"]
    assert asyncio.run(run_preflight(Async(), [1, 2])) == ["2 requests"]


# ------------------------------------------------------------------------------ through the runner


def _replay_plan(tmp_path: Path, csv_text: str):
    """Condition `rep` on a replay file (personas P000..P002 × Q1, Q2) and `live` on a fake backend."""
    (tmp_path / "answers.csv").write_text(csv_text, encoding="utf-8")
    live_backend, log, _ = fk.scripted_backend()
    items = [fk.item("Q1"), fk.item("Q2")]
    rep_model = fk.model("rep", "replay", path=str(tmp_path / "answers.csv"))
    live_model = fk.model("live", live_backend)
    reqs = fk.requests_for("rep", "rep", items, 3, backend="replay") + fk.requests_for("live", "live", items, 3)
    plan = fk.plan([rep_model, live_model], {"rep": ("rep", PARSER), "live": ("live", PARSER)}, items, reqs)
    return plan, log


COVERING = "".join(f"P{p:03d},{q},{p % 3 + 1}\n" for p in range(3) for q in ("Q1", "Q2"))


def test_a_gap_stops_the_replay_model_before_asking_and_other_models_go_on(tmp_path):
    gappy = "persona_id,item,response_raw\n" + COVERING.replace("P002,Q2,3\n", "")
    plan, log = _replay_plan(tmp_path, gappy)
    summary = run_plan(plan, tmp_path / "run", env={})
    assert summary.exit_code == 1
    assert list(summary.preflight) == ["rep"]
    [problem] = summary.preflight["rep"]
    assert "lacks answers for 1 persona × item pair(s) the plan asks: P002 × Q2" in problem
    assert "answers.csv" in summary.stopped_models["rep"]
    by_name = {c.condition: c for c in summary.conditions}
    assert by_name["rep"].missing == 6 and by_name["rep"].stored_errors == 0
    assert by_name["live"].ok == 6 and len(log) == 6
    with Store.open(tmp_path / "run", create=False) as store:
        assert {a.condition for a in store.iter_answers()} == {"live"}  # no midpoint-able error rows


def test_a_covering_replay_file_runs_to_completion(tmp_path):
    plan, _ = _replay_plan(tmp_path, "persona_id,item,response_raw\n" + COVERING)
    summary = run_plan(plan, tmp_path / "run", env={})
    assert summary.exit_code == 0 and summary.preflight == {}


def test_cli_prints_the_preflight_problem_and_exits_1(tmp_path, capsys):
    pytest.importorskip("silspec.spec.load")
    from silspec.cli.main import main

    (tmp_path / "answers.csv").write_text("persona_id,item,response_raw\nP001,Q1,2\n", encoding="utf-8")
    spec = tmp_path / "rep.sil"
    spec.write_text(REPLAY_SPEC, encoding="utf-8")
    code = main(["run", str(spec), "--out", str(tmp_path / "run"), "--quiet", "--no-report"])
    captured = capsys.readouterr()
    assert code == 1
    assert "preflight check failed" in captured.err
    assert "answers.csv" in captured.err and "lacks answers for" in captured.err


REPLAY_SPEC = """\
silspec 1

study rep { seed = 1 }

scale agree3 {
  1 = "Disagree"
  2 = "Neither"
  3 = "Agree"
}

survey s {
  item Q1 {
    text  = "Cats are better than dogs."
    scale = agree3
  }
}

persona people {
  age = { "18-39": 0.5, "40+": 0.5 }
}

population sample {
  persona  = people
  sampling = random
  size     = 3
}

parser first { extract = first_integer }

model recorded {
  backend = replay
  name    = "recorded"
  path    = file("answers.csv")
}

condition main {
  model      = recorded
  population = sample
  items      = [s.Q1]
  parser     = first
  prompt     = "You are {{ persona.age }} years old. {{ item.text }} Answer 1-3."
}
"""
