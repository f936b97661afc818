"""The proof of the Batch API door: a 2,000-request plan over several files, the runner process
SIGKILLed while it polls, and a rerun that polls the same batches and submits nothing again
(the batch server's log holds every uploaded custom id)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from silspec.run.batch import batch_status
from silspec.run.rundir import RunDirectory
from tests.servers import batch_server

ROOT = Path(__file__).resolve().parents[2]
PERSONAS = 1000  # x 2 items = 2,000 requests; 600 per file: 4 files

ENTRY = """\
import sys
sys.path.insert(0, {root!r})
from tests.run._fakes import item, model, plan, requests_for
from silspec.run.runner import run_plan
from silspec.spec.model import Parser

url, run_dir, personas = sys.argv[1], sys.argv[2], int(sys.argv[3])
items = [item("Q1"), item("Q2", (1, 2, 3, 4))]
requests = requests_for("c", "gpt", items, personas, backend="openai")
the_plan = plan([model("gpt", "openai", base_url=url, options={{"batch": True}})],
                {{"c": ("gpt", Parser("first"))}}, items, requests)
env = {{"SILSPEC_BATCH_MAX_REQUESTS": "600", "SILSPEC_BATCH_POLL_S": "0.05"}}
summary = run_plan(the_plan, run_dir, env=env)
sys.exit(summary.exit_code)
"""


def query(run_dir: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(run_dir / "store.sqlite", timeout=5)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        db.close()


def test_sigkill_while_polling_then_resume_submits_nothing_again(tmp_path):
    server = batch_server.start(tmp_path, hold=True)  # batches stay in_progress until released
    try:
        entry = tmp_path / "entry.py"
        entry.write_text(ENTRY.format(root=str(ROOT)), encoding="utf-8")
        run_dir = tmp_path / "run"
        command = [sys.executable, str(entry), server.url, str(run_dir), str(PERSONAS)]
        runner = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and runner.poll() is None:
            polled = {e["batch_id"] for e in server.log("retrieve")}
            if len(polled) == 4 and len(server.log("retrieve")) >= 8:  # every batch polled, twice on average
                break
            time.sleep(0.05)
        assert runner.poll() is None, runner.communicate()
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)

        uploads = server.log("upload")
        assert [u["lines"] for u in uploads] == [600, 600, 600, 200]
        kept = query(run_dir, "SELECT batch_id, status, n_requests FROM batches ORDER BY rowid")
        assert [(status, n) for _, status, n in kept] == [("in_progress", 600)] * 3 + [("in_progress", 200)]
        assert query(run_dir, "SELECT count(*) FROM answers") == [(0,)]  # killed before anything ended

        # --status's view while the batches run: asked of the provider, nothing written
        with RunDirectory.at(run_dir).open_store() as store:
            shown = batch_status(store, models=RunDirectory.at(run_dir).read_plan_header()[0].models, env={})
        assert [(r.status, r.requests, r.answers_stored, r.note) for r in shown] == \
            [("in_progress", 600, 0, None)] * 3 + [("in_progress", 200, 0, None)]
        server.release()
        rerun = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ})
        assert rerun.returncode == 0, rerun.stderr[-3000:]

        submitted = server.submitted_ids()
        assert len(submitted) == 2000 and max(Counter(submitted).values()) == 1  # zero re-submitted
        assert len(server.log("create")) == 4
        assert query(run_dir, "SELECT count(*) FROM answers WHERE outcome != 'error'") == [(2000,)]
        stored_batches = query(run_dir, "SELECT json_extract(meta, '$.batch_id'), count(*) FROM answers GROUP BY 1")
        assert sorted(stored_batches) == sorted((bid, n) for bid, _, n in kept)
        assert {s for _, s, _ in query(run_dir, "SELECT batch_id, status, n_requests FROM batches")} == {"completed"}
    finally:
        server.proc.kill()
        server.proc.wait(timeout=10)
