"""Group commit (issue 11): the answers of one event-loop turn share one transaction, and
nothing about what counts as stored changes (``silspec.run.committer``)."""

from __future__ import annotations

import asyncio
import random
import sqlite3

import pytest

from silspec.run.committer import Committer
from silspec.run.executor import Executor, GuardedStore, RunListener
from silspec.run.records import AttemptRecord
from silspec.run.store import Store, StoreFailure
from silspec.spec.model import Parser

from tests.run import _fakes as fk
from tests.run.test_store import answer

PARSER = Parser("first", on_error="midpoint")


def _commits(store: Store) -> list[str]:
    """Every COMMIT the store's connection runs from now on (SQLite's own statement trace)."""
    seen: list[str] = []
    store._db.set_trace_callback(lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None)
    return seen


def _attempt(rid: str) -> AttemptRecord:
    return AttemptRecord(rid, 1, "3", None, None, 0.1, "2026-01-01T00:00:00.000+00:00")


def _stored(store: Store) -> dict[str, int]:
    return {row[0]: row[1] for row in store._db.execute(
        "SELECT a.request_id, (SELECT COUNT(*) FROM attempts t WHERE t.request_id = a.request_id)"
        " FROM answers a")}


# ------------------------------------------------------------------------------ the store's batch


def test_a_batch_commits_its_answers_and_their_attempts_in_one_transaction(tmp_path):
    with Store.open(tmp_path) as store:
        commits = _commits(store)
        store.open_batch()
        for rid in ("a", "b", "c"):
            store.defer_attempt(_attempt(rid))
            store.record_answer(answer(rid))
        assert _stored(Store.open(tmp_path, create=False)) == {}  # nothing visible before the commit
        store.close_batch()
        assert commits == ["COMMIT"]
        assert _stored(store) == {"a": 1, "b": 1, "c": 1}


def test_a_record_that_cannot_be_bound_costs_only_itself_and_its_attempt(tmp_path):
    with Store.open(tmp_path) as store:
        store.open_batch()
        store.defer_attempt(_attempt("a"))
        store.record_answer(answer("a"))
        store.defer_attempt(_attempt("bad"))
        with pytest.raises(sqlite3.ProgrammingError):
            store.record_answer(answer("bad", persona=object()))  # type: ignore[arg-type]
        store.record_answer(answer("c"))  # takes the attempt the failed one left deferred
        store.close_batch()
        assert set(_stored(store)) == {"a", "c"}
        assert store._db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 2


def test_close_batch_says_when_sqlite_rolled_the_whole_batch_back(tmp_path):
    with Store.open(tmp_path) as store:
        store.open_batch()
        store.record_answer(answer("a"))
        store._db.execute("ROLLBACK")  # what SQLite does itself on some errors (a full disk)
        with pytest.raises(sqlite3.OperationalError, match="rolled back"):
            store.close_batch()
        assert _stored(store) == {}
        store.record_answer(answer("b"))  # the store goes on outside a batch
        assert set(_stored(store)) == {"b"}


def test_a_second_batch_cannot_open_inside_the_first(tmp_path):
    with Store.open(tmp_path) as store:
        store.open_batch()
        with pytest.raises(RuntimeError, match="already open"):
            store.open_batch()
        store.close_batch(commit=False)


# ------------------------------------------------------------------------------ the committer


def _committer(store, orphaned=None):
    seen: list[tuple[str, BaseException]] = []
    committer = Committer(GuardedStore(store), orphaned or (lambda record, error: seen.append((record.request_id, error))))
    return committer, seen


def test_the_answers_of_one_turn_share_one_commit_and_count_only_after_it(tmp_path):
    with Store.open(tmp_path) as store:
        commits = _commits(store)
        committer, _ = _committer(store)
        counted: list[str] = []

        async def main():
            await asyncio.gather(*(
                committer.keep(answer(f"r{i}"), _attempt(f"r{i}"),
                               lambda i=i: counted.append((f"r{i}", len(commits))))
                for i in range(5)))

        asyncio.run(main())
        assert commits == ["COMMIT"]
        assert counted == [(f"r{i}", 1) for i in range(5)]  # each counted after the one commit
        assert _stored(store) == {f"r{i}": 1 for i in range(5)}


def test_a_store_failure_mid_batch_keeps_the_answers_before_it_and_writes_nothing_after(tmp_path):
    class FailsOnThird:
        def __init__(self, store):
            self._store, self.writes = store, 0

        def __getattr__(self, name):
            return getattr(self._store, name)

        def record_answer(self, record):
            self.writes += 1
            if self.writes == 3:
                raise sqlite3.OperationalError("database or disk is full")
            self._store.record_answer(record)

    with Store.open(tmp_path) as real:
        wrapped = FailsOnThird(real)
        committer, _ = _committer(wrapped)
        outcomes: dict[str, str] = {}

        async def keep(rid):
            try:
                await committer.keep(answer(rid), _attempt(rid), lambda: None)
                outcomes[rid] = "stored"
            except StoreFailure as failure:
                outcomes[rid] = str(failure)

        async def main():
            await asyncio.gather(*(keep(f"r{i}") for i in range(5)))
            await keep("later")  # a later turn: nothing more is written

        asyncio.run(main())
        assert _stored(real) == {"r0": 1, "r1": 1}
        assert [outcomes[f"r{i}"] for i in range(2)] == ["stored", "stored"]
        assert all("disk is full" in outcomes[rid] for rid in ("r2", "r3", "r4", "later"))
        assert wrapped.writes == 3  # none tried after the failure


def test_a_batch_whose_commit_fails_is_written_again_one_answer_at_a_time(tmp_path):
    class CommitFailsOnce:
        def __init__(self, store):
            self._store, self.failed = store, False

        def __getattr__(self, name):
            return getattr(self._store, name)

        def close_batch(self):
            if not self.failed:
                self.failed = True
                self._store.close_batch(commit=False)
                raise sqlite3.OperationalError("disk I/O error")
            self._store.close_batch()

    with Store.open(tmp_path) as real:
        committer, _ = _committer(CommitFailsOnce(real))
        counted: list[str] = []

        async def main():
            await asyncio.gather(*(committer.keep(answer(f"r{i}"), _attempt(f"r{i}"),
                                                  lambda i=i: counted.append(f"r{i}")) for i in range(4)))

        asyncio.run(main())
        assert _stored(real) == {f"r{i}": 1 for i in range(4)}  # each once, with its attempt
        assert counted == [f"r{i}" for i in range(4)]


def test_an_answer_whose_worker_is_cancelled_while_it_waits_is_still_stored_and_counted(tmp_path):
    with Store.open(tmp_path) as store:
        committer, _ = _committer(store)
        counted: list[str] = []

        async def main():
            task = asyncio.create_task(committer.keep(answer("r1"), _attempt("r1"), lambda: counted.append("r1")))
            await asyncio.sleep(0)  # the job waits for the flush
            task.cancel()  # Ctrl-C, before the flush has run
            committer.drain()  # the run's end: before its report, no turn of the loop needed
            assert _stored(store) == {"r1": 1} and counted == ["r1"]
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        assert _stored(store) == {"r1": 1} and counted == ["r1"]


def test_a_listener_error_for_a_cancelled_worker_is_reported_not_lost(tmp_path):
    with Store.open(tmp_path) as store:
        committer, orphaned = _committer(store)

        def boom():
            raise ValueError("listener broke")

        async def main():
            task = asyncio.create_task(committer.keep(answer("r1"), None, boom))
            await asyncio.sleep(0)
            task.cancel()
            committer.drain()

        asyncio.run(main())
        assert [(rid, str(error)) for rid, error in orphaned] == [("r1", "listener broke")]
        assert set(_stored(store)) == {"r1"}


# ------------------------------------------------------------------------------ in a run


class _Answers(RunListener):
    def __init__(self):
        self.ids: list[str] = []

    def on_answer(self, record):
        self.ids.append(record.request_id)


def _execute(plan, store, listener):
    executor = Executor(models=plan.header.models, conditions=plan.header.conditions, items=plan.header.items,
                        store=store, env={}, listener=listener, rng=random.Random(0))
    return asyncio.run(executor.execute(plan.requests))


def test_a_run_at_concurrency_ten_commits_far_fewer_times_than_it_stores_answers(tmp_path):
    backend, log, _ = fk.scripted_backend(delay_s=0.001)
    items = [fk.item("Q1"), fk.item("Q2")]
    requests = fk.requests_for("c", "m", items, 50)
    plan = fk.plan([fk.model("m", backend, concurrency=10)], {"c": ("m", PARSER)}, items, requests)
    listener = _Answers()
    with Store.open(tmp_path) as store:
        commits = _commits(store)
        report = _execute(plan, store, listener)
        stored = _stored(store)
    assert report.counts["c"].ok == 100 and len(stored) == 100
    assert set(stored.values()) == {1}  # every answer with its one attempt
    assert sorted(listener.ids) == sorted(stored)
    assert len(commits) < 60  # one per answer before: 100


def test_a_full_database_at_concurrency_four_counts_exactly_what_is_stored(tmp_path):
    backend, log, _ = fk.scripted_backend(delay_s=0.001)
    items = [fk.item("Q1")]
    requests = fk.requests_for("c", "m", items, 40)
    plan = fk.plan([fk.model("m", backend, concurrency=4)], {"c": ("m", PARSER)}, items, requests)

    class FillAfter(_Answers):
        def __init__(self, store):
            super().__init__()
            self.store = store

        def on_answer(self, record):
            super().on_answer(record)
            if len(self.ids) == 6:  # a real SQLITE_FULL: the page limit is the file's current size
                pages = self.store._db.execute("PRAGMA page_count").fetchone()[0]
                self.store._db.execute(f"PRAGMA max_page_count={pages}")

    with Store.open(tmp_path) as store:
        listener = FillAfter(store)
        report = _execute(plan, store, listener)
    stored = _stored(Store.open(tmp_path, create=False))
    assert report.store_failure and "disk is full" in report.store_failure
    assert 6 <= len(stored) < 40
    assert report.counts["c"].ok == len(stored) and sorted(listener.ids) == sorted(stored)
    assert report.skipped == 40 - len(stored)
