"""The async executor: ask every pending request once, keep every answer the moment it arrives.

Per model ("lane"): a pool of ``concurrency`` workers pulling from the model's queue, a pacer
(start gap, rpm, tpm), a per-call timeout on top of the backend's own, and retries with
exponential backoff and full jitter that never wait less than a server's ``Retry-After``.

Failure rules (``docs/design/store.md`` explains them with the resume protocol):

- ``TransientError`` / timeout: retried up to ``PlanModel.retries`` times, then stored with
  outcome ``error`` (a rerun with ``--retry-errors`` asks it again).
- ``PermanentError`` with status 401 or 403 (auth): the *model* stops. The request and every
  request left in its queue are skipped, not stored, so a rerun with a fixed key asks them.
  Other models go on.
- Any other ``PermanentError`` (400 for one request, a missing replay row) is about the
  request: stored with outcome ``error``, the model goes on. An unexpected exception from a
  backend is a bug and is treated the same way. ``CONSECUTIVE_PERMANENT_LIMIT`` such errors in a
  row stop the model too (a wrong model id fails every request; there is no point in asking
  50,000 times).
- Preflight: before asking anything, each model's backend gets ``preflight(requests)`` when it
  has the hook (``run_preflight``); problems stop that model (its requests are left unasked and
  its message lists the problems; ``ExecutionReport.preflight`` keeps them). Other models go on.
- A parse failure is never transient: an invalid answer is stored as it came, except that a
  parser with ``on_invalid = reask`` re-asks up to ``reask`` times (every attempt recorded).
- ``ReplyError`` (a reply that is not an answer: no text, a refusal, a content filter, no
  log-probabilities, fields of the wrong type) is a permanent error of the request, stored with
  its ``reason`` in ``meta.error_reason``; refusals and filters do not count towards the
  consecutive-error stop.
- Any other exception inside a worker (a bug, a listener that raises) becomes an error row for
  the request it was handling, with the exception's class and message; the worker goes on.
- A store failure (disk full, read-only, the file deleted: ``StoreFailure``) stops every model
  at once; ``ExecutionReport.store_failure`` says why. Before each call the store is checked
  (``Store.check_writable``), so no request is sent while its answer could not be kept.
- ``Retry-After`` never makes a wait longer than the model's backoff maximum (a date years
  ahead would freeze every worker); a capped wait is a warning, a long one shows in progress.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections import deque
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence

from attrs import define, field, frozen

from silspec.answers import Reply, Verdict, score, scorer_hash, wants_reask
from silspec.plan.model import PlanCondition, PlanItem, PlanModel, Request, request_params
from silspec.plan.redact import mask_url_credentials, url_secrets
from silspec.run.backends.base import (
    BackendAnswer, BackendError, PermanentError, ReplyError, TransientError, run_preflight,
)
from silspec.run.committer import Committer
from silspec.run.ratelimit import Pacer
from silspec.run.records import AnswerRecord, AttemptRecord
from silspec.run.store import StoreFailure, describe_sqlite_error
from silspec.spec.model import Backoff

AUTH_STATUSES = frozenset({401, 403})
CONSECUTIVE_PERMANENT_LIMIT = 20
# A retry wait at least this long is shown in the progress display ("waiting 20 s: rate limited").
LONG_WAIT_S = 2.0


# ----------------------------------------------------------------------------- listening


class RunListener:
    """What the executor tells the outside world (progress bars, logs). Every method optional."""

    def on_start(self, totals: Mapping[str, int], pending: Mapping[str, int]) -> None: ...

    def on_answer(self, record: AnswerRecord) -> None: ...

    def on_retry(self, request: Request, attempt: int, error: str, wait_s: float) -> None: ...

    def on_skipped(self, request: Request, reason: str) -> None: ...

    def on_model_stopped(self, model: str, message: str) -> None: ...

    def on_warning(self, message: str) -> None: ...

    def on_status(self, model: str, conditions: Sequence[str], text: str | None) -> None:
        """What a model is doing when it is not answering ("loading ...", "waiting 20 s: rate
        limited"); None clears it. ``conditions`` are the model's conditions in this run."""

    def on_finish(self) -> None: ...


@define
class Tally:
    """What one condition's answers came to in this invocation (the executor's and the Ray
    driver's counts, so both summarise a run the same way)."""

    ok: int = 0  # outcome answered
    invalid: int = 0  # outcome invalid or refused (a reply without an answer)
    errors: int = 0
    skipped: int = 0

    def count(self, outcome: str) -> None:
        if outcome == "error":
            self.errors += 1
        elif outcome in ("invalid", "refused"):
            self.invalid += 1
        else:
            self.ok += 1


@frozen
class ConditionCounts:
    pending: int  # asked for in this invocation
    ok: int
    invalid: int
    errors: int
    skipped: int


@frozen
class ExecutionReport:
    counts: dict[str, ConditionCounts]
    stopped_models: dict[str, str]  # model -> why
    warnings: tuple[str, ...]
    interrupted: bool
    preflight: dict[str, tuple[str, ...]] = field(factory=dict)  # model -> problems that stopped it before asking
    store_failure: str | None = None  # why the store stopped the run (disk full, read-only, deleted)

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.counts.values())

    @property
    def skipped(self) -> int:
        return sum(c.skipped for c in self.counts.values())


class ModelStopped(Exception):
    """Raised inside a lane when its model must stop (auth failure, a run of permanent errors)."""


# ---------------------------------------------------------------------------- helpers


def backoff_delay(
    retry_number: int,
    backoff: Backoff,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds before retry ``retry_number`` (1-based): full jitter, at least the server's
    Retry-After, never more than ``backoff.max_s``.

    ``cap = min(max_s, base * 2**(n-1))``; with jitter the wait is uniform in ``[0, cap]``
    (AWS's "full jitter": retries of many clients spread out instead of colliding). A
    Retry-After beyond ``max_s`` (an HTTP date in 2099) is cut to ``max_s``: the retry then
    meets the limit again and uses up a retry, which ends in a stored error instead of a
    worker asleep for decades.
    """
    cap = min(backoff.max_s, backoff.base * 2 ** (retry_number - 1))
    delay = (rng or random).uniform(0.0, cap) if backoff.jitter else cap
    if retry_after is not None and retry_after > delay:
        delay = min(float(retry_after), float(backoff.max_s))
    return delay


def estimated_tokens(request: Request, params: Mapping[str, Any]) -> int:
    """A cheap upper-ish estimate for tpm pacing: UTF-8 bytes / 4 plus the completion budget."""
    prompt = sum(len(m.content.encode("utf-8")) for m in request.messages) // 4 + 1
    completion = params.get("max_completion_tokens") or params.get("max_tokens") or 0
    return prompt + int(completion)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Redactor:
    """Removes secret values (API keys, credentials inside URLs) from any text before it is
    stored or shown."""

    def __init__(self, secrets: Iterable[str]):
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        text = mask_url_credentials(text) or ""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


_END = object()


class _Feed:
    """A lane's queue: requests pulled one at a time from an iterable (a tuple, or a stream that
    compiles them and checks the store as they are pulled), with the deque operations the
    workers use. ``len`` is the count the caller gave less what was taken (an estimate: it sizes
    the worker pool); emptiness is exact (one request looked ahead)."""

    def __init__(self, requests: Iterable[Request], count: int):
        self._iter: Iterator[Request] = iter(requests)
        self._next: Any = _END
        self._left = count

    def __bool__(self) -> bool:
        if self._next is _END:
            try:
                self._next = next(self._iter, _END)
            except sqlite3.Error as exc:  # the stream's look-up of stored answers failed
                self.clear()
                raise StoreFailure(f"the results store cannot be read: {describe_sqlite_error(exc)}") from exc
        return self._next is not _END

    def __len__(self) -> int:
        return max(self._left, 1) if self else 0

    def popleft(self) -> Request:
        if not self:
            raise IndexError("pop from an empty queue")
        request, self._next = self._next, _END
        self._left -= 1
        return request

    def take(self, n: int) -> list[Request]:
        """Up to ``n`` requests (fewer at the end)."""
        batch = []
        while len(batch) < n and self:
            batch.append(self.popleft())
        return batch

    def clear(self) -> None:
        self._iter, self._next, self._left = iter(()), _END, 0


@define
class _Lane:
    model: PlanModel
    backend: Any
    pacer: Pacer
    queue: _Feed
    stopped: str | None = None
    consecutive_permanent: int = 0
    provider_seen: dict[str, set[str]] = field(factory=lambda: {"model": set(), "fp": set()})
    waiting: int = 0  # workers of this lane sleeping before a retry
    capped_warned: bool = False

    @property
    def call_timeout_s(self) -> float | None:
        """The per-call timeout: the backend's own choice when it has one (``hf``: none unless
        the spec sets ``timeout``), else the model's."""
        return getattr(self.backend, "call_timeout_s", self.model.timeout_s)

    @property
    def paced(self) -> bool:
        """Whether the pacer can make a call wait (a start gap, rpm or tpm is set)."""
        return bool(self.model.delay_s or self.model.rpm or self.model.tpm)

    @property
    def max_batch(self) -> int:
        if hasattr(self.backend, "answer_batch"):
            return max(1, int(getattr(self.backend, "max_batch", 1) or 1))
        return 1


# --------------------------------------------------------------------------- executor


class Executor:
    """Runs requests against backends into a store. One instance per invocation."""

    def __init__(
        self,
        *,
        models: Mapping[str, PlanModel],
        conditions: Mapping[str, PlanCondition],
        items: Mapping[str, PlanItem],
        store: Any,
        env: Mapping[str, str],
        listener: RunListener | None = None,
        backend_factory: Callable[[str], Any] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ):
        if backend_factory is None:
            from silspec.run.backends.registry import get_backend

            backend_factory = get_backend
        self.models = dict(models)
        self.conditions = dict(conditions)
        self.items = dict(items)
        self.store = _GuardedStore(store)
        self.env = env
        self.listener = listener or RunListener()
        self._backend_factory = backend_factory
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._redact = Redactor(
            [env.get(m.api_key_env, "") for m in models.values() if m.api_key_env]
            + [s for m in models.values() for s in url_secrets(m.base_url)]
        )
        self._tallies: dict[str, Tally] = {}
        self._pending: dict[str, int] = {}
        self._preflight: dict[str, tuple[str, ...]] = {}
        self._stopped: dict[str, str] = {}
        self._warnings: list[str] = []
        self._workers: list[asyncio.Task[None]] = []
        self._interrupted = False
        self._done: set[str] = set()  # ids of the batches in hand stored during this invocation
        # (condition, item, answers, codes, tokens) -> what scoring reads that does not depend on
        # the reply: the aligned option tokens, whether they differ from the codes, the scorer
        # hash. A run has a handful of these; computing them per answer was ~5 % of its CPU.
        self._scoring: dict[tuple[Any, ...], tuple[tuple[str, ...] | None, bool, str]] = {}
        self._store_failure: str | None = None
        self._lanes: dict[str, _Lane] = {}
        self._committer = Committer(self.store, self._orphaned)

    # ------------------------------------------------------------------------ public

    def stop(self) -> None:
        """Ctrl-C: stop scheduling and cancel in-flight calls; stored answers stay stored."""
        self._interrupted = True
        for task in self._workers:
            task.cancel()

    async def execute(self, requests: Sequence[Request], totals: Mapping[str, int] | None = None) -> ExecutionReport:
        """Ask ``requests`` (already filtered to what is missing). ``totals`` feed progress only."""
        queues: dict[str, deque[Request]] = {}
        pending: dict[str, int] = {}
        for request in requests:
            queues.setdefault(request.model, deque()).append(request)
            pending[request.condition] = pending.get(request.condition, 0) + 1
        sources = {model: (tuple(queue), len(queue)) for model, queue in queues.items()}
        del queues
        return await self.execute_streams(sources, pending, totals)

    async def execute_streams(
        self,
        sources: Mapping[str, tuple[Iterable[Request], int]],
        pending: Mapping[str, int],
        totals: Mapping[str, int] | None = None,
    ) -> ExecutionReport:
        """Ask the requests of each model: ``sources`` maps a model to (its requests, how many),
        the requests an iterable that each pass reads anew (a tuple, or a stream compiling them
        as they are pulled: a million requests never sit in memory). ``pending``: requests per
        condition (progress and the report's counts); ``totals`` feed progress only."""
        lanes: dict[str, _Lane] = {}
        for condition, count in pending.items():
            self._pending[condition] = self._pending.get(condition, 0) + count
            self._tallies.setdefault(condition, Tally())
        self.listener.on_start(dict(totals or self._pending), dict(self._pending))
        try:
            for model_name, (source, count) in sources.items():
                lane = await self._open_lane(model_name, source, count)
                if lane is not None:
                    lanes[model_name] = lane
            for lane in lanes.values():
                workers = min(max(1, lane.model.concurrency), max(1, len(lane.queue)))
                self._workers += [asyncio.create_task(self._work(lane)) for _ in range(workers)]
            self._lanes = lanes
            if self._workers:
                results = await asyncio.gather(*self._workers, return_exceptions=True)
                crashed = ""
                for result in results:  # _work catches everything; anything here is a bug to show
                    if isinstance(result, Exception):
                        crashed = f"a worker ended with {type(result).__name__}: {self._redact(str(result))}"
                        self._warn(crashed)
                if crashed:  # what no worker was left to ask is named, not left as a silent gap
                    for lane in lanes.values():
                        while lane.queue:
                            self._skip(lane.queue.popleft(), crashed)
                if self._store_failure:
                    for lane in lanes.values():
                        while lane.queue:
                            self._skip(lane.queue.popleft(), self._store_failure)
                if self._interrupted:
                    for lane in lanes.values():
                        lane.queue.clear()
        finally:
            try:  # answers whose workers were cancelled while they waited (Ctrl-C) are kept
                self._committer.drain()
                # an attempt whose answer row could not be written (a bug) is still kept
                self.store.flush_attempts()
            except StoreFailure:
                pass  # the store failed: the run already says so
            for lane in lanes.values():
                await self._close(lane.model, lane.backend)
            self.listener.on_finish()
        return ExecutionReport(
            counts={
                name: ConditionCounts(self._pending.get(name, 0), t.ok, t.invalid, t.errors, t.skipped)
                for name, t in self._tallies.items()
            },
            stopped_models=dict(self._stopped),
            warnings=tuple(self._warnings),
            interrupted=self._interrupted,
            preflight=dict(self._preflight),
            store_failure=self._store_failure,
        )

    # ------------------------------------------------------------------------- lanes

    async def _open_lane(self, model_name: str, source: Iterable[Request], count: int) -> _Lane | None:
        model = self.models.get(model_name)
        queue = _Feed(source, count)
        if model is None:
            self._stop_queue(model_name, queue, f"model {model_name!r} is not in the plan header")
            return None
        try:
            factory = self._backend_factory(model.backend)
            backend = factory(model, env=self.env)
        except Exception as exc:  # noqa: BLE001 - any construction failure stops this model only
            self._stop_queue(model_name, queue, self._stop_message(model, exc, "could not start"))
            return None
        # the requests, not a copy: a stream compiles them again for the preflight's reading
        problems = [self._redact(p) or "" for p in await run_preflight(backend, source)]
        if problems:
            self._preflight[model_name] = tuple(problems)
            lines = "\n".join(f"  - {p}" for p in problems)
            self._stop_queue(model_name, queue,
                             f"model {model.name!r} ({model.backend}) failed its preflight check;"
                             f" nothing was asked:\n{lines}")
            await self._close(model, backend)
            return None
        pacer = Pacer(delay_s=model.delay_s, rpm=model.rpm, tpm=model.tpm)
        lane = _Lane(model=model, backend=backend, pacer=pacer, queue=queue)
        if hasattr(backend, "on_status"):  # e.g. hf says when it is loading its weights
            backend.on_status = lambda text, lane=lane: self._status(lane, text)
        return lane

    def _stop_message(self, model: PlanModel, exc: BaseException, what: str) -> str:
        status = getattr(exc, "status", None)
        text = f"model {model.name!r} ({model.backend}) {what}: {self._redact(str(exc)) or type(exc).__name__}"
        if status in AUTH_STATUSES or isinstance(exc, KeyError) or "key" in str(exc).lower():
            if model.api_key_env:
                text += f" — check the API key in the environment variable {model.api_key_env}"
        return text

    def _stop_queue(self, model_name: str, queue: _Feed, message: str) -> None:
        if model_name not in self._stopped:
            self._stopped[model_name] = message
            self.listener.on_model_stopped(model_name, message)
        while queue:
            self._skip(queue.popleft(), message)

    def _skip(self, request: Request, reason: str) -> None:
        self._tallies.setdefault(request.condition, Tally()).skipped += 1
        self.listener.on_skipped(request, reason)

    async def _close(self, model: PlanModel, backend: Any) -> None:
        try:
            await backend.aclose()
        except Exception as exc:  # noqa: BLE001 - closing must not hide the run's result
            self._warn(f"model {model.name!r}: closing the backend failed: {self._redact(str(exc))}")

    def _warn(self, message: str) -> None:
        self._warnings.append(message)
        self.listener.on_warning(message)

    def _status(self, lane: _Lane, text: str | None) -> None:
        conditions = [name for name, c in self.conditions.items() if c.model == lane.model.name]
        self.listener.on_status(lane.model.name, conditions, text)

    def _fail_store(self, failure: StoreFailure) -> None:
        """The first store failure stops every lane at once; later ones add nothing."""
        if self._store_failure is not None:
            return
        self._store_failure = str(failure)
        self.listener.on_warning(f"the run stops: {failure}")
        for lane in self._lanes.values():
            lane.stopped = lane.stopped or str(failure)
        current = asyncio.current_task()
        for task in self._workers:
            if task is not current:
                task.cancel()

    async def _work(self, lane: _Lane) -> None:
        while True:
            if self._store_failure:
                return
            if lane.stopped:
                self._stop_queue(lane.model.name, lane.queue, lane.stopped)
                return
            try:  # a streamed queue reads the store (what is answered) as it is pulled
                batch = lane.queue.take(lane.max_batch)
            except StoreFailure as failure:
                self._fail_store(failure)
                return
            if not batch:
                return
            try:
                self.store.check()  # never pay for an answer that could not be kept
                if len(batch) == 1 and lane.max_batch == 1:
                    await self._ask(lane, batch[0])
                else:
                    await self._ask_batch(lane, batch)
            except ModelStopped as stop:
                lane.stopped = lane.stopped or str(stop)
                for request in batch:
                    if not self._has_row(request):
                        self._skip(request, lane.stopped)
                self._stop_queue(lane.model.name, lane.queue, lane.stopped)
                return
            except StoreFailure as failure:
                for request in batch:
                    if not self._has_row(request):
                        self._skip(request, str(failure))
                self._fail_store(failure)
                return
            except asyncio.CancelledError:  # another lane's store failure stopped the run: what
                if self._store_failure:      # this worker held is skipped with its reason, not lost
                    for request in batch:
                        if not self._has_row(request):
                            self._skip(request, self._store_failure)
                raise
            except Exception as exc:  # noqa: BLE001 - a bug must cost one request, not a worker
                try:
                    self._store_crash(lane, batch, exc)
                except StoreFailure as failure:
                    self._fail_store(failure)
                    return
            finally:  # ``_done`` answers for the batch in hand only: it never grows with the plan
                self._done.difference_update(r.id for r in batch)

    def _store_crash(self, lane: _Lane, batch: Sequence[Request], exc: Exception) -> None:
        """An unexpected exception while handling ``batch``: an error row for each request of it
        not yet stored, with the exception's class and message (the summary groups them)."""
        text = f"internal error: {type(exc).__name__}: {self._redact(str(exc)) or '(no message)'}"
        if all(self._has_row(r) for r in batch):  # after storing (a listener): the answers stand
            self._warn(f"model {lane.model.name!r}: {text} (after its answer was stored)")
            return
        for request in batch:
            if self._has_row(request):
                continue
            condition = self.conditions.get(request.condition)
            try:
                self._store_now(lane, request, _now(), 1, 0.0, self.items.get(request.item),
                                condition.parser if condition else None, answer=None, error=text,
                                meta={"error_reason": "internal error", "exception": type(exc).__name__})
            except StoreFailure:
                raise
            except Exception as again:  # noqa: BLE001 - even the error row failed: say so, go on
                self._skip(request, text)
                self._warn(f"request {request.id} of {request.condition}: {text}; storing the error"
                           f" failed too ({type(again).__name__}: {self._redact(str(again))})")

    def _has_row(self, request: Request) -> bool:
        return request.id in self._done

    # ------------------------------------------------------------------------ asking

    async def _call(self, lane: _Lane, request: Request) -> BackendAnswer:
        # One turn of the event loop per call (``wait_for``'s task gave one): a backend that never
        # suspends (replay) must not run its lane to the end while the other lanes, the progress
        # display and Ctrl-C wait; the lanes interleave, and rows are stored in the same order.
        await asyncio.sleep(0)
        if lane.paced:  # the pacer may wait: check the store again right before paying
            await lane.pacer.wait(tokens=estimated_tokens(request, lane.model.params) if lane.model.tpm else 0)
            self.store.check()
        # asyncio.timeout, not wait_for: no extra task per call (the same TimeoutError)
        async with asyncio.timeout(lane.call_timeout_s):
            return await lane.backend.answer(request)

    async def _ask_batch(self, lane: _Lane, batch: list[Request]) -> None:
        await asyncio.sleep(0)  # one turn of the event loop per call, as in ``_call``
        tokens = sum(estimated_tokens(r, lane.model.params) for r in batch) if lane.model.tpm else 0
        await lane.pacer.wait(calls=len(batch), tokens=tokens)
        self.store.check()  # the pacer may have waited: check again right before the work
        started = _now()
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(lane.call_timeout_s):
                results: Sequence[BackendAnswer | BackendError] = await lane.backend.answer_batch(batch)
            if len(results) != len(batch):
                raise PermanentError(f"backend returned {len(results)} answers for {len(batch)} requests")
        except (asyncio.CancelledError, ModelStopped, StoreFailure):
            raise
        except BaseException as exc:  # noqa: BLE001 - every request goes on alone from here
            results = [exc] * len(batch)  # type: ignore[list-item]
        latency = (time.monotonic() - t0) / max(1, len(batch))
        for request, result in zip(batch, results):
            await self._ask(lane, request, first=(result, latency, started))

    async def _ask(
        self,
        lane: _Lane,
        request: Request,
        *,
        first: tuple[Any, float, str] | None = None,
    ) -> None:
        """One request to the end: retries, re-asks, and exactly one stored row (or a skip)."""
        model = lane.model
        condition = self.conditions[request.condition]
        parser = condition.parser
        item = self.items.get(request.item)
        started_at = first[2] if first else _now()
        attempt = 0
        retries_used = 0
        reasks_used = 0
        total_latency = 0.0
        while True:
            attempt += 1
            answer: BackendAnswer | None = None
            failure: BaseException | None = None
            if first is not None:
                result, latency, _ = first
                first = None
                if isinstance(result, BackendAnswer):
                    answer = result
                else:
                    failure = result
            else:
                t0 = time.monotonic()
                try:
                    answer = await self._call(lane, request)
                except asyncio.TimeoutError:
                    failure = TransientError(f"timed out after {lane.call_timeout_s:g} s")
                except (asyncio.CancelledError, StoreFailure):
                    raise
                except Exception as exc:  # noqa: BLE001 - classified below
                    failure = exc
                latency = time.monotonic() - t0
            total_latency += latency
            if failure is not None:
                error_text = self._redact(str(failure)) or type(failure).__name__
                if not isinstance(failure, BackendError):
                    error_text = f"{type(failure).__name__}: {error_text}"
                status = getattr(failure, "status", None)
                self.store.record_attempt(
                    AttemptRecord(request.id, attempt, None, error_text, status, latency, _now())
                )
                if isinstance(failure, (TransientError, asyncio.TimeoutError)) and retries_used < model.retries:
                    retries_used += 1
                    await self._wait_to_retry(lane, request, attempt, failure, error_text, retries_used)
                    continue
                if isinstance(failure, PermanentError) and status in AUTH_STATUSES:
                    raise ModelStopped(self._stop_message(model, failure, "stopped"))
                recorded = bool(getattr(failure, "recorded", False))
                if not isinstance(failure, TransientError) and not recorded \
                        and getattr(failure, "counts_against_model", True):
                    lane.consecutive_permanent += 1
                error_meta: dict[str, Any] = {"recorded_error": True} if recorded else {}
                if isinstance(failure, ReplyError):
                    error_meta.update(failure.detail, error_reason=failure.reason)
                elif not isinstance(failure, BackendError):
                    error_meta.update(error_reason="internal error", exception=type(failure).__name__)
                await self._store(lane, request, started_at, attempt, total_latency, item, parser,
                                  answer=None, error=error_text, status=status,
                                  meta=error_meta or None)
                if lane.consecutive_permanent >= CONSECUTIVE_PERMANENT_LIMIT:
                    raise ModelStopped(
                        f"model {model.name!r} stopped after {lane.consecutive_permanent} permanent"
                        f" errors in a row; last: {error_text}"
                    )
                return
            assert answer is not None
            lane.consecutive_permanent = 0
            # committed with the answer row (one transaction), or alone before a re-ask
            tried = AttemptRecord(request.id, attempt, answer.text, None, None, latency, _now())
            parsed = self._parse(request, item, parser, answer)
            if parsed is not None and wants_reask(parsed, parser) and reasks_used < parser.reask:
                reasks_used += 1
                self.store.record_attempt(tried)
                continue
            await self._store(lane, request, started_at, attempt, total_latency, item, parser, answer=answer,
                              verdict=parsed, attempt=tried)
            return

    async def _wait_to_retry(self, lane: _Lane, request: Request, attempt: int, failure: BaseException,
                             error_text: str, retry_number: int) -> None:
        """Sleep before a retry: backoff, Retry-After capped at the backoff maximum, shown when long."""
        backoff = lane.model.backoff
        retry_after = getattr(failure, "retry_after", None)
        wait = backoff_delay(retry_number, backoff, retry_after, self._rng)
        if retry_after is not None and retry_after > backoff.max_s and not lane.capped_warned:
            lane.capped_warned = True
            self._warn(f"model {lane.model.name!r}: the server asked to wait {_duration(retry_after)}"
                       f" (Retry-After); waiting at most the backoff maximum, {backoff.max_s:g} s")
        self.listener.on_retry(request, attempt, error_text, wait)
        long_wait = wait >= LONG_WAIT_S
        if long_wait:
            lane.waiting += 1
            self._status(lane, f"waiting {wait:.0f} s: {_wait_reason(failure)}")
        try:
            await self._sleep(wait)
        finally:
            if long_wait:
                lane.waiting -= 1
                if lane.waiting == 0:
                    self._status(lane, None)

    def _parse(self, request: Request, item: PlanItem | None, parser: Any, answer: BackendAnswer) -> Verdict | None:
        """The verdict on a reply (``silspec.answers.score``, as the analysis would read it)."""
        if item is None:
            return None
        return score(reply_of(answer), answers=request.answers, parser=parser, item=item,
                     option_tokens=self._scoring_of(request, item, parser)[0])

    def _scoring_of(self, request: Request, item: PlanItem, parser: Any) -> tuple[tuple[str, ...] | None, bool, str]:
        """(aligned option tokens, do they differ from the item's codes, scorer hash), computed
        once per condition, item, answer kind and option order (not once per answer)."""
        key = (request.condition, item.id, request.answers, request.option_codes, request.option_tokens)
        known = self._scoring.get(key)
        if known is None:
            tokens = _aligned_tokens(request, item)
            known = self._scoring[key] = (
                tokens,
                tokens is not None and list(tokens) != [str(c) for c in item.codes],
                scorer_hash(answers=request.answers, parser=parser, item=item, option_tokens=tokens),
            )
        return known

    async def _store(self, lane: _Lane, request: Request, *args: Any, attempt: AttemptRecord | None = None,
                     **kwargs: Any) -> None:
        """Store the row of ``request`` with ``attempt`` (the call that produced it) in this
        event-loop turn's transaction (``Committer``); return once it is committed and counted."""
        record = self._record(lane, request, *args, **kwargs)
        await self._committer.keep(record, attempt, lambda: self._kept(record))

    def _store_now(self, lane: _Lane, request: Request, *args: Any, **kwargs: Any) -> None:
        """``_store`` at once, outside the event loop's turn (an internal error's row)."""
        record = self._record(lane, request, *args, **kwargs)
        self._committer.keep_now(record, None, lambda: self._kept(record))

    def _kept(self, record: AnswerRecord) -> None:
        """An answer is committed: it counts (progress, tallies, the listener)."""
        self._done.add(record.request_id)
        self._tallies.setdefault(record.condition, Tally()).count(record.outcome)
        self.listener.on_answer(record)

    def _orphaned(self, record: AnswerRecord, error: BaseException) -> None:
        """An error storing an answer whose worker was cancelled while it waited (Ctrl-C)."""
        if isinstance(error, StoreFailure):
            self._fail_store(error)
        else:
            self._warn(f"request {record.request_id} of {record.condition}: {type(error).__name__}:"
                       f" {self._redact(str(error))} (after its answer was stored)")

    def _record(
        self,
        lane: _Lane,
        request: Request,
        started_at: str,
        attempts: int,
        latency: float,
        item: PlanItem | None,
        parser: Any,
        *,
        answer: BackendAnswer | None,
        error: str | None = None,
        status: int | None = None,
        meta: dict[str, Any] | None = None,
        verdict: Verdict | None = None,
    ) -> AnswerRecord:
        """The row of ``request`` (``verdict``: the answer's, when already scored)."""
        model = lane.model
        tokens, tokens_differ, scorer = self._scoring_of(request, item, parser) if item is not None \
            else (None, False, None)
        if answer is None:
            verdict = (
                score(Reply(failure=error or "the request failed"), answers=request.answers, parser=parser,
                      item=item, option_tokens=tokens)
                if item is not None else Verdict("error", error or "the request failed")
            )
        else:
            verdict = verdict or self._parse(request, item, parser, answer) \
                or Verdict("error", "the item is not in the plan")
            self._watch_provider(lane, answer)
        meta = {**(dict(answer.meta) if answer is not None else {}), **(meta or {})}
        if answer is not None and answer.reasoning:
            meta["reasoning"] = answer.reasoning
        if tokens_differ:
            meta["option_tokens"] = list(tokens)  # type: ignore[arg-type]  # what the verdict was read with (letters)
        text = answer.text if answer is not None else None
        if text is not None and not isinstance(text, str):  # an error verdict says so; keep what came
            meta["text_of_type"] = f"{type(text).__name__}: {text!r:.200}"
            text = None
        record = AnswerRecord(
            request_id=request.id,
            condition=request.condition,
            model=request.model,
            model_id=model.model_id,
            item=request.item,
            persona=request.persona,
            replicate=request.replicate,
            answers=request.answers,
            params=request_params(request, model),
            prompt_hash=request.prompt_hash,
            outcome=verdict.outcome,
            raw_text=text,
            option_probs=dict(answer.option_probs) if answer and answer.option_probs is not None else None,
            valid_mass=answer.valid_mass if answer else None,
            parsed_code=verdict.code,
            defaulted=verdict.defaulted,
            error=error if error is not None else (verdict.reason if verdict.outcome == "error" else None),
            error_status=status,
            reason=verdict.reason,
            probs=dict(verdict.probs) if verdict.probs is not None else None,
            dropped=verdict.dropped,
            scorer=scorer,
            attempts=attempts,
            latency_s=latency,
            prompt_tokens=answer.prompt_tokens if answer else None,
            completion_tokens=answer.completion_tokens if answer else None,
            provider_model=answer.provider_model if answer else None,
            system_fingerprint=answer.system_fingerprint if answer else None,
            country=request.country,
            started_at=started_at,
            finished_at=_now(),
            meta=meta,
        )
        return record

    def _watch_provider(self, lane: _Lane, answer: BackendAnswer) -> None:
        """Warn once per new value when the provider's model or fingerprint changes mid-run."""
        for key, value, label in (
            ("model", answer.provider_model, "model"),
            ("fp", answer.system_fingerprint, "system_fingerprint"),
        ):
            if not value:
                continue
            seen = lane.provider_seen[key]
            if seen and value not in seen:
                self._warn(
                    f"model {lane.model.name!r}: the provider's {label} changed within this run"
                    f" ({', '.join(sorted(seen))} → {value})"
                )
            seen.add(value)


def _wait_reason(failure: BaseException) -> str:
    status = getattr(failure, "status", None)
    if status == 429:
        return "rate limited"
    if status is not None:
        return f"HTTP {status}"
    if isinstance(failure, asyncio.TimeoutError) or "timed out" in str(failure):
        return "timed out"
    return "connection failed" if "connection" in str(failure) else "transient error"


def _duration(seconds: float) -> str:
    if seconds >= 86_400 * 365:
        return f"{seconds / (86_400 * 365.25):,.0f} years"
    if seconds >= 86_400:
        return f"{seconds / 86_400:,.1f} days"
    return f"{seconds:,.0f} s"


class _GuardedStore:
    """The store as the executor writes it: a SQLite or OS error while writing is a
    ``StoreFailure`` (the run stops), and a write that went to a deleted file is caught at once.

    An error about the record itself (a value SQLite cannot bind) stays what it is: the worker
    turns it into an error row for that request.
    """

    def __init__(self, store: Any):
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def check(self) -> None:
        hook = getattr(self._store, "check_writable", None)
        if hook is not None:
            self._guard(hook)

    def record_answer(self, record: AnswerRecord) -> None:
        self._guard(self._store.record_answer, record)
        self.check()  # a deleted file takes writes silently: notice before the next call

    def write_answer(self, record: AnswerRecord) -> None:
        """``record_answer`` without the check after it (``Committer`` checks once per batch)."""
        self._guard(self._store.record_answer, record)

    @property
    def batches(self) -> bool:
        """Can several answers share one transaction (``Store.open_batch``)?"""
        return hasattr(self._store, "open_batch") and hasattr(self._store, "close_batch")

    def open_batch(self) -> None:
        self._guard(self._store.open_batch)

    def close_batch(self) -> None:
        self._guard(self._store.close_batch)

    def record_attempt(self, attempt: AttemptRecord) -> None:
        self._guard(self._store.record_attempt, attempt)

    def defer_attempt(self, attempt: AttemptRecord) -> None:
        """The attempt goes into the next answer's transaction where the store can do that
        (``Store.defer_attempt``), else it is written now."""
        defer = getattr(self._store, "defer_attempt", None)
        if defer is None:
            self.record_attempt(attempt)
        else:
            defer(attempt)

    def flush_attempts(self) -> None:
        flush = getattr(self._store, "flush_attempts", None)
        if flush is not None:
            self._guard(flush)

    @staticmethod
    def _guard(write: Callable[..., Any], *args: Any) -> Any:
        try:
            return write(*args)
        except StoreFailure:
            raise
        except (sqlite3.OperationalError, sqlite3.InternalError, OSError) as exc:
            raise StoreFailure(f"the results store cannot be written: {describe_sqlite_error(exc)}") from exc
        except sqlite3.DatabaseError as exc:
            if type(exc) is sqlite3.DatabaseError:  # "database disk image is malformed"
                raise StoreFailure(f"the results store is damaged: {describe_sqlite_error(exc)}") from exc
            raise


# the guard as other engines write the store with it (silspec.run.ray_engine)
GuardedStore = _GuardedStore


def reply_of(answer: BackendAnswer) -> Reply:
    """What the scorer reads of a backend's answer (the same fields the store keeps)."""
    note = answer.meta.get("note") if answer.meta else None
    return Reply(text=answer.text, option_probs=answer.option_probs, note=note if isinstance(note, str) else None)


def _aligned_tokens(request: Request, item: PlanItem) -> tuple[str, ...] | None:
    """Option tokens in the item's code order (the request may present codes reordered)."""
    if not request.option_tokens or len(request.option_tokens) != len(request.option_codes):
        return None
    by_code = dict(zip(request.option_codes, request.option_tokens))
    if set(by_code) != set(item.codes):
        return None
    return tuple(by_code[c] for c in item.codes)
