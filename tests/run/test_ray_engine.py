"""`silspec run --engine ray` on a real local Ray cluster (2 CPUs, no dashboard), one session for
the module: the tiny hf model on 2 workers against the local executor, a worker SIGKILLed
mid-run, a lane whose worker dies every time, and an API lane against the test chat server.

Skipped, with the reason, when Ray is not installed (``pip install 'silspec[ray]'``).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import attrs
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'silspec[ray]'):"
                                        " the --engine ray tests need a local Ray cluster")

from silspec.plan.hashing import request_id  # noqa: E402
from silspec.plan.model import Message, PlanModel, Request  # noqa: E402
from silspec.run.executor import RunListener  # noqa: E402
from silspec.run.ray_engine import RayEngine  # noqa: E402
from silspec.run.runner import run_plan  # noqa: E402
from silspec.run.store import Store, StoreFailure  # noqa: E402
from silspec.spec.model import Backoff, Parser  # noqa: E402
from tests.run import _fakes as fk  # noqa: E402
from tests.run._ray_backends import CountingFactory, DyingFactory, asked  # noqa: E402
from tests.servers.fixtures import TEST_API_KEY  # noqa: E402

pytestmark = pytest.mark.ray
KEY_ENV = "SILSPEC_RAY_TEST_KEY"
PARSER = Parser("first")
FAST = Backoff(base=0.01, max_s=0.05)


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    """One local cluster for the module: 2 CPUs (this machine's), the test key in the workers'
    environment (keys never travel through Ray), shut down at the end."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {KEY_ENV: TEST_API_KEY, "HF_HUB_OFFLINE": "1",
                                       "TRANSFORMERS_OFFLINE": "1"}})
    yield
    ray.shutdown()


def tiny_requests(model: str, items, personas: int, answers: str, condition: str) -> list[Request]:
    out = []
    for it in items:
        for p in range(personas):
            messages = (Message("system", f"You are persona P{p:03d}."),
                        Message("user", f"{it.text} Answer with one number from 1-5."))
            rid = request_id(backend="hf", model_id="tiny-id", params={"max_tokens": 3},
                             answers=answers, option_codes=it.codes,
                             option_tokens=tuple(map(str, it.codes)), messages=messages,
                             replicate=0, seed=None)
            out.append(Request(id=rid, condition=condition, model=model, item=it.id, persona=f"P{p:03d}",
                               replicate=0, answers=answers, messages=messages, option_codes=it.codes,
                               option_tokens=tuple(map(str, it.codes))))
    return out


def tiny_plan(model_dir: Path, personas: int = 6):
    """Two conditions on the tiny hf model (option probabilities and a sampled answer),
    2 items each; concurrency 1 and batches of 2 so a worker's calls come one after another."""
    items = [fk.item("Q1"), fk.item("Q2")]
    model = PlanModel(name="tiny", backend="hf", model_id="tiny-id", path=str(model_dir),
                      params={"max_tokens": 3}, concurrency=1, options={"batch_size": 2})
    requests = (tiny_requests("tiny", items, personas, "option_probs", "probs")
                + tiny_requests("tiny", items, personas, "sampled", "text"))
    plan = fk.plan([model], {"probs": ("tiny", PARSER), "text": ("tiny", PARSER)}, items, requests)
    conditions = {**plan.header.conditions,
                  "probs": attrs.evolve(plan.header.conditions["probs"], answers="option_probs")}
    return attrs.evolve(plan, header=attrs.evolve(plan.header, conditions=conditions))


def rows(run_dir: Path) -> dict[str, dict]:
    with Store.open(run_dir, create=False) as store:
        return {a.request_id: {"outcome": a.outcome, "text": a.raw_text, "code": a.parsed_code,
                               "probs": a.option_probs, "condition": a.condition}
                for a in store.iter_answers()}


def answer_rows(run_dir: Path) -> int:
    db = sqlite3.connect(run_dir / "store.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    finally:
        db.close()


class Seen(RunListener):
    """What arrived on the driver (read by the killer thread)."""

    def __init__(self):
        self.ids: set[str] = set()
        self.warnings: list[str] = []

    def on_answer(self, record):
        self.ids.add(record.request_id)

    def on_warning(self, message):
        self.warnings.append(message)


# --------------------------------------------------------------------------- tiny hf model


def test_two_workers_answer_as_the_local_executor_does_and_a_rerun_asks_nothing(tiny_model_dir, tmp_path):
    plan = tiny_plan(tiny_model_dir)
    local = run_plan(plan, tmp_path / "local", env={})
    log = tmp_path / "asked.log"
    engine = RayEngine(workers=2)
    summary = run_plan(plan, tmp_path / "ray", env={}, engine=engine,
                       backend_factory=CountingFactory(str(log)))

    # a random tiny model's short text is sometimes no answer (an error row): the same ones both ways
    assert summary.exit_code == local.exit_code and summary.errors == local.errors
    assert summary.total == len(plan.requests) == 24 and summary.missing == 0
    mine, theirs = rows(tmp_path / "ray"), rows(tmp_path / "local")
    assert set(mine) == set(theirs) == {r.id for r in plan.requests}
    for rid, row in theirs.items():
        other = mine[rid]
        assert (other["outcome"], other["text"], other["code"], other["condition"]) == \
               (row["outcome"], row["text"], row["code"], row["condition"]), rid
        if row["probs"] is not None:  # batches are composed differently (left padding): float noise only
            assert other["probs"].keys() == row["probs"].keys()
            assert all(abs(other["probs"][k] - row["probs"][k]) < 1e-5 for k in row["probs"])
    calls = asked(log)
    assert Counter(rid for _, rid in calls) == Counter({r.id: 1 for r in plan.requests})
    assert len({pid for pid, _ in calls}) == 2  # two worker processes, one model each
    assert os.getpid() not in {pid for pid, _ in calls}

    again = run_plan(plan, tmp_path / "ray", env={}, engine=engine, backend_factory=CountingFactory(str(log)))
    assert sum(c.asked for c in again.conditions) == 0
    assert len(asked(log)) == 24  # nothing asked again


def test_a_worker_killed_mid_run_loses_nothing_and_asks_nothing_twice(tiny_model_dir, tmp_path):
    plan = tiny_plan(tiny_model_dir, personas=8)  # 32 requests, ~16 per worker, 2 per call
    log, marker = tmp_path / "asked.log", tmp_path / "victim.json"
    seen = Seen()
    killed: dict = {}

    def killer():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not marker.exists():
            time.sleep(0.02)
        victim = json.loads(marker.read_text("utf-8"))
        while time.monotonic() < deadline and not set(victim["answered"]) <= seen.ids:
            time.sleep(0.02)  # its answers are on the driver: only then is the kill "between calls"
        killed.update(victim, stored_before=len(seen.ids))
        os.kill(victim["pid"], signal.SIGKILL)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    summary = run_plan(plan, tmp_path / "run", env={}, listener=seen, engine=RayEngine(workers=2),
                       backend_factory=CountingFactory(str(log), marker=str(marker), block_after=2))
    thread.join(timeout=5)

    assert killed and len(killed["answered"]) == 4  # two calls of two requests, then frozen
    assert summary.missing == 0 and summary.conditions[0].skipped == summary.conditions[1].skipped == 0
    assert any("was lost" in w and "re-queued" in w for w in summary.warnings), summary.warnings
    assert set(rows(tmp_path / "run")) == {r.id for r in plan.requests}
    assert answer_rows(tmp_path / "run") == 32
    calls = asked(log)
    per_id = Counter(rid for _, rid in calls)
    assert per_id == Counter({r.id: 1 for r in plan.requests}), [k for k, v in per_id.items() if v != 1]
    pids = {pid for pid, _ in calls}
    assert killed["pid"] in pids and len(pids) == 3  # the victim, the other worker, the replacement
    victims_ids = {rid for pid, rid in calls if pid == killed["pid"]}
    assert victims_ids == set(killed["answered"])  # it asked only what it delivered


def test_a_lane_whose_worker_is_lost_every_time_is_given_up_and_keeps_the_rest(tmp_path):
    items = [fk.item("Q1")]
    good = fk.requests_for("ok", "good", items, 3, backend="fake")
    doomed = fk.requests_for("bad", "doomed", items, 4, backend="dying")
    plan = fk.plan([fk.model("good", "replay_unused"), fk.model("doomed", "dying")],
                   {"ok": ("good", PARSER), "bad": ("doomed", PARSER)}, items, good + doomed)
    plan = _with_good_backend(plan, tmp_path)
    summary = run_plan(plan, tmp_path / "run", env={}, engine=RayEngine(workers=2, max_losses=2),
                       backend_factory=DyingFactory())

    assert summary.exit_code == 1
    by_condition = {c.condition: c for c in summary.conditions}
    assert by_condition["ok"].missing == 0 and by_condition["ok"].ok == 3
    assert by_condition["bad"].missing == 4 and by_condition["bad"].skipped == 4
    stopped = summary.stopped_models["doomed"]
    assert "doomed shard 1/1: its Ray worker was lost 2 times" in stopped and "4 requests not asked" in stopped
    assert "ActorDiedError" in stopped
    assert any("was lost" in w and "re-queued" in w and "loss 1 of at most 2" in w for w in summary.warnings)
    assert set(rows(tmp_path / "run")) == {r.id for r in good}  # nothing of the good lane lost


def _with_good_backend(plan, tmp_path):
    """The "good" model answers from a replay CSV (a real backend, no network, no model)."""
    csv = tmp_path / "answers.csv"
    lines = ["persona_id,item,response_raw"] + [f"P{p:03d},Q1,{p + 1}" for p in range(3)]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    models = dict(plan.header.models)
    models["good"] = attrs.evolve(models["good"], backend="replay", path=str(csv))
    return attrs.evolve(plan, header=attrs.evolve(plan.header, models=models))


# ---------------------------------------------------------------------------------- API lane


def test_api_lanes_run_with_the_executors_retries_against_the_chat_server(chat_server_factory, tmp_path):
    server = chat_server_factory(faults=[{"fault": "429", "requests": [1, 2], "retry_after": 0}])
    items = [fk.item("Q1"), fk.item("Q2", (1, 2, 3, 4))]
    requests = (fk.requests_for("c", "m", items, 6, backend="openai")
                + fk.requests_for("k", "hcx", items, 6, backend="clova", marker="k "))
    models = [fk.model("m", "openai", base_url=server.url, api_key_env=KEY_ENV, concurrency=3,
                       timeout_s=10.0, backoff=FAST),
              fk.model("hcx", "clova", base_url=server.root_url, api_key_env=KEY_ENV, concurrency=2,
                       timeout_s=10.0, backoff=FAST)]
    plan = fk.plan(models, {"c": ("m", PARSER), "k": ("hcx", PARSER)}, items, requests)
    summary = run_plan(plan, tmp_path / "run", env={}, engine=RayEngine(workers=2))

    assert summary.exit_code == 0 and summary.missing == 0, summary
    log = server.requests()
    assert len(log) == 24 + 2  # every request once, plus the two 429s retried
    assert sum(1 for e in log if e["status"] == 429) == 2
    with Store.open(tmp_path / "run", create=False) as store:
        answers = list(store.iter_answers())
        attempts = list(store.iter_attempts())
    assert {a.request_id for a in answers} == {r.id for r in requests}
    assert sum(1 for a in attempts if a.error_status == 429) == 2  # the retries' history streamed back
    assert sum(a.attempts for a in answers) == 26
    assert TEST_API_KEY not in (tmp_path / "run" / "store.sqlite").read_bytes().decode("latin-1")

    local = run_plan(plan, tmp_path / "local", env={KEY_ENV: TEST_API_KEY})
    assert local.exit_code == 0
    assert {k: (v["outcome"], v["text"], v["code"]) for k, v in rows(tmp_path / "run").items()} == \
           {k: (v["outcome"], v["text"], v["code"]) for k, v in rows(tmp_path / "local").items()}


def api_plan(server, personas: int, concurrency: int = 2):
    items = [fk.item("Q1"), fk.item("Q2", (1, 2, 3, 4))]
    requests = fk.requests_for("c", "m", items, personas, backend="openai")
    model = fk.model("m", "openai", base_url=server.url, api_key_env=KEY_ENV, concurrency=concurrency,
                     timeout_s=10.0, backoff=FAST)
    return fk.plan([model], {"c": ("m", PARSER)}, items, requests)


def test_ctrl_c_stops_the_workers_keeps_what_arrived_and_a_rerun_asks_the_rest(chat_server_factory, tmp_path):
    server = chat_server_factory(latency_ms=100)
    plan = api_plan(server, personas=20)  # 40 requests, ~2 s at concurrency 2

    class InterruptAtThird(Seen):
        def on_answer(self, record):
            super().on_answer(record)
            if len(self.ids) == 3:
                os.kill(os.getpid(), signal.SIGINT)  # the engine's handler: a clean stop

    summary = run_plan(plan, tmp_path / "run", env={}, listener=InterruptAtThird(), engine=RayEngine())
    assert summary.interrupted and summary.exit_code == 130
    stored = set(rows(tmp_path / "run"))
    assert 3 <= len(stored) < 40 and answer_rows(tmp_path / "run") == len(stored)

    again = run_plan(plan, tmp_path / "run", env={}, engine=RayEngine())
    assert again.exit_code == 0 and again.missing == 0
    assert sum(c.asked for c in again.conditions) == 40 - len(stored)
    id_of = {r.messages[-1].content: r.id for r in plan.requests}
    per_id = Counter(id_of[entry["body"]["messages"][-1]["content"]] for entry in server.requests())
    assert set(per_id) == {r.id for r in plan.requests}
    twice = {rid for rid, n in per_id.items() if n > 1}
    assert len(twice) <= 2 and not twice & stored  # only calls in flight at the stop (concurrency 2)
    assert max(per_id.values()) <= 2


class FailingStore:
    """A store that takes ``room`` answers, then fails as a full disk does."""

    def __init__(self, room: int):
        self.room = room
        self.answers: list = []
        self.attempts: list = []

    def record_attempt(self, attempt):
        self.attempts.append(attempt)

    def record_answer(self, record):
        if len(self.answers) >= self.room:
            raise StoreFailure("the results store cannot be written: database or disk is full")
        self.answers.append(record)


def test_a_failing_store_stops_every_worker_and_names_what_was_not_kept(chat_server_factory):
    server = chat_server_factory(latency_ms=20)
    plan = api_plan(server, personas=15)  # 30 requests
    store = FailingStore(room=5)
    seen = Seen()
    report = RayEngine().execute(models=plan.header.models, conditions=plan.header.conditions,
                                 items=plan.header.items, store=store, listener=seen,
                                 backend_factory=None, requests=list(plan.requests), totals={"c": 30})
    assert report.store_failure and "disk is full" in report.store_failure
    assert len(store.answers) == 5 and len(seen.ids) == 5
    counts = report.counts["c"]
    assert counts.ok + counts.invalid + counts.errors == 5 and counts.skipped == 25
    assert len(server.requests()) < 30  # the workers were stopped, not left to ask the rest


REPLAY_SPEC = Path(__file__).resolve().parents[2] / "specs" / "kgss_paper_replay.sil"


@pytest.mark.skipif(not REPLAY_SPEC.is_file(), reason="the KGSS replay spec is not shipped in this checkout")
def test_the_cli_runs_a_shipped_spec_on_ray_into_the_same_store_rows(tmp_path, capsys):
    from silspec.cli.main import main

    assert main(["run", str(REPLAY_SPEC), "--engine", "ray", "--out", str(tmp_path / "ray"), "--quiet",
                 "--no-report"]) == 0
    assert "complete: 1200 requests answered" in capsys.readouterr().out
    assert main(["run", str(REPLAY_SPEC), "--out", str(tmp_path / "local"), "--quiet", "--no-report"]) == 0
    assert rows(tmp_path / "ray") == rows(tmp_path / "local")


def test_the_manifest_says_the_run_was_asked_on_ray(tmp_path):
    csv = tmp_path / "answers.csv"
    csv.write_text("persona_id,item,response_raw\nP000,Q1,1\nP001,Q1,2\n", encoding="utf-8")
    items = [fk.item("Q1")]
    plan = fk.plan([fk.model("good", "replay", path=str(csv))], {"ok": ("good", PARSER)}, items,
                   fk.requests_for("ok", "good", items, 2, backend="replay"))
    run_plan(plan, tmp_path / "run", env={}, engine=RayEngine(workers=3))
    run_plan(plan, tmp_path / "run", env={})
    with Store.open(tmp_path / "run", create=False) as store:
        engines = [m["engine"] for m in store.manifests()]
    assert engines[0].startswith(f"ray {ray.__version__}: ") and "3 workers per hf/vllm model" in engines[0]
    assert engines[1] is None  # this process
