"""The runner on a bad day (issue 10): exceptions in workers, a store that fails mid-run, a
refused store file, Retry-After from the far future, local models that load slowly."""

from __future__ import annotations

import asyncio
import errno
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

import silspec
from silspec.plan.model import PlanModel
from silspec.run.backends.base import BackendAnswer
from silspec.run.backends.hf import HFBackend
from silspec.run.executor import Executor, RunListener
from silspec.run.runner import run_plan
from silspec.run.store import STORE_FILE, Store, StoreError, StoreFailure
from silspec.spec.model import Backoff, Parser

from tests.run import _fakes as fk
from tests.run.test_runner_cli import MINI_SPEC, ROOT
from tests.run.test_store import answer

PARSER = Parser("first", on_error="midpoint")
# The one answer model of issue 8 (helper "answers"); checked by folder, because an editable
# install can make `import silspec.answers` find another checkout's copy.
ANSWER_MODEL = (Path(silspec.__file__).parent / "answers" / "score.py").is_file()
FAST = Backoff(base=0.01, max_s=0.05, jitter=True)


def server_plan(server, *, personas=10, concurrency=4, **kwargs):
    items = [fk.item("Q1"), fk.item("Q2", (1, 2, 3, 4))]
    requests = fk.requests_for("c", "m", items, personas, backend="openai")
    kwargs.setdefault("backoff", FAST)
    model = fk.model("m", "openai", base_url=server.url, api_key_env="K", concurrency=concurrency,
                     timeout_s=10.0, **kwargs)
    return fk.plan([model], {"c": ("m", PARSER)}, items, requests)


def execute(plan, store, *, listener=None):
    executor = Executor(models=plan.header.models, conditions=plan.header.conditions,
                        items=plan.header.items, store=store, env={}, listener=listener,
                        rng=random.Random(0))
    return asyncio.run(executor.execute(plan.requests))


# ------------------------------------------------------------------------ worker exceptions


def test_integer_content_every_third_call_leaves_every_request_accounted_for(chat_server_factory, tmp_path):
    # Issue 10's case: today 22 requests were never asked and the summary said "0 errors".
    server = chat_server_factory(faults=[{"fault": "int_content", "every": 3}])
    plan = server_plan(server, personas=15)  # 30 requests
    summary = run_plan(plan, tmp_path / "run", env={"K": "x"})
    with Store.open(tmp_path / "run", create=False) as store:
        rows = {a.request_id: a for a in store.iter_answers()}
    assert set(rows) == {r.id for r in plan.requests}
    errors = [a for a in rows.values() if a.outcome == "error"]
    assert len(server.requests()) == 30 and len(errors) == 10  # calls 3, 6, ..., 30
    assert {a.meta["error_reason"] for a in errors} == {"malformed reply"}
    assert summary.errors == 10 and summary.missing == 0 and summary.exit_code == 1
    (group,) = summary.error_groups
    assert group.count == 10 and "content is an integer" in group.message and not group.transient


def test_any_exception_inside_a_worker_is_an_error_row_with_its_class_and_the_rest_go_on(tmp_path):
    # A backend that returns what the store cannot serialise: a bug below the backend's checks.
    def every_third_is_broken(request, attempt):
        if int(request.persona[1:]) % 3 == 2:
            return BackendAnswer(text="2", meta={"handle": object()})
        return fk.first_code_answer(request, attempt)

    backend, log, _ = fk.scripted_backend(every_third_is_broken)
    items = [fk.item("Q1")]
    requests = fk.requests_for("c", "m", items, 12)
    plan = fk.plan([fk.model("m", backend, concurrency=2)], {"c": ("m", PARSER)}, items, requests)
    with Store.open(tmp_path / "run") as store:
        report = execute(plan, store)
        rows = {a.request_id: a for a in store.iter_answers()}
    assert set(rows) == {r.id for r in requests} and len(log) == 12
    broken = [a for a in rows.values() if a.outcome == "error"]
    assert len(broken) == 4 and report.errors == 4
    assert all(a.error.startswith("internal error: TypeError: ") for a in broken)
    assert all(a.meta["exception"] == "TypeError" and a.meta["error_reason"] == "internal error"
               for a in broken)


# ------------------------------------------------------------------------------ store failure


class _Counting(RunListener):
    """Runs ``action`` once, right after the ``after``-th answer is stored."""

    def __init__(self, after, action):
        self.after, self.action, self.seen, self.warnings = after, action, 0, []

    def on_answer(self, record):
        self.seen += 1
        if self.seen == self.after:
            self.action()

    def on_warning(self, message):
        self.warnings.append(message)


def _store_failure_case(tmp_path, break_store, *, concurrency=1):
    """Run 20 requests; break the store after the 5th answer; return (report, calls, stored)."""
    backend, log, _ = fk.scripted_backend()
    items = [fk.item("Q1")]
    requests = fk.requests_for("c", "m", items, 20)
    plan = fk.plan([fk.model("m", backend, concurrency=concurrency)], {"c": ("m", PARSER)}, items, requests)
    store = Store.open(tmp_path / "run")
    listener = _Counting(5, lambda: break_store(store))
    report = execute(plan, store, listener=listener)
    store.close()
    return report, log, listener


def _stored_ids(run_dir):
    with Store.open(run_dir, create=False) as store:
        return {a.request_id for a in store.iter_answers()}


def test_a_full_database_stops_every_lane_at_once_and_keeps_what_was_stored(tmp_path):
    # A real SQLITE_FULL: the page limit is the file's current size.
    def fill(store):
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count={pages}")

    report, log, listener = _store_failure_case(tmp_path, fill)
    assert report.store_failure and "disk is full" in report.store_failure
    stored = _stored_ids(tmp_path / "run")
    assert 5 <= len(stored) < 20
    assert len(log) == len(stored) + 1  # the one call whose answer failed to store, none after
    assert report.skipped == 20 - len(stored) and report.counts["c"].ok == len(stored)
    assert any("the run stops" in w for w in listener.warnings)


def test_a_read_only_store_mid_run_stops_the_run(tmp_path):
    report, log, _ = _store_failure_case(tmp_path, lambda s: s._db.execute("PRAGMA query_only=1"))
    assert "read-only" in report.store_failure
    assert len(_stored_ids(tmp_path / "run")) == 5 and len(log) == 6


def test_enospc_from_a_store_wrapper_stops_all_lanes(tmp_path):
    class FullDisk:
        def __init__(self, store, after):
            self._store, self._after, self._writes = store, after, 0

        def __getattr__(self, name):
            return getattr(self._store, name)

        def record_answer(self, record):
            self._writes += 1
            if self._writes > self._after:
                raise OSError(errno.ENOSPC, "No space left on device")
            self._store.record_answer(record)

    backend, log, _ = fk.scripted_backend(delay_s=0.01)
    items = [fk.item("Q1"), fk.item("Q2")]
    requests = fk.requests_for("c", "m", items, 30)
    plan = fk.plan([fk.model("m", backend, concurrency=4)], {"c": ("m", PARSER)}, items, requests)
    with Store.open(tmp_path / "run") as real:
        report = execute(plan, FullDisk(real, after=7))
        stored = real.count_answers()
    assert "disk is full" in report.store_failure and "No space left" in report.store_failure
    assert stored == 7
    assert len(log) <= stored + 4  # at most the calls in flight when the disk filled
    assert report.counts["c"].ok + report.skipped + report.errors <= 60
    assert report.skipped >= 60 - len(log)


def test_a_deleted_store_is_noticed_before_the_next_request_and_the_run_exits_1(chat_server_factory, tmp_path):
    server = chat_server_factory()
    plan = server_plan(server, personas=10, concurrency=1)
    run_dir = tmp_path / "run"

    def delete():
        (run_dir / STORE_FILE).unlink()

    listener = _Counting(5, delete)
    summary = run_plan(plan, run_dir, env={"K": "x"}, listener=listener)
    assert summary.store_failure and "deleted" in summary.store_failure
    assert summary.exit_code == 1
    assert len(server.requests()) == 5  # nothing asked once its answer could not be kept


def test_a_store_that_cannot_be_written_at_the_start_asks_nothing(chat_server_factory, tmp_path, monkeypatch):
    server = chat_server_factory()
    plan = server_plan(server)

    def read_only(self, manifest):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(Store, "begin_invocation", read_only)
    with pytest.raises(StoreError, match="read-only.*nothing was asked"):
        run_plan(plan, tmp_path / "run", env={"K": "x"})
    assert server.requests() == []


def test_check_writable_names_the_cause(tmp_path):
    with Store.open(tmp_path) as store:
        store.check_writable()
        (tmp_path / STORE_FILE).rename(tmp_path / "elsewhere")
        with pytest.raises(StoreFailure, match="deleted"):
            store.check_writable()
        Store.open(tmp_path).close()  # a new file at the same path is not the one we write to
        with pytest.raises(StoreFailure, match="replaced"):
            store.check_writable()


# ------------------------------------------------------------------------------ refused stores


def _foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO users (name) VALUES ('ada')")
    db.commit()
    db.close()


def _damaged(path: Path) -> None:
    with Store.open(path.parent) as store:
        for i in range(300):
            store.record_answer(answer(f"r{i}"))
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096 * 3: 4096 * 3 + 2000] = b"Z" * 2000
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_bytes(b""), "empty (0 bytes)"),
    (lambda p: p.write_bytes(b"not a database at all" * 50), "not an SQLite database"),
    (_foreign, "not a silspec results store (it has users)"),
    (_damaged, "damaged"),
])
def test_an_empty_foreign_or_damaged_store_is_refused_and_left_as_it_was(chat_server_factory, tmp_path, make, words):
    server = chat_server_factory()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    path = run_dir / STORE_FILE
    make(path)
    before = path.read_bytes()
    with pytest.raises(StoreError, match=words.replace("(", r"\(").replace(")", r"\)")):
        run_plan(server_plan(server), run_dir, env={"K": "x"})
    assert path.read_bytes() == before and server.requests() == []
    assert not (run_dir / "plan_header.json").exists()
    # --fresh is the way out: the file is kept aside and the run starts over.
    summary = run_plan(server_plan(server), run_dir, env={"K": "x"}, fresh=True)
    assert summary.exit_code == 0 and Path(summary.backup).read_bytes() == before


def test_the_cli_refuses_an_empty_store_with_exit_2(chat_server_factory, tmp_path):
    pytest.importorskip("silspec.spec.load")
    server = chat_server_factory()
    spec = tmp_path / "mini.sil"
    spec.write_text(MINI_SPEC.replace("BASE_URL", server.url), encoding="utf-8")
    out = tmp_path / "run"
    out.mkdir()
    (out / STORE_FILE).write_bytes(b"")
    cmd = [sys.executable, "-m", "silspec.cli.main", "run", str(spec), "--out", str(out), "--quiet", "--no-report"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "empty (0 bytes)" in done.stderr and "--fresh" in done.stderr
    assert (out / STORE_FILE).stat().st_size == 0 and server.requests() == []


# ------------------------------------------------------------------------ waits and loading


def test_a_retry_after_date_in_2099_is_capped_and_the_run_completes(chat_server_factory, tmp_path):
    server = chat_server_factory(faults=[
        {"fault": "429", "requests": [1, 2], "retry_after_raw": "Thu, 01 Jan 2099 00:00:00 GMT"}])
    plan = server_plan(server, personas=3, backoff=Backoff(base=0.01, max_s=0.2))
    summary = run_plan(plan, tmp_path / "run", env={"K": "x"})
    assert summary.exit_code == 0 and summary.missing == 0
    (warning,) = [w for w in summary.warnings if "Retry-After" in w]
    assert "years" in warning and "0.2 s" in warning


def test_hf_has_no_per_call_timeout_unless_the_spec_sets_one(tiny_model_dir):
    def backend(**fields):
        return HFBackend(PlanModel(name="tiny", backend="hf", model_id="tiny", path=str(tiny_model_dir),
                                   **fields), env={})

    assert backend().call_timeout_s is None
    assert backend(timeout_s=300.0).call_timeout_s == 300.0


def test_hf_loading_shows_in_the_progress_display(tiny_model_dir, tmp_path):
    statuses = []

    class Listen(RunListener):
        def on_status(self, model, conditions, text):
            statuses.append((model, tuple(conditions), text))

    items = [fk.item("Q1")]
    requests = fk.requests_for("c", "tiny", items, 2, backend="hf")
    model = PlanModel(name="tiny", backend="hf", model_id="tiny", path=str(tiny_model_dir),
                      params={"max_tokens": 2})
    plan = fk.plan([model], {"c": ("tiny", PARSER)}, items, requests)
    with Store.open(tmp_path / "run") as store:
        execute(plan, store, listener=Listen())
        assert store.count_answers() == 2  # (a random tiny model's text may or may not be an answer)
    assert statuses[0][:2] == ("tiny", ("c",)) and statuses[0][2].startswith("loading tiny (")
    assert statuses[-1][2] is None and sum(1 for s in statuses if s[2]) == 1


def test_durable_runs_use_synchronous_full_and_say_so_in_the_manifest(chat_server_factory, tmp_path):
    server = chat_server_factory()
    plan = server_plan(server, personas=1)
    run_plan(plan, tmp_path / "run", env={"K": "x"})
    run_plan(plan, tmp_path / "run", env={"K": "x"}, durable=True)
    with Store.open(tmp_path / "run", create=False) as store:
        assert [m["synchronous"] for m in store.manifests()] == ["NORMAL", "FULL"]
    with Store.open(tmp_path / "run", synchronous="FULL") as store:
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with pytest.raises(StoreError, match="synchronous"):
        Store.open(tmp_path / "run", synchronous="OFF")


# ------------------------------------------------------------------- credentials in base_url

URL_SECRET = "pw-SENTINEL-5f4e3d2c1b"


def _files_without(run_dir: Path, secret: str) -> None:
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_credentials_in_a_base_url_are_masked_in_everything_stored_and_printed(chat_server_factory, tmp_path):
    from rich.console import Console

    from silspec.plan.serialize import plan_to_json
    from silspec.run.manifest import collect_manifest
    from silspec.run.progress import QuietListener, print_summary

    server = chat_server_factory()
    good_url = server.url.replace("http://", f"http://alice:{URL_SECRET}@")
    bad_url = f"http://alice:{URL_SECRET}@127.0.0.1:9/v1"  # nothing listens: connection errors
    items = [fk.item("Q1")]
    models = [fk.model("good", "openai", base_url=good_url, backoff=FAST),
              fk.model("bad", "openai", base_url=bad_url, backoff=FAST, retries=1)]
    requests = (fk.requests_for("a", "good", items, 3, backend="openai")
                + fk.requests_for("b", "bad", items, 3, backend="openai"))
    plan = fk.plan(models, {"a": ("good", PARSER), "b": ("bad", PARSER)}, items, requests)
    console = Console(record=True, width=200)
    summary = run_plan(plan, tmp_path / "run", env={}, listener=QuietListener(console))
    print_summary(summary, console)
    by_name = {c.condition: c for c in summary.conditions}
    assert by_name["a"].ok == 3 and by_name["b"].stored_errors == 3
    _files_without(tmp_path / "run", URL_SECRET)
    assert URL_SECRET not in console.export_text()
    header = (tmp_path / "run" / "plan_header.json").read_text(encoding="utf-8")
    assert "http://***@127.0.0.1:9/v1" in header
    assert URL_SECRET not in plan_to_json(plan) and "alice" not in plan_to_json(plan)
    manifest = collect_manifest(spec_path="x.sil", spec_hash=None, plan_hash=None, n_requests=0,
                                overrides=(("model.m.base_url", bad_url),),
                                argv=("run", "x.sil", "--set", f"model.m.base_url={bad_url}"))
    assert URL_SECRET not in repr(manifest) and "http://***@127.0.0.1:9/v1" in manifest.argv[-1]


def test_the_progress_display_shows_and_clears_a_models_status():
    from rich.console import Console

    from silspec.run.progress import RichProgress

    progress = RichProgress(Console(record=True, width=160))
    progress.on_start({"c": 2, "d": 1}, {"c": 2, "d": 1})
    progress.on_status("m", ["c"], "waiting 20 s: rate limited")
    fields = {t.description: t.fields["status"] for t in progress._progress.tasks}
    assert fields == {"c": "waiting 20 s: rate limited", "d": ""}
    progress.on_status("m", ["c"], None)
    assert all(t.fields["status"] == "" for t in progress._progress.tasks)
    progress.on_finish()


def test_a_listener_that_raises_after_storing_is_a_warning_and_the_run_goes_on(tmp_path):
    class Raising(RunListener):
        def __init__(self):
            self.calls, self.warnings = 0, []

        def on_answer(self, record):
            self.calls += 1
            if self.calls % 3 == 0:
                raise RuntimeError("display broke")

        def on_warning(self, message):
            self.warnings.append(message)

    backend, log, _ = fk.scripted_backend()
    items = [fk.item("Q1")]
    requests = fk.requests_for("c", "m", items, 9)
    plan = fk.plan([fk.model("m", backend, concurrency=1)], {"c": ("m", PARSER)}, items, requests)
    listener = Raising()
    with Store.open(tmp_path / "run") as store:
        report = execute(plan, store, listener=listener)
        assert store.count_answers() == 9 and report.errors == 0
    assert len(log) == 9
    assert len(listener.warnings) == 3
    assert all("internal error: RuntimeError: display broke (after its answer was stored)" in w
               for w in listener.warnings)


def test_an_option_probs_answer_without_probabilities_is_an_error_whatever_the_backend(tmp_path):
    # Decided by the one answer model (silspec.answers) for hf, replay, any backend.
    if not ANSWER_MODEL:
        pytest.skip("decided by the one answer model (silspec/answers), not in this tree")
    backend, log, _ = fk.scripted_backend(
        lambda r, a: BackendAnswer(text="3", option_probs=None, valid_mass=0.0,
                                   meta={"note": "no probability on any option token"}))
    items = [fk.item("Q1")]
    requests = fk.requests_for("c", "m", items, 3)
    plan = fk.plan([fk.model("m", backend)], {"c": ("m", PARSER)}, items, requests)
    plan = attrs.evolve(plan, requests=tuple(attrs.evolve(r, answers="option_probs") for r in plan.requests))
    with Store.open(tmp_path / "run") as store:
        report = execute(plan, store)
        rows = list(store.iter_answers())
    assert report.errors == 3 and len(log) == 3
    assert all(a.outcome == "error" and a.parsed_code is None and not a.defaulted
               and "the endpoint returned no log-probabilities (no probability on any option token)" in a.error
               for a in rows)


def test_a_store_that_cannot_even_be_read_after_failing_still_gives_a_summary(chat_server_factory, tmp_path, monkeypatch):
    server = chat_server_factory()
    plan = server_plan(server, personas=10, concurrency=1)
    run_dir = tmp_path / "run"
    listener = _Counting(4, lambda: (run_dir / STORE_FILE).unlink())

    def unreadable(self):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(Store, "outcomes", unreadable)
    summary = run_plan(plan, run_dir, env={"K": "x"}, listener=listener)
    assert "deleted" in summary.store_failure and summary.exit_code == 1
    assert sum(c.ok for c in summary.conditions) == 4 and summary.missing == 16


def test_the_cli_runs_durable_and_says_so_in_the_manifest(chat_server_factory, tmp_path):
    pytest.importorskip("silspec.spec.load")
    server = chat_server_factory()
    spec = tmp_path / "mini.sil"
    spec.write_text(MINI_SPEC.replace("BASE_URL", server.url), encoding="utf-8")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "silspec.cli.main", "run", str(spec), "--out", str(out), "--quiet",
           "--no-report", "--durable"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    with Store.open(out, create=False) as store:
        (manifest,) = store.manifests()
    assert manifest["synchronous"] == "FULL" and "--durable" in manifest["argv"]


def test_the_cli_shows_a_store_failure_loudly_and_exits_1(tmp_path, monkeypatch, capsys):
    pytest.importorskip("silspec.spec.load")
    from silspec.cli.main import main
    from silspec.run import runner

    spec = tmp_path / "mini.sil"
    spec.write_text(MINI_SPEC.replace("BASE_URL", "http://127.0.0.1:9/v1"), encoding="utf-8")
    real_run_plan = runner.run_plan

    def failing_store(plan, run_dir, **kwargs):
        summary = real_run_plan(plan, run_dir, **kwargs)
        return attrs.evolve(summary, store_failure="the disk holding store.sqlite is full (0.1 MB free)")

    monkeypatch.setattr(runner, "run_plan", failing_store)
    code = main(["run", str(spec), "--out", str(tmp_path / "run"), "--quiet", "--set", "model.local.retries=0"])
    captured = capsys.readouterr()
    assert code == 1
    assert "the results store failed" in captured.err and "0.1 MB free" in captured.err
    assert "rerun to ask what" in captured.err  # the way out, in the panel


def test_a_really_read_only_store_file_is_refused_before_anything_is_asked(chat_server_factory, tmp_path):
    # As root, chmod does not stop writes; the immutable flag does (skipped where unsupported).
    server = chat_server_factory()
    run_dir = tmp_path / "run"
    Store.open(run_dir).close()
    path = run_dir / STORE_FILE
    flagged = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if flagged.returncode != 0:
        pytest.skip(f"cannot make a read-only file here: {flagged.stderr.strip()}")
    try:
        with pytest.raises(StoreError, match="read-only.*nothing was asked"):
            run_plan(server_plan(server), run_dir, env={"K": "x"})
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)
    assert server.requests() == [] and not (run_dir / "plan_header.json").exists()
