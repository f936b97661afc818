"""`silspec run --engine ray`: the pending requests split into shards by request id, each shard
run by the ordinary executor inside a Ray actor, every record streamed back to the one store.

Why this shape (``ARCHITECTURE.md`` § Scale, the second door): request ids are content hashes,
so a shard is a set of ids and nothing about asking them depends on which machine does it.

- **Sharding** (``plan_shards``): a model that lives in the worker's process (``hf``, ``vllm``)
  gets ``workers`` shards, a request going to shard ``sha256(id) mod workers``, in plan order
  within a shard; any other backend (an API lane: ``openai``, ``clova``, ``replay``) gets one
  shard, because its ``concurrency``/``rpm``/``tpm`` are the provider's limits for the whole
  model and splitting the lane would multiply them. Only ids not yet in the store are sharded
  (the runner's ``pending_requests``), so a rerun skips stored ids.
- **Workers** (``ShardWorker``): one actor per shard holds one model or one API lane and runs an
  ``Executor`` on it, so concurrency, pacing, retries, re-asks, preflight, the outcome model and
  scoring are the local executor's own, not a copy. Its store and listener are relays: every
  attempt, answer, skip, retry, warning and status is yielded to the driver as it happens (a
  Ray streaming generator).
- **The driver** (``RayEngine.execute``) writes each record to the one SQLite store the moment
  it arrives, through the same guard as the local executor (a failing store stops the run).
- **A lost worker** (its actor died: the process was killed, its node went away): the shard's
  ids with no answer or skip received yet go to a new actor; a request that was in flight at the
  loss is asked again (its answer never arrived), nothing that arrived is asked again. A shard
  that loses its worker ``max_losses`` times is given up: its unanswered ids are skipped with the
  reason (the summary shows them missing, the exit code is 1, a rerun asks them), and everything
  that arrived stays stored.
- **Keys**: an API key never travels through Ray. A worker reads it from its own environment
  (a local cluster inherits the driver's; on a cluster, export it where ``ray start`` runs).

``ray`` is imported only when this engine runs (``silspec[ray]``); without it ``RayEngine``
raises ``RunSetupError`` saying how to install it, before anything is asked.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import threading
from collections import Counter, deque
from typing import Any, AsyncIterator, Callable, Mapping, Sequence

import attrs
from attrs import define, field, frozen

from silspec.plan.model import PlanCondition, PlanItem, PlanModel, Request
from silspec.run.batch import is_batch_model
from silspec.run.errors import RunSetupError
from silspec.run.executor import (
    ConditionCounts, ExecutionReport, Executor, GuardedStore, RunListener, Tally,
)
from silspec.run.records import AnswerRecord, AttemptRecord
from silspec.run.store import StoreFailure

# Backends whose model lives in the worker process: worth one copy per worker.
MODEL_IN_PROCESS_BACKENDS = frozenset({"hf", "vllm"})
DEFAULT_WORKERS = 2
DEFAULT_MAX_LOSSES = 3
STOP_GRACE_S = 10.0  # Ctrl-C: how long workers may take to send what they have before being killed
RAY_MISSING = ("--engine ray needs Ray, which is not installed: pip install 'silspec[ray]'"
               " (nothing was asked)")


# ----------------------------------------------------------------------------- sharding


@frozen
class Shard:
    """Requests of one model that one worker asks; ``losses``: workers it has lost so far."""

    model: str
    index: int
    of: int
    requests: tuple[Request, ...]
    losses: int = 0

    @property
    def name(self) -> str:
        return f"{self.model} shard {self.index + 1}/{self.of}"


def shard_of(request_id: str, shards: int) -> int:
    """The shard of a request id: stable across runs, machines and Python hash seeds."""
    digest = hashlib.sha256(request_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def plan_shards(requests: Sequence[Request], models: Mapping[str, PlanModel], workers: int) -> list[Shard]:
    """Shards of ``requests`` (already cut to what the store lacks): ``workers`` per in-process
    model, one per API lane; empty shards are left out. Deterministic: same ids, same shards."""
    by_model: dict[str, list[Request]] = {}
    for request in requests:
        by_model.setdefault(request.model, []).append(request)
    shards = []
    for model_name, model_requests in by_model.items():
        model = models.get(model_name)
        count = workers if model is not None and model.backend in MODEL_IN_PROCESS_BACKENDS else 1
        buckets: list[list[Request]] = [[] for _ in range(count)]
        for request in model_requests:
            buckets[shard_of(request.id, count)].append(request)
        shards += [Shard(model_name, i, count, tuple(b)) for i, b in enumerate(buckets) if b]
    return shards


# ------------------------------------------------------------------------------- worker


class _Relay(RunListener):
    """The worker's store and listener at once: every write and event goes on the queue the
    actor's generator yields from, in the order the executor made them."""

    def __init__(self, queue: asyncio.Queue[tuple[Any, ...]]):
        self._queue = queue
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def _put(self, event: tuple[Any, ...]) -> None:
        """Backends may report from a worker thread (a model loading in ``to_thread``)."""
        if threading.get_ident() == self._thread:
            self._queue.put_nowait(event)
        else:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    # the store the executor writes
    def check_writable(self) -> None:
        """The driver owns the store and stops every worker when it fails."""

    def record_attempt(self, attempt: AttemptRecord) -> None:
        self._put(("attempt", attempt))

    def record_answer(self, record: AnswerRecord) -> None:
        self._put(("answer", record))

    # the listener (on_answer is the store write above; on_start/on_finish are the driver's)
    def on_retry(self, request: Request, attempt: int, error: str, wait_s: float) -> None:
        self._put(("retry", request.id, attempt, error, wait_s))

    def on_skipped(self, request: Request, reason: str) -> None:
        self._put(("skip", request.id, reason))

    def on_model_stopped(self, model: str, message: str) -> None:
        self._put(("stopped", model, message))

    def on_warning(self, message: str) -> None:
        self._put(("warning", message))

    def on_status(self, model: str, conditions: Sequence[str], text: str | None) -> None:
        self._put(("status", model, tuple(conditions), text))


class ShardWorker:
    """A Ray actor (wrapped with ``ray.remote`` when the engine starts): one model or one API
    lane, asking one shard through the local executor and yielding what happens as it happens."""

    def __init__(self, model: PlanModel, conditions: Mapping[str, PlanCondition],
                 items: Mapping[str, PlanItem], backend_factory: Callable[[str], Any] | None):
        self._model = model
        self._conditions = dict(conditions)
        self._items = dict(items)
        self._backend_factory = backend_factory
        self._task: asyncio.Task[ExecutionReport] | None = None
        self._stopping = False

    def stop(self) -> None:
        """Ctrl-C on the driver: the run is cancelled (in-flight calls with it, as a local Ctrl-C
        does, loading included); ``run`` then yields what is left and ends, so every answer
        already made reaches the driver."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()

    async def run(self, requests: Sequence[Request]) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Yield lists of events (whatever is ready at once), the executor's report last."""
        queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        relay = _Relay(queue)
        executor = Executor(models={self._model.name: self._model}, conditions=self._conditions,
                            items=self._items, store=relay, env=dict(os.environ), listener=relay,
                            backend_factory=self._backend_factory)
        if self._stopping:
            return
        task = self._task = asyncio.create_task(executor.execute(list(requests)))
        task.add_done_callback(lambda _: queue.put_nowait(("end",)))
        while True:
            events = [await queue.get()]
            while not queue.empty():
                events.append(queue.get_nowait())
            ended = events[-1] == ("end",)
            if ended:
                events.pop()  # a crash of the executor raises here; a stop has no report
                events.append(("report", None if task.cancelled() else task.result()))
            yield events
            if ended:
                return


# ------------------------------------------------------------------------------- driver


@frozen
class RayEngine:
    """Where and how wide a Ray run goes; ``execute`` has the executor's signature and result.

    ``address``: a running cluster (``ray start --head`` prints it; ``auto`` finds a local one);
    None starts a local one for the run (or joins ``RAY_ADDRESS``, as ``ray.init`` does). When
    Ray is already initialised in this process (tests), that session is used and left running.
    """

    address: str | None = None
    workers: int = DEFAULT_WORKERS
    gpus_per_worker: float = 0.0
    max_losses: int = DEFAULT_MAX_LOSSES
    # CPUs an hf/vllm worker reserves; Ray also sets its OMP_NUM_THREADS to this, which is how
    # many threads torch computes with on a CPU
    cpus_per_worker: float = 1.0

    def check(self, models: Mapping[str, PlanModel]) -> None:
        """Refuse what this engine cannot run, before the store is touched."""
        if self.workers < 1:
            raise RunSetupError(f"--workers must be 1 or more, got {self.workers}")
        if self.max_losses < 1:
            raise RunSetupError(f"max_losses must be 1 or more, got {self.max_losses}")
        if self.gpus_per_worker < 0:
            raise RunSetupError(f"--gpus-per-worker must be 0 or more, got {self.gpus_per_worker:g}")
        if self.cpus_per_worker <= 0:
            raise RunSetupError(f"--cpus-per-worker must be more than 0, got {self.cpus_per_worker:g}")
        batch = sorted(m.name for m in models.values() if is_batch_model(m))
        if batch:
            raise RunSetupError(
                f"--engine ray does not run batch = true models ({', '.join(batch)}): the provider's"
                " Batch API already runs them off this machine; run them without --engine ray"
                " (--condition picks the conditions of each)")
        import_ray()

    def describe(self) -> str:
        """What the run manifest records about where the requests were asked."""
        ray = import_ray()
        where = self.address or os.environ.get("RAY_ADDRESS") or "a local cluster"
        return (f"ray {ray.__version__}: {where}, {self.workers} workers per hf/vllm model,"
                f" {self.cpus_per_worker:g} CPUs and {self.gpus_per_worker:g} GPUs each, a shard given up after"
                f" {self.max_losses} lost workers")

    def execute(self, *, models: Mapping[str, PlanModel], conditions: Mapping[str, PlanCondition],
                items: Mapping[str, PlanItem], store: Any, listener: RunListener | None,
                backend_factory: Callable[[str], Any] | None, requests: Sequence[Request],
                totals: Mapping[str, int]) -> ExecutionReport:
        self.check(models)
        ray = import_ray()
        started = not ray.is_initialized()
        if started:  # workers' own logs stay in Ray's session folder (/tmp/ray/session_latest/logs)
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
            except Exception as exc:  # noqa: BLE001 - unreachable cluster, bad address, no room: say so
                where = self.address or os.environ.get("RAY_ADDRESS") or "a local cluster"
                raise RunSetupError(f"cannot start or join the Ray cluster ({where}): {_brief(exc)};"
                                    " nothing was asked") from exc
        try:
            notes = self._check_resources(ray, models, requests)
            driver = _Driver(self, ray, models=models, conditions=conditions, items=items, store=store,
                             listener=listener or RunListener(), backend_factory=backend_factory)
            for note in notes:
                driver.warn(note)
            return asyncio.run(_with_ctrl_c(driver, requests, totals))
        finally:
            if started:
                ray.shutdown()


    def _check_resources(self, ray: Any, models: Mapping[str, PlanModel], requests: Sequence[Request]) -> list[str]:
        """A worker asking for GPUs the cluster does not have would wait forever: refuse. GPUs
        nobody reserves are hidden from the workers by Ray: say so (warnings returned)."""
        asked = {r.model for r in requests}
        in_process = [m.name for m in models.values() if m.name in asked and m.backend in MODEL_IN_PROCESS_BACKENDS]
        if not in_process:
            return []
        gpus = float(ray.cluster_resources().get("GPU", 0))
        if self.gpus_per_worker <= 0:
            if gpus > 0:
                return [f"the Ray cluster has {gpus:g} GPUs but --gpus-per-worker is 0: Ray hides them from"
                        f" the workers of {', '.join(in_process)}, which run on CPU"]
            return []
        if gpus < self.gpus_per_worker:
            raise RunSetupError(
                f"--gpus-per-worker {self.gpus_per_worker:g}, but the Ray cluster has {gpus:g} GPUs: its workers"
                " would wait forever (nothing was asked); start the cluster on GPU machines or use"
                " --gpus-per-worker 0")
        return []


def import_ray() -> Any:
    try:
        import ray  # the optional extra silspec[ray]: imported only when this engine runs
    except ImportError as exc:
        raise RunSetupError(RAY_MISSING) from exc
    return ray


async def _with_ctrl_c(driver: "_Driver", requests: Sequence[Request], totals: Mapping[str, int]) -> ExecutionReport:
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, driver.stop)
        installed = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
        installed = False
    try:
        return await driver.run(requests, totals)
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


@define
class _Driver:
    engine: RayEngine
    ray: Any
    models: Mapping[str, PlanModel]
    conditions: Mapping[str, PlanCondition]
    items: Mapping[str, PlanItem]
    store: Any
    listener: RunListener
    backend_factory: Callable[[str], Any] | None
    _guarded: GuardedStore = field(init=False)
    _by_id: dict[str, Request] = field(factory=dict)
    _settled: set[str] = field(factory=set)  # ids answered or skipped in this invocation
    _tallies: dict[str, Tally] = field(factory=dict)
    _pending: Counter[str] = field(factory=Counter)
    _stopped: dict[str, str] = field(factory=dict)
    _preflight: dict[str, tuple[str, ...]] = field(factory=dict)
    _warnings: list[str] = field(factory=list)
    _actors: dict[int, Any] = field(factory=dict)  # id(task) -> actor handle
    _tasks: set[asyncio.Task[Any]] = field(factory=set)
    _interrupted: bool = False
    _store_failure: str | None = None
    _actor_class: Any = None
    _grace: asyncio.TimerHandle | None = None

    def __attrs_post_init__(self) -> None:
        self._guarded = GuardedStore(self.store)

    def stop(self) -> None:
        """Ctrl-C: every worker stops as a local run does and sends what it has, which is stored;
        a worker that has not finished within ``STOP_GRACE_S`` (or a second Ctrl-C) is killed."""
        if self._interrupted:
            self._kill_all()
            return
        self._interrupted = True
        for actor in list(self._actors.values()):
            try:
                actor.stop.remote()
            except Exception:  # noqa: BLE001 - a dead worker has nothing left to send
                pass
        self._grace = asyncio.get_running_loop().call_later(STOP_GRACE_S, self._kill_all)

    async def run(self, requests: Sequence[Request], totals: Mapping[str, int]) -> ExecutionReport:
        for request in requests:
            self._by_id[request.id] = request
            self._pending[request.condition] += 1
            self._tallies.setdefault(request.condition, Tally())
        self.listener.on_start(dict(totals or self._pending), dict(self._pending))
        try:
            queue = deque(plan_shards(requests, self.models, self.engine.workers))
            while queue or self._tasks:
                while queue and not self._halted:
                    self._start(queue.popleft())
                if not self._tasks:
                    break
                done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    self._tasks.discard(task)
                    self._actors.pop(id(task), None)
                    if task.cancelled():  # stopped: Ctrl-C or a failed store
                        continue
                    shard, lost = task.result()
                    if lost is not None:
                        again = self._after_loss(shard, lost)
                        if again is not None:
                            queue.append(again)
            self._skip_unsettled(requests)
        finally:
            if self._grace is not None:
                self._grace.cancel()
            self._kill_all()
            self.listener.on_finish()
        return ExecutionReport(
            counts={name: ConditionCounts(self._pending.get(name, 0), t.ok, t.invalid, t.errors, t.skipped)
                    for name, t in self._tallies.items()},
            stopped_models=dict(self._stopped), warnings=tuple(self._warnings),
            interrupted=self._interrupted, preflight=dict(self._preflight),
            store_failure=self._store_failure,
        )

    @property
    def _halted(self) -> bool:
        return self._interrupted or self._store_failure is not None

    # ---------------------------------------------------------------------- workers

    def _start(self, shard: Shard) -> None:
        model = self.models.get(shard.model)
        if model is None:  # as the local executor: the model stops, its requests are skipped
            message = f"model {shard.model!r} is not in the plan header"
            self._stop(shard.model, message)
            for request in shard.requests:
                self._skip(request, message)
            return
        in_process = model.backend in MODEL_IN_PROCESS_BACKENDS
        if self._actor_class is None:
            self._actor_class = self.ray.remote(ShardWorker)
        actor = self._actor_class.options(
            num_cpus=self.engine.cpus_per_worker if in_process else 0,
            num_gpus=self.engine.gpus_per_worker if in_process else 0,
            max_restarts=0,  # the driver re-queues what a lost worker left, on a new actor
        ).remote(model, self._shipped_conditions(shard.model), self.items, self.backend_factory)
        task = asyncio.ensure_future(self._consume(shard, actor))
        self._actors[id(task)] = actor
        self._tasks.add(task)

    def _shipped_conditions(self, model: str) -> dict[str, PlanCondition]:
        """The model's conditions without their persona lists (a compiled plan's are lazy tables
        the executor never reads)."""
        return {name: attrs.evolve(c, persona_ids=()) for name, c in self.conditions.items() if c.model == model}

    async def _consume(self, shard: Shard, actor: Any) -> tuple[Shard, BaseException | None]:
        """Apply the shard's events as they arrive; (shard, why its worker was lost or None)."""
        ray_error = self.ray.exceptions.RayError
        try:
            stream = actor.run.options(num_returns="streaming").remote(list(shard.requests))
            async for ref in stream:
                for event in await ref:
                    self._apply(event)
        except StoreFailure as failure:
            self._fail_store(failure)
        except asyncio.CancelledError:
            pass
        except ray_error as exc:
            if not self._halted:
                return shard, exc
        finally:
            self._kill(actor)
        return shard, None

    def _after_loss(self, shard: Shard, error: BaseException) -> Shard | None:
        """The shard again with what it left unanswered, or None when given up (or nothing left)."""
        left = tuple(r for r in shard.requests if r.id not in self._settled)
        losses = shard.losses + 1
        why = _brief(error)
        if not left:
            return None
        if losses >= self.engine.max_losses:
            reason = (f"{shard.name}: its Ray worker was lost {losses} times (last: {why}); given up with"
                      f" {len(left)} requests not asked (every answer that arrived is stored; rerun to ask them)")
            self._stop(shard.model, reason)
            for request in left:
                self._skip(request, reason)
            return None
        self._warn(f"{shard.name}: its Ray worker was lost ({why}); {len(left)} unanswered requests"
                   f" re-queued on a new worker (loss {losses} of at most {self.engine.max_losses})")
        return Shard(shard.model, shard.index, shard.of, left, losses)

    def _kill(self, actor: Any) -> None:
        try:
            self.ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already dead, or the cluster is gone: nothing to stop
            pass

    def _kill_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for actor in list(self._actors.values()):
            self._kill(actor)

    # ----------------------------------------------------------------------- events

    def _apply(self, event: tuple[Any, ...]) -> None:
        kind = event[0]
        if kind == "attempt":
            self._guarded.record_attempt(event[1])
        elif kind == "answer":
            self._answer(event[1])
        elif kind == "skip":
            request = self._by_id.get(event[1])
            if request is not None and request.id not in self._settled:
                self._skip(request, event[2])
        elif kind == "retry":
            request = self._by_id.get(event[1])
            if request is not None:
                self.listener.on_retry(request, event[2], event[3], event[4])
        elif kind == "stopped":
            self._stop(event[1], event[2])
        elif kind == "warning":
            self._warn(event[1])
        elif kind == "status":
            self.listener.on_status(event[1], event[2], event[3])
        elif kind == "report" and event[1] is not None:
            report: ExecutionReport = event[1]
            for model, problems in report.preflight.items():
                self._preflight.setdefault(model, problems)
            for model, message in report.stopped_models.items():
                self._stopped.setdefault(model, message)

    def _answer(self, record: AnswerRecord) -> None:
        if record.request_id in self._settled:  # cannot happen with dead workers killed first
            self._warn(f"request {record.request_id} answered twice; the first answer kept")
            return
        self._guarded.record_answer(record)
        self._settled.add(record.request_id)
        self._tallies.setdefault(record.condition, Tally()).count(record.outcome)
        self.listener.on_answer(record)

    def _stop(self, model: str, message: str) -> None:
        """A model (or one of its shards) stopped: the first reason is the model's, later ones
        (another shard's) are warnings."""
        if model not in self._stopped:
            self._stopped[model] = message
            self.listener.on_model_stopped(model, message)
        elif message != self._stopped[model]:
            self._warn(message)

    def _skip(self, request: Request, reason: str) -> None:
        self._settled.add(request.id)
        self._tallies.setdefault(request.condition, Tally()).skipped += 1
        self.listener.on_skipped(request, reason)

    def _skip_unsettled(self, requests: Sequence[Request]) -> None:
        """Requests no worker answered or skipped: named, never a silent gap (an interrupted run
        leaves them for the rerun, as the local executor does)."""
        if self._interrupted:
            return
        reason = self._store_failure or "its Ray worker ended without answering it"
        for request in requests:
            if request.id not in self._settled:
                self._skip(request, reason)

    def warn(self, message: str) -> None:
        self._warn(message)

    def _warn(self, message: str) -> None:
        if message in self._warnings:  # every shard of a model says the same things
            return
        self._warnings.append(message)
        self.listener.on_warning(message)

    def _fail_store(self, failure: StoreFailure) -> None:
        if self._store_failure is not None:
            return
        self._store_failure = str(failure)
        self.listener.on_warning(f"the run stops: {failure}")
        for actor in list(self._actors.values()):  # their streams end with an error, ignored now
            self._kill(actor)


def _brief(error: BaseException, limit: int = 300) -> str:
    """A Ray error in one line: its first line, and its last (a worker's traceback ends with the
    exception that killed it, e.g. a node without silspec installed)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    text = lines[0] if len(lines) == 1 or lines[-1] == lines[0] else f"{lines[0]} … {lines[-1]}"
    text = f"{type(error).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
