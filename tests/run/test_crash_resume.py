"""Crash safety: SIGKILL a real runner process mid-run, rerun, and check nothing was paid twice.

The runner is a subprocess talking to the test chat server process through the real openai
client. After the kill, the store must hold only whole answers; the rerun must complete, hold
every answer exactly once, and the server log must show no request asked again whose answer
had been stored before the kill.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.run import _fakes as fk

ROOT = Path(__file__).resolve().parents[2]
PERSONAS = 30  # x 2 items = 60 requests; ~150 ms each at concurrency 4: ~2.3 s for the lot

ENTRY = """\
import sys
sys.path.insert(0, {root!r})
from tests.run._fakes import item, model, plan, requests_for
from silspec.run.runner import run_plan
from silspec.spec.model import Backoff, Parser

url, run_dir, personas = sys.argv[1], sys.argv[2], int(sys.argv[3])
items = [item("Q1"), item("Q2", (1, 2, 3, 4))]
requests = requests_for("c", "gpt", items, personas, backend="openai")
the_plan = plan([model("gpt", "openai", base_url=url, concurrency=4, timeout_s=10.0,
                       backoff=Backoff(base=0.01, max_s=0.05))],
                {{"c": ("gpt", Parser("first"))}}, items, requests)
summary = run_plan(the_plan, run_dir, env={{}})
sys.exit(summary.exit_code)
"""


def the_requests():
    items = [fk.item("Q1"), fk.item("Q2", (1, 2, 3, 4))]
    return fk.requests_for("c", "gpt", items, PERSONAS, backend="openai")


def stored_ids(run_dir: Path) -> list[str]:
    db = sqlite3.connect(run_dir / "store.sqlite", timeout=5)
    try:
        return [row[0] for row in db.execute("SELECT request_id FROM answers")]
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        db.close()


def runner_command(server_url: str, tmp_path: Path) -> tuple[list[str], Path]:
    """The command that runs the plan in a child process, and the run directory it fills."""
    entry = tmp_path / "entry.py"
    entry.write_text(ENTRY.format(root=str(ROOT)), encoding="utf-8")
    run_dir = tmp_path / "run"
    return [sys.executable, str(entry), server_url, str(run_dir), str(PERSONAS)], run_dir


def wait_until_stored(runner: subprocess.Popen, run_dir: Path, at_least: int) -> None:
    """Poll the store until the runner has saved ``at_least`` answers (or exited, or 60 s passed)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and runner.poll() is None:
        if (run_dir / "store.sqlite").exists() and len(stored_ids(run_dir)) >= at_least:
            break
        time.sleep(0.02)


def test_sigkill_mid_run_then_resume_asks_only_what_is_missing(chat_server_factory, tmp_path):
    server = chat_server_factory(latency_ms=150)
    command, run_dir = runner_command(server.url, tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    runner = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until_stored(runner, run_dir, 12)
    assert runner.poll() is None, "the runner finished before it could be killed: " + runner.stderr.read().decode()
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=10)
    runner.stdout.close()
    runner.stderr.close()

    before = stored_ids(run_dir)
    total = len(the_requests())
    assert 12 <= len(before) < total, "kill should land mid-run"
    time.sleep(0.5)  # let the server finish (and log) what was in flight at the kill
    rerun_started = time.time()

    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr

    after = stored_ids(run_dir)
    assert len(after) == len(set(after)) == total
    assert set(after) == {r.id for r in the_requests()}

    content_of = {r.id: r.messages[-1].content for r in the_requests()}
    stored_before = {content_of[i] for i in before}
    asked_again = [e["body"]["messages"][-1]["content"] for e in server.requests() if e["t"] >= rerun_started]
    assert not stored_before & set(asked_again), "a stored answer was asked for again"
    assert len(asked_again) == total - len(before)  # exactly the missing ones, each once

    db = sqlite3.connect(run_dir / "store.sqlite")
    statuses = [row[0] for row in db.execute("SELECT status FROM manifest ORDER BY id")]
    db.close()
    assert statuses == ["running", "complete"]  # the killed invocation never got to finish


def test_ctrl_c_stops_cleanly_keeps_answers_and_exits_130(chat_server_factory, tmp_path):
    server = chat_server_factory(latency_ms=150)
    command, run_dir = runner_command(server.url, tmp_path)
    runner = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until_stored(runner, run_dir, 8)
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 130, out + err
    assert "Traceback" not in err
    kept = stored_ids(run_dir)
    assert 8 <= len(kept) < len(the_requests())
    db = sqlite3.connect(run_dir / "store.sqlite")
    assert [r[0] for r in db.execute("SELECT status FROM manifest")] == ["interrupted"]
    assert {r[0] for r in db.execute("SELECT outcome FROM answers")} == {"answered"}
    db.close()
