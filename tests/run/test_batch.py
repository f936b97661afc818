"""The Batch API engine end to end: the official openai client against a real batch server
process (``tests/servers/batch_server.py``), answers in a real SQLite store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from silspec.run.batch import BatchLimits, answer_of_line, split_files
from silspec.run.backends.base import BackendAnswer, ReplyError
from silspec.run.runner import run_plan
from silspec.run.store import Store
from silspec.spec.model import Parser
from tests.run import _fakes as fk
from tests.servers import batch_server


@pytest.fixture
def batch_server_factory(tmp_path):
    started = []

    def make(**opts):
        handle = batch_server.start(tmp_path, log_name=f"batch-{len(started)}.jsonl", **opts)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.proc.kill()
        handle.proc.wait(timeout=10)


def batch_plan(url: str, personas: int, *, marker_of=None):
    items = [fk.item("Q1"), fk.item("Q2", (1, 2, 3, 4))]
    requests = fk.requests_for("c", "gpt", items, personas, backend="openai")
    if marker_of is not None:  # put fault markers into chosen prompts
        import attrs
        from silspec.plan.model import Message

        requests = [attrs.evolve(r, messages=(Message("user", marker_of(i) + r.messages[0].content),))
                    if marker_of(i) else r for i, r in enumerate(requests)]
    model = fk.model("gpt", "openai", base_url=url, options={"batch": True})
    return fk.plan([model], {"c": ("gpt", Parser("first"))}, items, requests)


ENV = {"SILSPEC_BATCH_MAX_REQUESTS": "25", "SILSPEC_BATCH_POLL_S": "0.01"}


def rows(run_dir: Path) -> dict[str, sqlite3.Row]:
    db = sqlite3.connect(run_dir / "store.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return {r["request_id"]: r for r in db.execute("SELECT * FROM answers")}
    finally:
        db.close()


def test_a_plan_runs_through_batches_split_at_the_request_limit(batch_server_factory, tmp_path):
    server = batch_server_factory()
    plan = batch_plan(server.url, 30)  # 60 requests, 25 per file: 3 files
    summary = run_plan(plan, tmp_path / "run", env=ENV)
    assert summary.exit_code == 0, summary
    uploads = server.log("upload")
    assert [u["lines"] for u in uploads] == [25, 25, 10]
    assert sorted(server.submitted_ids()) == sorted(r.id for r in plan.requests)
    stored = rows(tmp_path / "run")
    # the scripted respondent's replies, parsed as a live reply would be (no errors, every text kept)
    assert len(stored) == 60 and "error" not in {r["outcome"] for r in stored.values()}
    assert all(r["raw_text"] for r in stored.values())
    with Store.open(tmp_path / "run", create=False) as store:
        kept = store.batches("gpt")
    assert [b["status"] for b in kept] == ["completed"] * 3
    batch_of = {rid: b["batch_id"] for b in kept for rid in b["request_ids"]}
    assert all(json.loads(r["meta"])["batch_id"] == batch_of[rid] for rid, r in stored.items())
    # a rerun asks nothing and submits nothing
    again = run_plan(plan, tmp_path / "run", env=ENV)
    assert again.exit_code == 0 and len(server.log("upload")) == 3


def test_files_split_at_the_byte_limit_too():
    lines = [(f"r{i}", b"x" * 40 + b"\n") for i in range(10)]
    files, too_large = split_files(lines + [("huge", b"y" * 500)], BatchLimits(max_requests=100, max_bytes=130))
    assert [len(f) for f in files] == [3, 3, 3, 1] and too_large == ["huge"]
    assert all(sum(len(x) for _, x in f) <= 130 for f in files)


def test_failed_expired_and_partial_batches_store_errors_with_reasons_then_retry_resubmits_only_them(
        batch_server_factory, tmp_path):
    faults = [{"batch": 2, "outcome": "failed"}, {"batch": 3, "outcome": "expired"},
              {"marker": "BADLINE"}, {"marker": "NOTEXT"}, {"marker": "SERVERERR"}]
    markers = {0: "BADLINE ", 1: "NOTEXT ", 2: "SERVERERR "}
    server = batch_server_factory(faults=faults)
    plan = batch_plan(server.url, 30, marker_of=lambda i: markers.get(i, ""))
    run_dir = tmp_path / "run"
    summary = run_plan(plan, run_dir, env=ENV)
    assert summary.exit_code == 1
    stored = rows(run_dir)
    assert len(stored) == 60  # nothing dropped: every request has a row
    ids = [r.id for r in plan.requests]
    reasons = {rid: json.loads(stored[rid]["meta"]).get("error_reason") for rid in ids}
    assert stored[ids[0]]["outcome"] == "error" and "HTTP 400" in stored[ids[0]]["error"]
    assert reasons[ids[1]] == "null content"  # the live backend's reply check, same reason
    assert stored[ids[2]]["outcome"] == "error" and "HTTP 500" in stored[ids[2]]["error"]
    assert all(stored[rid]["outcome"] != "error" for rid in ids[3:25])
    assert all("batch failed" in stored[rid]["error"] or "failed before running" in stored[rid]["error"]
               for rid in ids[25:50])  # batch 2: validation failed, nothing ran
    third = ids[50:60]  # batch 3 expired: the first half answered, the rest errors
    assert [stored[rid]["outcome"] == "error" for rid in third] == [False] * 5 + [True] * 5
    assert all("batch_expired" in stored[rid]["error"] for rid in third[5:])
    errors = {rid for rid in ids if stored[rid]["outcome"] == "error"}
    before = len(server.submitted_ids())

    retry = run_plan(plan, run_dir, env=ENV, retry_errors=True)
    resubmitted = server.submitted_ids()[before:]
    assert sorted(resubmitted) == sorted(errors)  # only the errors, each once
    assert retry.exit_code == 1  # the marked lines fail again; everything else is answered now
    stored = rows(run_dir)
    assert {rid for rid in ids if stored[rid]["outcome"] == "error"} == {ids[0], ids[1], ids[2]}


def test_a_line_missing_from_a_completed_batch_is_an_error_not_a_gap(batch_server_factory, tmp_path):
    server = batch_server_factory(faults=[{"batch": 1, "outcome": "drop_line"}])
    plan = batch_plan(server.url, 5)
    run_plan(plan, tmp_path / "run", env=ENV)
    stored = rows(tmp_path / "run")
    last = plan.requests[-1].id
    assert len(stored) == 10 and stored[last]["outcome"] == "error"
    assert json.loads(stored[last]["meta"])["error_reason"] == "batch line missing"


def test_result_lines_map_to_the_live_outcome_model():
    request = fk.requests_for("c", "gpt", [fk.item("Q1")], 1, backend="openai")[0]
    ok = {"custom_id": request.id, "response": {"status_code": 200, "body": {
        "model": "m", "choices": [{"message": {"content": "3"}, "finish_reason": "stop"}]}}, "error": None}
    answer = answer_of_line(ok, request, batch_id="b1", where="model 'gpt'")
    assert isinstance(answer, BackendAnswer) and answer.text == "3" and answer.meta["batch_id"] == "b1"
    refusal = {"custom_id": request.id, "response": {"status_code": 200, "body": {
        "choices": [{"message": {"content": None, "refusal": "no"}, "finish_reason": "stop"}]}}}
    error = answer_of_line(refusal, request, batch_id="b1", where="w")
    assert isinstance(error, ReplyError) and error.reason == "refusal" and error.detail["batch_id"] == "b1"
    expired = {"custom_id": request.id, "response": None, "error": {"code": "batch_expired", "message": "late"}}
    error = answer_of_line(expired, request, batch_id="b1", where="w")
    assert isinstance(error, ReplyError) and not error.counts_against_model
    limited = {"custom_id": request.id, "response": {"status_code": 401, "body": {"error": {"message": "bad key"}}}}
    error = answer_of_line(limited, request, batch_id="b1", where="w")
    assert error.status == 401 and "bad key" in str(error)


def test_batch_on_another_backend_stops_that_model_saying_why(tmp_path):
    items = [fk.item("Q1")]
    requests = fk.requests_for("c", "m", items, 2, backend="hf")
    model = fk.model("m", "clova", options={"batch": True})
    plan = fk.plan([model], {"c": ("m", Parser("first"))}, items, requests)
    summary = run_plan(plan, tmp_path / "run", env={})
    assert "batch = true needs the openai backend" in summary.stopped_models["m"]
    assert summary.exit_code == 1


def test_cli_runs_a_batch_spec_and_status_shows_each_batch(batch_server_factory, tmp_path, monkeypatch, capsys):
    from silspec.cli.main import main
    from tests.run.test_runner_cli import MINI_SPEC

    server = batch_server_factory()
    spec = tmp_path / "mini.sil"
    text = MINI_SPEC.replace("BASE_URL", server.url).replace('  base_url = ', "  batch    = true\n  base_url = ")
    assert "batch    = true" in text
    spec.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    for key, value in {**ENV, "SILSPEC_BATCH_MAX_REQUESTS": "3"}.items():
        monkeypatch.setenv(key, value)
    assert main(["run", str(spec), "--out", str(out), "--status"]) == 0
    assert "nothing submitted" in capsys.readouterr().out
    assert main(["run", str(spec), "--out", str(out), "--quiet", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["run", str(spec), "--out", str(out), "--status"]) == 0
    shown = capsys.readouterr().out
    batch_ids = [e["batch_id"] for e in server.log("create")]
    assert len(batch_ids) == 2  # 4 personas x 1 item, 3 per file
    for batch_id in batch_ids:
        assert batch_id in shown
    assert shown.count("completed") == 2 and "0 of 2 batches still running" in shown


def test_a_reask_goes_through_a_new_batch_of_one(batch_server_factory, tmp_path):
    server = batch_server_factory(faults=[{"marker": "NOCODE"}])
    items = [fk.item("Q1")]
    requests = fk.requests_for("c", "gpt", items, 2, backend="openai", marker="NOCODE ")
    model = fk.model("gpt", "openai", base_url=server.url, options={"batch": True})
    # every reply holds no code: each request is invalid and re-asked twice, each time in a new batch
    plan = fk.plan([model], {"c": ("gpt", Parser("first", on_invalid="reask", reask=2))}, items, requests)
    run_plan(plan, tmp_path / "run", env=ENV)
    uploads = [u["lines"] for u in server.log("upload")]
    stored = rows(tmp_path / "run")
    assert {r["outcome"] for r in stored.values()} == {"invalid"}
    assert uploads == [2, 1, 1, 1, 1]
    assert all(r["attempts"] == 3 for r in stored.values())


def test_rate_limits_do_not_apply_to_a_batch_model_and_the_run_says_so(batch_server_factory, tmp_path):
    server = batch_server_factory()
    items = [fk.item("Q1")]
    requests = fk.requests_for("c", "gpt", items, 40, backend="openai")
    # rpm 1 would hold 40 live requests for 40 minutes; the batch engine hands them over at once
    model = fk.model("gpt", "openai", base_url=server.url, options={"batch": True}, rpm=1)
    plan = fk.plan([model], {"c": ("gpt", Parser("first"))}, items, requests)
    summary = run_plan(plan, tmp_path / "run", env=ENV)
    assert summary.exit_code == 0
    assert any("batch = true, so rpm do not apply" in w for w in summary.warnings)
    assert [u["lines"] for u in server.log("upload")] == [25, 15]


def test_a_batch_the_provider_accepted_but_the_store_never_kept_is_adopted_not_paid_again(
        batch_server_factory, tmp_path):
    """The one window a kill can hit: the provider created the batch, the store had not yet kept
    its id. The provider's batch list, searched by the content digest in its metadata, finds it."""
    import openai

    from silspec.run.batch import chunk_digest, request_line

    server = batch_server_factory()
    plan = batch_plan(server.url, 10)  # 20 requests, one file
    model = plan.header.models["gpt"]
    ids = [r.id for r in plan.requests]
    data = b"".join(request_line(r, model) for r in plan.requests)
    client = openai.OpenAI(api_key="no-key", base_url=server.url, max_retries=0)
    uploaded = client.files.create(file=("lost.jsonl", data), purpose="batch")
    lost = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h",
                                 metadata={"silspec_model": "gpt", "silspec_ids": chunk_digest(ids)})
    summary = run_plan(plan, tmp_path / "run", env=ENV)
    assert summary.exit_code == 0
    assert len(server.log("upload")) == 1 and len(server.log("create")) == 1  # only the lost one
    with Store.open(tmp_path / "run", create=False) as store:
        assert [b["batch_id"] for b in store.batches()] == [lost.id]
    assert {json.loads(r["meta"])["batch_id"] for r in rows(tmp_path / "run").values()} == {lost.id}


def test_each_retry_submits_the_errors_again_never_reads_an_old_batch_back(batch_server_factory, tmp_path):
    server = batch_server_factory(faults=[{"batch": 1, "outcome": "expired"}, {"batch": 2, "outcome": "expired"}])
    plan = batch_plan(server.url, 5)  # 10 requests, one file per run
    run_dir = tmp_path / "run"
    assert run_plan(plan, run_dir, env=ENV).exit_code == 1  # batch 1: 5 answered, 5 expired
    assert run_plan(plan, run_dir, env=ENV, retry_errors=True).exit_code == 1  # batch 2: 2 of those 5 answered
    assert run_plan(plan, run_dir, env=ENV, retry_errors=True).exit_code == 0  # batch 3: the last 3
    assert [u["lines"] for u in server.log("upload")] == [10, 5, 3]
    assert len(set(server.submitted_ids())) == 10
    assert all(r["outcome"] != "error" for r in rows(run_dir).values())
