"""`run_plan` / `silspec run` against the real test server process and the real openai client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from silspec.run.runner import dry_run, read_plan_header, run_plan
from silspec.run.store import Store
from silspec.spec.model import Backoff, Parser

from tests.run import _fakes as fk
from tests.servers.fixtures import TEST_API_KEY

ROOT = Path(__file__).resolve().parents[2]
PARSER = Parser("first")
KEY_ENV = "SILSPEC_TEST_KEY"
SENTINEL = "sk-SENTINEL-zz-9f8e7d6c5b4a"
FAST = Backoff(base=0.01, max_s=0.05, jitter=True)


def openai_plan(server, *, personas=4, marker="", models=None, conditions=None, **model_kwargs):
    items = [fk.item("Q1"), fk.item("Q2", (1, 2, 3, 4))]
    model_kwargs.setdefault("backoff", FAST)
    model_kwargs.setdefault("timeout_s", 10.0)
    models = models or [fk.model("gpt", "openai", base_url=server.url, api_key_env=KEY_ENV, **model_kwargs)]
    requests = []
    conditions = conditions or {"main": ("gpt", PARSER)}
    for name, (model_name, _) in conditions.items():
        requests += fk.requests_for(name, model_name, items, personas, backend="openai",
                                    marker=f"{marker}{name} ")
    return fk.plan(models, conditions, items, requests)


def asked_prompts(server):
    return [entry["body"]["messages"][-1]["content"] for entry in server.requests()]


def test_a_run_answers_everything_and_a_rerun_asks_nothing(chat_server_factory, tmp_path):
    server = chat_server_factory(api_key=TEST_API_KEY)
    plan = openai_plan(server)
    env = {KEY_ENV: TEST_API_KEY}
    summary = run_plan(plan, tmp_path / "run", env=env)
    assert summary.exit_code == 0 and summary.errors == 0 and summary.missing == 0
    assert len(server.requests()) == len(plan.requests)
    with Store.open(tmp_path / "run", create=False) as store:
        answers = list(store.iter_answers())
        assert {a.request_id for a in answers} == {r.id for r in plan.requests}
        assert all(a.outcome == "answered" and a.scorer for a in answers)
    header, plan_hash = read_plan_header(tmp_path / "run")
    assert header == plan.header and plan_hash == plan.plan_hash

    again = run_plan(plan, tmp_path / "run", env=env)
    assert again.exit_code == 0
    assert len(server.requests()) == len(plan.requests)  # nothing asked twice
    assert [c.already for c in again.conditions] == [len(plan.requests)]
    with Store.open(tmp_path / "run", create=False) as store:
        assert [m["status"] for m in store.manifests()] == ["complete", "complete"]


def test_retry_after_is_honoured_per_the_server_clock(chat_server_factory, tmp_path):
    server = chat_server_factory(faults=[{"fault": "429", "requests": [1], "retry_after": 1}])
    # Retry-After is honoured up to the backoff maximum (issue 10), so the maximum must allow 1 s.
    plan = openai_plan(server, personas=1, concurrency=1, backoff=Backoff(base=0.01, max_s=5))
    summary = run_plan(plan, tmp_path / "run", env={KEY_ENV: "x-local"})
    assert summary.exit_code == 0
    log = server.requests()
    first = log[0]
    assert first["status"] == 429
    retry = next(e for e in log[1:] if e["messages_sha256"] == first["messages_sha256"])
    assert retry["t"] - first["t"] >= 1.0


def test_server_errors_are_retried_then_answered(chat_server_factory, tmp_path):
    server = chat_server_factory(faults=[
        {"fault": "500", "marker": "main", "times": 1},
        {"fault": "503", "marker": "main", "times": 1},
    ])
    plan = openai_plan(server, personas=2)
    summary = run_plan(plan, tmp_path / "run", env={KEY_ENV: "x-local"})
    assert summary.exit_code == 0
    with Store.open(tmp_path / "run", create=False) as store:
        for answer in store.iter_answers():
            assert answer.outcome == "answered" and answer.attempts == 3
            statuses = [a.error_status for a in store.iter_attempts(answer.request_id)]
            assert statuses == [500, 503, None]


def test_auth_failure_stops_the_model_names_the_variable_and_never_leaks_the_key(
        chat_server_factory, tmp_path):
    server = chat_server_factory(api_key=TEST_API_KEY)
    models = [
        fk.model("bad", "openai", base_url=server.url, api_key_env="BAD_KEY_VAR", backoff=FAST, concurrency=1),
        fk.model("good", "openai", base_url=server.url, api_key_env=KEY_ENV, backoff=FAST),
    ]
    plan = openai_plan(server, models=models, conditions={"a": ("bad", PARSER), "b": ("good", PARSER)})
    run_dir = tmp_path / "run"
    summary = run_plan(plan, run_dir, env={"BAD_KEY_VAR": SENTINEL, KEY_ENV: TEST_API_KEY})
    assert summary.exit_code == 1
    message = summary.stopped_models["bad"]
    assert "BAD_KEY_VAR" in message and SENTINEL not in message and "401" in message
    by_name = {c.condition: c for c in summary.conditions}
    b = by_name["b"]  # every request of the good model stored: answered or not an answer (6 + 2)
    assert by_name["a"].missing == by_name["a"].total and (b.ok, b.invalid, b.errors) == (6, 2, 0)
    assert sum(1 for e in server.requests() if e["status"] == 401) == 1
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert SENTINEL.encode() not in path.read_bytes(), path


def test_retry_errors_reasks_only_failed_requests(chat_server_factory, tmp_path):
    server = chat_server_factory(faults=[{"fault": "400", "marker": "BADPROMPT", "times": 1}])
    items = [fk.item("Q1")]
    requests = (fk.requests_for("c", "gpt", items, 3, backend="openai", marker="ok ")
                + fk.requests_for("c", "gpt", items, 2, backend="openai", marker="BADPROMPT "))
    model = fk.model("gpt", "openai", base_url=server.url, backoff=FAST)
    plan = fk.plan([model], {"c": ("gpt", PARSER)}, items, requests)
    run_dir = tmp_path / "run"
    first = run_plan(plan, run_dir, env={})
    assert first.exit_code == 1 and first.errors == 2
    assert len(server.requests()) == 5  # a 400 is not retried

    plain = run_plan(plan, run_dir, env={})
    assert plain.exit_code == 1 and len(server.requests()) == 5  # errors are kept, not re-asked

    retried = run_plan(plan, run_dir, env={}, retry_errors=True)
    assert retried.exit_code == 0 and retried.errors == 0
    log = server.requests()
    assert len(log) == 7 and all("BADPROMPT" in e["body"]["messages"][-1]["content"] for e in log[5:])
    with Store.open(run_dir, create=False) as store:
        assert store.count_answers() == 5 and store.failed_ids() == set()


def test_fresh_moves_the_store_aside_and_asks_again(chat_server_factory, tmp_path):
    server = chat_server_factory()
    plan = openai_plan(server, personas=2)
    run_dir = tmp_path / "run"
    env = {KEY_ENV: "x-local"}
    assert run_plan(plan, run_dir, env=env).exit_code == 0
    summary = run_plan(plan, run_dir, env=env, fresh=True)
    assert summary.exit_code == 0
    assert summary.backup and Path(summary.backup).exists()
    assert len(server.requests()) == 2 * len(plan.requests)


def test_dry_run_counts_what_is_stored_and_creates_nothing(chat_server_factory, tmp_path):
    server = chat_server_factory()
    plan = openai_plan(server, personas=3)
    run_dir = tmp_path / "run"
    rows = dry_run(plan, run_dir)
    assert not run_dir.exists()
    assert [(r.requests, r.answered, r.to_ask) for r in rows] == [(6, 0, 6)]
    assert rows[0].prompt_tokens > 0 and rows[0].cost is None
    run_plan(fk.plan(list(plan.header.models.values()), {"main": ("gpt", PARSER)},
                     list(plan.header.items.values()), list(plan.requests[:2])), run_dir,
             env={KEY_ENV: "x-local"})
    rows = dry_run(plan, run_dir)
    assert [(r.answered, r.to_ask) for r in rows] == [(2, 4)]


def test_cli_usage_errors_exit_2(tmp_path):
    from silspec.cli.main import main

    assert main(["run", str(tmp_path / "missing.sil")]) == 2
    assert main(["run", "x.sil", "--set", "no-equals-sign"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["run", "x.sil", "--fresh", "--retry-errors"])
    assert exc.value.code == 2


def test_cli_runs_a_spec_against_the_server(chat_server_factory, tmp_path):
    pytest.importorskip("silspec.spec.load")
    server = chat_server_factory()
    spec = tmp_path / "mini.sil"
    spec.write_text(MINI_SPEC.replace("BASE_URL", server.url), encoding="utf-8")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "silspec.cli.main", "run", str(spec), "--out", str(out), "--quiet", "--no-report"]
    dry = subprocess.run(cmd + ["--dry-run"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "to ask" in dry.stdout and not out.exists()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "bundle" / "mini.sil").is_file()
    with Store.open(out, create=False) as store:
        assert store.count_answers() == len(server.requests()) > 0


MINI_SPEC = """\
silspec 1

study mini { seed = 1 }

scale agree5 {
  1 = "Strongly disagree"
  2 = "Disagree"
  3 = "Neither"
  4 = "Agree"
  5 = "Strongly agree"
}

survey s {
  item Q1 {
    text  = "Cats are better than dogs."
    scale = agree5
  }
}

persona people {
  age = { "18-39": 0.5, "40+": 0.5 }
}

population sample {
  persona  = people
  sampling = random
  size     = 4
}

parser first { extract = first_integer }

model local {
  backend  = openai
  name     = "test-model"
  base_url = "BASE_URL"
}

condition main {
  model      = local
  population = sample
  items      = [s.Q1]
  parser     = first
  prompt     = "You are {{ persona.age }} years old. {{ item.text }} Answer 1-5."
}
"""


def test_identical_requests_are_asked_once_and_counted_once(tmp_path):
    backend, log, _ = fk.scripted_backend()
    items = [fk.item("Q1")]
    requests = fk.requests_for("c", "m", items, 3)
    plan = fk.plan([fk.model("m", backend)], {"c": ("m", PARSER)}, items, requests + requests[:2])
    rows = dry_run(plan, tmp_path / "run")
    assert [(r.requests, r.duplicates, r.to_ask) for r in rows] == [(3, 2, 3)]
    summary = run_plan(plan, tmp_path / "run", env={})
    assert summary.exit_code == 0 and len(log) == 3
    assert [(c.total, c.asked, c.ok) for c in summary.conditions] == [(3, 3, 3)]


def test_stopped_model_leaves_requests_missing_and_a_rerun_asks_them(tmp_path):
    from silspec.run.backends.base import PermanentError

    state = {"broken": True}

    def script(request, attempt):
        if state["broken"]:
            return PermanentError("HTTP 403: forbidden", status=403)
        return fk.first_code_answer(request, attempt)

    backend, log, _ = fk.scripted_backend(script)
    items = [fk.item("Q1")]
    plan = fk.plan([fk.model("m", backend, concurrency=1, api_key_env="K")], {"c": ("m", PARSER)},
                   items, fk.requests_for("c", "m", items, 4))
    first = run_plan(plan, tmp_path / "run", env={"K": "secret-value"})
    assert first.exit_code == 1 and first.missing == 4 and first.errors == 0
    state["broken"] = False
    second = run_plan(plan, tmp_path / "run", env={"K": "secret-value"})
    assert second.exit_code == 0 and [c.asked for c in second.conditions] == [4]


def test_a_second_runner_on_the_same_directory_is_refused(tmp_path):
    import fcntl

    from silspec.run.runner import LOCK_FILE, RunSetupError

    backend, log, _ = fk.scripted_backend()
    items = [fk.item("Q1")]
    plan = fk.plan([fk.model("m", backend)], {"c": ("m", PARSER)}, items, fk.requests_for("c", "m", items, 2))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with open(run_dir / LOCK_FILE, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(RunSetupError, match="another silspec run"):
            run_plan(plan, run_dir, env={})
        fcntl.flock(held, fcntl.LOCK_UN)
    assert log == [] and run_plan(plan, run_dir, env={}).exit_code == 0


def test_cli_spec_with_lint_errors_exits_1_and_usage_errors_exit_2(tmp_path, capsys):
    pytest.importorskip("silspec.spec.load")
    from silspec.cli.main import main

    bad = tmp_path / "bad.sil"
    bad.write_text("silspec 1\nstudy x { seed = 1 }\nmodel m { backend = nope }\n", encoding="utf-8")
    assert main(["run", str(bad), "--out", str(tmp_path / "run"), "--quiet"]) == 1
    assert "has errors" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    good = tmp_path / "mini.sil"
    good.write_text(MINI_SPEC.replace("BASE_URL", "http://127.0.0.1:9"), encoding="utf-8")
    assert main(["run", str(good), "--condition", "nope", "--dry-run"]) == 2
    assert "unknown condition 'nope'" in capsys.readouterr().err
    assert main(["run", str(good), "--limit", "-1"]) == 2


def test_limit_on_the_replay_spec_touches_every_condition_and_item(tmp_path):
    pytest.importorskip("silspec.spec.load")
    from silspec.run.runner import run_spec

    summary = run_spec(ROOT / "specs" / "kgss_paper_replay.sil", out=tmp_path / "run", limit=6)
    assert summary.total == 12 and summary.missing == 0
    with Store.open(tmp_path / "run", create=False) as store:
        asked = {(a.condition, a.item.rsplit(".", 1)[-1], a.persona) for a in store.iter_answers()}
        assert store.manifests()[-1]["limit"] == 6
    items = {"CONFINAN", "CONLEGIS", "KRPROUD", "NORTHWHO", "UNIFI", "PARTYLR"}
    for condition in ("baseline", "indigenous"):
        assert {i for c, i, _ in asked if c == condition} == items
        assert {p for c, _, p in asked if c == condition} == {"P001"}
    header, _ = read_plan_header(tmp_path / "run")
    assert header.limit == 6
