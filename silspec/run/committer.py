"""Group commit: the answers that arrive in one event-loop turn are committed in one transaction.

Why: at concurrency 100 against a fast server ~20 replies arrive per turn of the event loop,
and a SQLite commit per answer was the largest single cost of a run (~22 % of its CPU, the loop
blocked on each WAL write). Committed together they cost less than half as much per answer.

What does not change (``docs/design/store.md``):

- An answer counts as stored (progress, tallies, ``RunListener.on_answer``) only once its
  transaction has committed, and a worker moves on only then.
- Each answer is all or nothing with its attempts (a savepoint inside the batch).
- A store failure stops the run at the answer that met it: the answers before it in the batch
  are committed, it and every later one are not written (``StoreFailure`` to each of their
  workers, which skip their requests with it), exactly as when each answer was committed alone.
  If SQLite rolled the whole batch back (a full disk can), the answers before the failing one
  are written again one at a time.
- An error about one record (a value SQLite cannot bind) costs that answer only.
- A worker cancelled while its answer waits (Ctrl-C) does not lose it: the answer is committed
  and counted at the next flush or at ``drain``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from attrs import define

from silspec.run.records import AnswerRecord, AttemptRecord
from silspec.run.store import StoreFailure


@define
class _Job:
    record: AnswerRecord
    attempt: AttemptRecord | None
    on_kept: Callable[[], None]  # counts the answer as stored: runs right after its commit
    future: asyncio.Future[None] | None = None
    error: BaseException | None = None


class Committer:
    """Coalesces answer writes into one transaction per event-loop turn.

    ``store`` is the executor's guarded store (``silspec.run.executor.GuardedStore``): its errors
    arrive as ``StoreFailure``. A store without batches (a test double) gets its answers one at a
    time, in the same order. ``orphaned`` hears the errors no worker is left to raise (its worker
    was cancelled while the answer waited): a store failure, a listener that raised.
    """

    def __init__(self, store: Any, orphaned: Callable[[AnswerRecord, BaseException], None]):
        self._store = store
        self._orphaned = orphaned
        self._jobs: list[_Job] = []
        self._scheduled: asyncio.Handle | None = None
        self._failure: StoreFailure | None = None  # after a store failure nothing more is written

    async def keep(self, record: AnswerRecord, attempt: AttemptRecord | None,
                   on_kept: Callable[[], None]) -> None:
        """Store ``record`` (with ``attempt``, the call that produced it) in this turn's
        transaction; return once it is committed and counted. Raises what storing it raised."""
        loop = asyncio.get_running_loop()
        job = _Job(record, attempt, on_kept, loop.create_future())
        self._jobs.append(job)
        if self._scheduled is None:
            self._scheduled = loop.call_soon(self.drain)
        await job.future  # type: ignore[misc]

    def keep_now(self, record: AnswerRecord, attempt: AttemptRecord | None,
                 on_kept: Callable[[], None]) -> None:
        """Store ``record`` now, after what is waiting (the order rows arrive in is kept)."""
        self.drain()
        job = _Job(record, attempt, on_kept)
        self._flush([job])
        if job.error is not None:
            raise job.error

    def drain(self) -> None:
        """Commit every waiting answer now (the end of a run, before its report is built)."""
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        while self._jobs:
            jobs, self._jobs = self._jobs, []
            self._flush(jobs)

    # ------------------------------------------------------------------------- writing

    def _flush(self, jobs: list[_Job]) -> None:
        if self._failure is not None:
            for job in jobs:
                job.error = self._failure
        elif len(jobs) > 1 and self._store.batches:
            self._write_batch(jobs)
        else:
            self._write_one_by_one(jobs)
        if self._failure is None and any(job.error is None for job in jobs):
            try:  # a deleted file takes writes silently: what went to it is not stored
                self._store.check()
            except StoreFailure as failure:
                self._fail(jobs, 0, failure)
        for job in jobs:
            self._settle(job)

    def _write_batch(self, jobs: list[_Job]) -> None:
        kept: list[_Job] = []
        try:
            self._store.open_batch()
        except StoreFailure as failure:
            self._fail(jobs, 0, failure)
            return
        for index, job in enumerate(jobs):
            if self._write(job):
                kept.append(job)
            elif isinstance(job.error, StoreFailure):
                self._fail(jobs, index, job.error)
                break
        try:
            self._store.close_batch()
        except StoreFailure:  # nothing of the batch is stored: what had been written, one by one
            self._write_one_by_one(kept)

    def _write_one_by_one(self, jobs: list[_Job]) -> None:
        for index, job in enumerate(jobs):
            job.error = None
            self._write(job)
            if isinstance(job.error, StoreFailure):
                self._fail(jobs, index, job.error)
                return

    def _write(self, job: _Job) -> bool:
        """Write one answer with its attempt; False (and ``job.error``) when it failed."""
        try:
            if job.attempt is not None:
                self._store.defer_attempt(job.attempt)
            self._store.write_answer(job.record)
        except Exception as exc:  # noqa: BLE001 - the job's worker raises it (StoreFailure: the run stops)
            job.error = exc
            return False
        return True

    def _fail(self, jobs: list[_Job], start: int, failure: StoreFailure) -> None:
        """``jobs[start:]`` are not stored: the first failure stops every write after it."""
        self._failure = self._failure or failure
        for job in jobs[start:]:
            if job.error is None or not isinstance(job.error, StoreFailure):
                job.error = failure

    def _settle(self, job: _Job) -> None:
        if job.error is None:
            try:
                job.on_kept()
            except Exception as exc:  # noqa: BLE001 - a listener's error goes to the worker
                job.error = exc
        future = job.future
        if future is None:  # ``keep_now``: its caller raises the error
            return
        if future.done():  # its worker was cancelled while the answer waited
            if job.error is not None:
                self._orphaned(job.record, job.error)
            return
        if job.error is None:
            future.set_result(None)
        else:
            future.set_exception(job.error)
