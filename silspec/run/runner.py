"""`silspec run` as a library: load → plan → store → execute → summary.

``run_spec`` is the whole path from a ``.sil`` file; ``run_plan`` starts from a compiled
``Plan`` (tests, benchmarks, other front ends). Both leave a self-contained run directory
(its layout and every read and write of it: ``silspec.run.rundir``), so ``silspec report
RUN_DIR`` can reload the spec and read the answers from the directory alone. The default
directory is ``<project root>/runs/<study>/``: deterministic, so rerunning resumes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import attrs
from attrs import field, frozen

from silspec.plan.compile import CHARS_PER_TOKEN, compile_plan
from silspec.plan.errors import PlanError
from silspec.plan.model import Plan, PlanHeader, Request
from silspec.plan.pilot import compile_pilot_plan
from silspec.plan.redact import url_secrets
from silspec.plan.stream import compile_streamed_plan, requests_of
from silspec.run.backends.registry import get_backend
from silspec.run.batch import batch_backend_factory, executor_models
from silspec.run.cache import CacheError, ResultsCache, cacheable, reuse, split_cached
from silspec.run.costs import ModelCost, completion_budget, estimate_cost, per_model
from silspec.run.error_groups import TOP_MESSAGES, ErrorGroup, group_errors
from silspec.run.errors import RunSetupError
from silspec.run.executor import ConditionCounts, ExecutionReport, Executor, RunListener
from silspec.run.manifest import collect_manifest
from silspec.run.rundir import BUNDLE_DIR, LOCK_FILE, NOT_BUNDLED_NOTE, PLAN_HEADER_FILE, RunDirectory
from silspec.run.pending import (
    ConditionOutcome, ConditionScan, PlanScan, chunks, id_key, outcomes, pending_stream, scan,
)
from silspec.run.store import Store, StoreError, StoreFailure, describe_sqlite_error, move_aside
from silspec.spec.load import load_spec

BYTES_PER_STORED_ANSWER = 1_500  # a rough size of one answer row plus its attempt row

# the names the run directory module owns, still importable from here
__all__ = [
    "BUNDLE_DIR", "LOCK_FILE", "NOT_BUNDLED_NOTE", "PLAN_HEADER_FILE", "TOP_MESSAGES", "PlanHeader",
    "RunSetupError", "run_plan", "run_spec", "dry_run", "dry_run_costs", "load_checked_spec",
    "compile_spec_plan", "default_run_dir", "read_plan_header", "bundled_spec_path", "load_run_spec",
]


@frozen
class ConditionSummary:
    condition: str
    model: str
    total: int  # requests the plan holds for it
    already: int  # stored before this invocation (and not re-asked)
    asked: int
    ok: int  # asked in this invocation and stored as answered (silspec.answers.outcomes)
    invalid: int  # asked in this invocation and stored as invalid or refused
    errors: int  # asked in this invocation and stored as errors
    skipped: int
    stored_errors: int  # error rows in the store for this condition after the run
    missing: int  # requests with no stored row after the run (skipped, interrupted)
    recorded_errors: int = 0  # of stored_errors: failures replayed from recorded data
    cached: int = 0  # stored in this invocation from the results cache (`--cache`), not asked


@frozen
class RunSummary:
    run_dir: str
    study: str
    plan_hash: str
    conditions: tuple[ConditionSummary, ...]
    stopped_models: dict[str, str]
    warnings: tuple[str, ...]
    interrupted: bool
    backup: str | None = None  # where --fresh moved the old store
    # model -> problems its backend's preflight found (the model asked nothing)
    preflight: dict[str, tuple[str, ...]] = field(factory=dict)
    # the plan's stored errors grouped by message, most frequent first (see error_groups)
    error_groups: tuple[ErrorGroup, ...] = ()
    # why the store stopped the run (disk full, read-only, deleted); every model stopped with it
    store_failure: str | None = None
    cache_dir: str | None = None  # `--cache DIR`: answers reused from and added to it
    cache_added: int = 0  # answers this invocation added to the cache

    @property
    def cached(self) -> int:
        """Answers filled from the results cache in this invocation (not asked)."""
        return sum(c.cached for c in self.conditions)

    @property
    def retry_may_help(self) -> bool:
        """Some of this run's errors look transient: ``--retry-errors`` is worth a try."""
        return any(g.transient for g in self.error_groups)

    @property
    def total(self) -> int:
        return sum(c.total for c in self.conditions)

    @property
    def missing(self) -> int:
        """Requests of the plan with no stored row (skipped, interrupted)."""
        return sum(c.missing for c in self.conditions)

    @property
    def errors(self) -> int:
        """Stored errors of this run's own making (replayed recorded failures excluded)."""
        return sum(c.stored_errors - c.recorded_errors for c in self.conditions)

    @property
    def recorded_errors(self) -> int:
        return sum(c.recorded_errors for c in self.conditions)

    @property
    def exit_code(self) -> int:
        """130 interrupted; 1 when the store failed, a request errored or is still missing; else 0."""
        if self.interrupted:
            return 130
        return 1 if self.store_failure or self.errors or self.missing else 0


@frozen
class DryRunRow:
    condition: str
    model: str
    backend: str
    requests: int  # distinct request ids
    duplicates: int  # plan rows sharing an id with an earlier row (asked once, answer shared)
    answered: int
    to_ask: int
    prompt_tokens: int  # estimated, for the requests still to ask
    cost: float | None  # from model options price_input_per_mtok (+ output); None when unknown
    completion_tokens: int | None = None  # budget for the requests still to ask; None: unknown


# ----------------------------------------------------------------------------- spec path


def load_checked_spec(
    spec_path: str | os.PathLike[str],
    overrides: Sequence[tuple[str, str]] = (),
    *,
    root: str | os.PathLike[str] | None = None,
) -> Any:
    """The checked spec, or ``RunSetupError`` carrying the loader's diagnostics."""
    path = Path(spec_path)
    if not path.is_file():
        raise RunSetupError(f"no such spec file: {spec_path}")
    result = load_spec(str(path), tuple(f"{key}={value}" for key, value in overrides),
                       root=None if root is None else str(root))
    if not result.ok:
        sources = getattr(result, "sources", None)
        sources = sources() if callable(sources) else sources
        raise RunSetupError(f"{spec_path} has errors; fix them and run again",
                            diagnostics=result.diagnostics,
                            sources=sources or _read_sources(path, result.diagnostics), exit_code=1)
    return result.spec


def _read_sources(path: Path, diagnostics: Sequence[Any]) -> dict[str, str]:
    sources = {}
    for d in diagnostics:
        span = getattr(d, "span", None)
        if span is None or span.file in sources:
            continue
        for candidate in (Path(span.file), path.parent / span.file):
            if candidate.is_file():
                sources[span.file] = candidate.read_text(encoding="utf-8", errors="replace")
                break
    return sources


def compile_spec_plan(spec: Any, conditions: Sequence[str] | None, limit: int | None, *,
                      stream: bool = False) -> Plan:
    """The full plan, cut to a pilot by ``limit`` (``silspec.plan.pilot``: every condition and item).

    ``stream``: the full plan's requests as a ``RequestStream`` (compiled again on each pass,
    never held: ``silspec run`` of a million requests); a pilot is always held."""
    unknown = [c for c in conditions or () if c not in spec.conditions]
    if unknown:
        raise RunSetupError(f"unknown condition {unknown[0]!r}; the spec has: {', '.join(spec.conditions)}")
    try:
        if limit is not None:
            return compile_pilot_plan(spec, conditions=list(conditions) if conditions else None, limit=limit)
        if stream:
            return compile_streamed_plan(spec, conditions=list(conditions) if conditions else None)
        return compile_plan(spec, conditions=list(conditions) if conditions else None, limit=None)
    except PlanError as exc:
        raise RunSetupError(str(exc), exit_code=1) from exc


def default_run_dir(spec: Any) -> Path:
    """``<project root>/runs/<study>/``: the same folder whatever the working directory."""
    return Path(spec.root) / "runs" / spec.study.name


def copy_bundle(spec: Any, run_dir: Path) -> Path:
    """Copy the .sil and every referenced file into ``run_dir/bundle`` (``RunDirectory.copy_bundle``)."""
    return RunDirectory.at(run_dir).copy_bundle(spec)


def write_plan_header(run_dir: Path, plan: Plan) -> None:
    RunDirectory.at(run_dir).write_plan_header(plan)


def read_plan_header(run_dir: str | os.PathLike[str]) -> tuple[PlanHeader, str]:
    """(header, plan hash) of the latest plan run into ``run_dir``."""
    return RunDirectory.at(run_dir).read_plan_header()


def bundled_spec_path(run_dir: str | os.PathLike[str]) -> Path:
    """The spec copy inside a run directory (what ``silspec report RUN_DIR`` reloads)."""
    return RunDirectory.at(run_dir).bundled_spec_path()


def load_run_spec(run_dir: str | os.PathLike[str]) -> Any:
    """Reload the bundled spec with the overrides the run was made with."""
    rundir = RunDirectory.at(run_dir)
    header, _ = rundir.read_plan_header()
    return load_checked_spec(rundir.bundled_spec_path(), header.overrides, root=rundir.bundle.resolve())


# -------------------------------------------------------------------------------- running


def unique_requests(requests: Sequence[Request]) -> list[Request]:
    """First occurrence of each id, in plan order.

    Two requests with the same content hash are the same question (same model, parameters,
    messages, replicate and seed), so they share one stored answer and are asked once.
    """
    seen: set[str] = set()
    out = []
    for request in requests:
        if request.id not in seen:
            seen.add(request.id)
            out.append(request)
    return out


def pending_requests(plan: Plan, store: Store, *, retry_errors: bool) -> tuple[list[Request], int]:
    """(requests to ask, how many of the plan are already stored and kept).

    A rerun skips every stored id, errors included; ``retry_errors`` also asks stored errors
    again (their rows are replaced). Duplicate ids in a plan are asked once.
    """
    answered = store.answered_ids()
    failed = store.failed_ids() if retry_errors else set()
    pending, kept = [], 0
    for request in unique_requests(plan.requests):
        if request.id in answered and request.id not in failed:
            kept += 1
        else:
            pending.append(request)
    return pending, kept


def run_plan(
    plan: Plan,
    run_dir: str | os.PathLike[str],
    *,
    spec: Any = None,
    fresh: bool = False,
    retry_errors: bool = False,
    conditions: Sequence[str] = (),
    limit: int | None = None,
    listener: RunListener | None = None,
    env: Mapping[str, str] | None = None,
    backend_factory: Any = None,
    durable: bool = False,
    cache: str | os.PathLike[str] | None = None,
    engine: Any = None,
) -> RunSummary:
    """Ask what ``plan`` still lacks in ``run_dir``'s store; always leaves the store consistent.

    ``engine``: None asks from this process (``Executor``); an engine such as
    ``silspec.run.ray_engine.RayEngine`` asks elsewhere and streams every record back to this
    store (its ``check(models)`` refuses what it cannot run before anything is touched; its
    ``describe()`` goes into the manifest). Its workers read API keys from their own
    environment: ``env`` is not sent anywhere.

    ``cache``: a results-cache folder (``silspec.run.cache``) shared across run directories:
    requests it holds are stored from it (marked ``meta.cached_from``) instead of asked, and this
    run's answers (never its errors) are added to it afterwards.

    ``durable``: SQLite ``synchronous=FULL`` (each answer survives a power loss, not only a
    killed process; slower), recorded in the manifest. ``StoreError`` when the store cannot be
    opened or written at the start (empty, foreign, damaged, read-only): nothing is asked.
    """
    run_dir = Path(run_dir)
    if engine is not None:
        engine.check(plan.header.models)
    results_cache = _open_cache(cache)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with RunDirectory.at(run_dir).exclusive():
            return _run_locked(plan, run_dir, spec=spec, fresh=fresh, retry_errors=retry_errors,
                               conditions=conditions, limit=limit, listener=listener, env=env,
                               backend_factory=backend_factory, durable=durable, cache=results_cache,
                               engine=engine)
    finally:
        if results_cache is not None:
            results_cache.close()


def _open_cache(cache: str | os.PathLike[str] | None) -> ResultsCache | None:
    if cache is None:
        return None
    try:
        return ResultsCache(cache)
    except CacheError as exc:
        raise RunSetupError(f"{exc}; nothing was asked") from exc


def _run_locked(plan: Plan, run_dir: Path, *, spec: Any, fresh: bool, retry_errors: bool,
                conditions: Sequence[str], limit: int | None, listener: RunListener | None,
                env: Mapping[str, str] | None, backend_factory: Any, durable: bool = False,
                cache: ResultsCache | None = None, engine: Any = None) -> RunSummary:
    backup = move_aside(run_dir) if fresh else None
    env = os.environ if env is None else env
    synchronous = "FULL" if durable else "NORMAL"
    # The store first, and its first writes: a refused or unwritable store (empty, foreign,
    # damaged, read-only) leaves the folder as it was.
    rundir = RunDirectory.at(run_dir)
    with rundir.open_store(create=True, synchronous=synchronous) as store:
        manifest = collect_manifest(
            spec_path=plan.header.spec_path, spec_hash=plan.header.spec_hash, plan_hash=plan.plan_hash,
            n_requests=len(plan.requests), overrides=plan.header.overrides, conditions=tuple(conditions),
            limit=limit if limit is not None else plan.header.limit, retry_errors=retry_errors, project_root=getattr(spec, "root", None),
            argv=tuple(sys.argv[1:]), synchronous=synchronous,
            cache=str(cache.directory) if cache is not None else None,
            engine=engine.describe() if engine is not None else None,
        )
        try:  # the first writes: a read-only or full store stops here, before anything is asked
            invocation = store.begin_invocation(manifest)
            store.record_requests(plan.requests, plan)
            store.check_writable()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot write the results store {store.path}: {describe_sqlite_error(exc)};"
                             " nothing was asked") from exc
        except StoreFailure as exc:  # deleted under us, or a full disk
            raise StoreError(f"{exc}; nothing was asked") from exc
        status = "failed"
        try:
            if spec is not None:
                rundir.copy_bundle(spec)
            rundir.write_plan_header(plan)
            # The plan is read in passes (a streamed plan compiles its requests again each time):
            # count what it lacks, then each model's lane pulls what is still to ask.
            scanned = scan(plan.requests, store, retry_errors=retry_errors)
            to_ask = scanned.to_ask()
            if cache is not None:
                cached = _store_cached(cache, store, pending_stream(plan.requests, store, scanned,
                                                                    retry_errors=retry_errors))
                to_ask = {name: n - cached.get(name, 0) for name, n in to_ask.items() if n - cached.get(name, 0)}
            # batch = true models go through the Batch API engine (silspec.run.batch), bound to the store
            models, batch_notes = executor_models(plan.header.models)
            sources = _model_sources(plan, store, scanned, to_ask, retry_errors=retry_errors)
            if engine is not None:  # workers elsewhere read keys from their own environment
                # the engine shards by request id, so it takes the pending ids as one list
                # (ids and messages only: the plan itself is never held whole)
                report = engine.execute(
                    models=models, conditions=plan.header.conditions, items=plan.header.items,
                    store=store, listener=listener, backend_factory=backend_factory or get_backend,
                    requests=[r for source, _ in sources.values() for r in source], totals=scanned.totals(),
                )
            else:
                executor = Executor(
                    models=models, conditions=plan.header.conditions, items=plan.header.items,
                    store=store, env=env, listener=listener,
                    backend_factory=batch_backend_factory(backend_factory or get_backend, store=store),
                )
                report = asyncio.run(_execute(executor, sources, to_ask, scanned.totals()))
            try:
                summary = _summarise(plan, run_dir, store, report, scanned, backup, retry_errors=retry_errors)
            except sqlite3.Error:
                if not report.store_failure:
                    raise
                summary = _summarise_without_store(plan, run_dir, report, scanned, backup)
            if cache is not None:
                summary = _fill_cache(cache, store, plan, run_dir, summary)
            exposed = _credentials_in_bundle(plan, spec)
            if exposed:
                summary = attrs.evolve(summary, warnings=(exposed, *summary.warnings))
            if batch_notes:
                summary = attrs.evolve(summary, warnings=(*batch_notes, *summary.warnings))
            if summary.interrupted:
                status = "interrupted"
            elif summary.store_failure:
                status = "store failed"
            else:
                status = "incomplete" if summary.exit_code else "complete"
            return summary
        except KeyboardInterrupt:  # Ctrl-C outside the executor's handler (setup, summary)
            status = "interrupted"
            raise
        finally:
            try:
                store.end_invocation(invocation, status)
            except (sqlite3.Error, OSError):
                pass  # the store already failed: the summary says so; the manifest stays "running"


def _store_cached(cache: ResultsCache, store: Store, pending: Iterable[Request]) -> dict[str, int]:
    """Store the pending requests the cache answers, a chunk at a time; how many per condition."""
    stored: dict[str, int] = {}
    for chunk in chunks(pending):
        _, hits = split_cached(cache, chunk)
        for request in chunk:
            hit = hits.get(request.id)
            if hit is not None:
                store.record_answer(reuse(hit, request, request.model))
                stored[request.condition] = stored.get(request.condition, 0) + 1
    return stored


class _Pass:
    """An iterable that makes a new iterator each time it is read (a lane's preflight reads its
    requests, then its workers do)."""

    def __init__(self, make: Callable[[], Iterator[Request]]):
        self._make = make

    def __iter__(self) -> Iterator[Request]:
        return self._make()


def _model_sources(plan: Plan, store: Store, scanned: PlanScan, to_ask: Mapping[str, int], *,
                   retry_errors: bool) -> dict[str, tuple[Iterable[Request], int]]:
    """Per model with something to ask: (its pending requests, read anew on each pass; how many)."""
    by_model: dict[str, list[str]] = {}
    for name, condition in plan.header.conditions.items():
        if to_ask.get(name):
            by_model.setdefault(condition.model, []).append(name)
    sources = {}
    for model, names in by_model.items():
        def make(names: list[str] = names) -> Iterator[Request]:
            return pending_stream(requests_of(plan.requests, names), store, scanned, retry_errors=retry_errors)

        sources[model] = (_Pass(make), sum(to_ask[name] for name in names))
    return sources


def _fill_cache(cache: ResultsCache, store: Store, plan: Plan, run_dir: Path, summary: RunSummary) -> RunSummary:
    """Add this plan's answers (not errors, not those taken from a cache) to the cache."""
    try:
        added = cache.add(cacheable(store.iter_answers(), _IdSet(r.id for r in plan.requests)),
                          str(run_dir.resolve()))
    except (sqlite3.Error, OSError) as exc:
        note = f"the results cache {cache.path} could not be updated ({exc}); this run's answers are in its store"
        return attrs.evolve(summary, cache_dir=str(cache.directory), warnings=(*summary.warnings, note))
    return attrs.evolve(summary, cache_dir=str(cache.directory), cache_added=added)


class _IdSet:
    """Membership of a plan's ids, kept as ``id_key``s (a third of the strings' memory)."""

    def __init__(self, ids: Iterable[str]):
        self._keys = {id_key(i) for i in ids}

    def __contains__(self, request_id: object) -> bool:
        return isinstance(request_id, str) and id_key(request_id) in self._keys


def _credentials_in_bundle(plan: Plan, spec: Any) -> str | None:
    """A warning when the spec file itself holds a URL's credentials: masked everywhere silspec
    writes, they still sit in the spec and so in its verbatim copy in ``bundle/`` (which must stay
    byte-identical for ``silspec verify``)."""
    if spec is None:
        return None
    try:
        text = (Path(spec.root) / spec.path).read_text(encoding="utf-8", errors="replace")
    except (OSError, AttributeError, TypeError):
        return None
    names = [m.name for m in plan.header.models.values() if any(s in text for s in url_secrets(m.base_url))]
    if not names:
        return None
    return (f"the spec file writes credentials into the base_url of {', '.join(names)}: they are masked in"
            f" everything silspec stores and prints, but the spec (and its copy in {BUNDLE_DIR}/) holds"
            " them; pass the URL with --set instead, or use a proxy without credentials in the URL")


async def _execute(executor: Executor, sources: Mapping[str, tuple[Iterable[Request], int]],
                   pending: Mapping[str, int], totals: dict[str, int]) -> ExecutionReport:
    """Run the executor with Ctrl-C wired to a clean stop (not a traceback mid-write)."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, executor.stop)
        installed = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / platform
        installed = False
    try:
        return await executor.execute_streams(sources, pending, totals)
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


def _summarise(plan: Plan, run_dir: Path, store: Store, report: ExecutionReport, scanned: PlanScan,
               backup: Path | None, *, retry_errors: bool) -> RunSummary:
    """Per condition, the plan's distinct ids as stored now (one more pass over the plan, the
    store read a chunk at a time); the error groups from the plan's recorded membership."""
    groups = group_errors((error, status, was_recorded) for _, error, status, was_recorded
                          in store.plan_error_rows(plan.plan_hash))
    stored = outcomes(plan.requests, store, scanned, invocation=store.invocation, retry_errors=retry_errors)
    rows = []
    for name, condition in plan.header.conditions.items():
        counts = report.counts.get(name, ConditionCounts(0, 0, 0, 0, 0))
        c = stored.get(name, ConditionOutcome())
        rows.append(ConditionSummary(
            condition=name, model=condition.model, total=c.distinct,
            already=c.already, asked=counts.pending, ok=counts.ok, invalid=counts.invalid,
            errors=counts.errors, skipped=counts.skipped, stored_errors=c.stored_errors,
            missing=c.missing, recorded_errors=c.recorded_errors, cached=c.cached,
        ))
    return RunSummary(
        run_dir=str(run_dir), study=plan.header.study, plan_hash=plan.plan_hash,
        conditions=tuple(rows), stopped_models=report.stopped_models, warnings=report.warnings,
        interrupted=report.interrupted, backup=str(backup) if backup else None,
        preflight=dict(report.preflight), error_groups=tuple(groups),
        store_failure=report.store_failure,
    )


def _summarise_without_store(plan: Plan, run_dir: Path, report: ExecutionReport,
                             scanned: PlanScan, backup: Path | None) -> RunSummary:
    """The summary from the executor's own counts, for a store that can no longer be read."""
    rows = []
    for name, condition in plan.header.conditions.items():
        c = scanned.conditions.get(name) or ConditionScan()
        counts = report.counts.get(name, ConditionCounts(0, 0, 0, 0, 0))
        rows.append(ConditionSummary(
            condition=name, model=condition.model, total=c.distinct, already=c.distinct - c.pending,
            asked=counts.pending, ok=counts.ok, invalid=counts.invalid, errors=counts.errors,
            skipped=counts.skipped, stored_errors=counts.errors,
            missing=max(0, c.pending - counts.ok - counts.errors),
        ))
    return RunSummary(
        run_dir=str(run_dir), study=plan.header.study, plan_hash=plan.plan_hash,
        conditions=tuple(rows), stopped_models=report.stopped_models, warnings=report.warnings,
        interrupted=report.interrupted, backup=str(backup) if backup else None,
        preflight=dict(report.preflight), store_failure=report.store_failure,
    )


def run_spec(
    spec_path: str | os.PathLike[str],
    *,
    overrides: Sequence[tuple[str, str]] = (),
    conditions: Sequence[str] = (),
    limit: int | None = None,
    out: str | os.PathLike[str] | None = None,
    fresh: bool = False,
    retry_errors: bool = False,
    listener: RunListener | None = None,
    env: Mapping[str, str] | None = None,
    durable: bool = False,
) -> RunSummary:
    """Load, plan and run a spec into its run directory; see ``run_plan``."""
    spec = load_checked_spec(spec_path, overrides)
    plan = compile_spec_plan(spec, conditions, limit, stream=True)
    run_dir = Path(out) if out is not None else default_run_dir(spec)
    return run_plan(plan, run_dir, spec=spec, fresh=fresh, retry_errors=retry_errors,
                    conditions=conditions, limit=limit, listener=listener, env=env, durable=durable)


# -------------------------------------------------------------------------------- dry run


def dry_run(plan: Plan, run_dir: str | os.PathLike[str], *, retry_errors: bool = False) -> list[DryRunRow]:
    """What ``run`` would ask, per condition, without creating anything."""
    answered: set[str] = set()
    failed: set[str] = set()
    if RunDirectory.at(run_dir).store_path.exists():
        with RunDirectory.at(run_dir).open_store() as store:
            answered = store.answered_ids()
            failed = store.failed_ids() if retry_errors else set()
    rows = []
    for name, condition in plan.header.conditions.items():
        model = plan.header.models[condition.model]
        rows_of_condition = list(requests_of(plan.requests, [name]))  # a stream compiles this condition only
        requests = unique_requests(rows_of_condition)
        to_ask = [r for r in requests if r.id not in answered or r.id in failed]
        tokens = sum(_prompt_tokens(r) for r in to_ask)
        budget = completion_budget(model, condition.answers)
        completion = None if budget is None else budget * len(to_ask)
        rows.append(DryRunRow(
            condition=name, model=model.name, backend=model.backend, requests=len(requests),
            duplicates=len(rows_of_condition) - len(requests), answered=len(requests) - len(to_ask),
            to_ask=len(to_ask), prompt_tokens=tokens,
            cost=estimate_cost(model, calls=len(to_ask), prompt_tokens=tokens, completion_tokens=completion).cost,
            completion_tokens=completion,
        ))
    return rows


def dry_run_costs(plan: Plan, rows: Sequence[DryRunRow]) -> list[ModelCost]:
    """Per-model totals of a dry run, priced from ``PlanModel.options`` where prices are set."""
    return per_model(plan.header.models, rows)


def _prompt_tokens(request: Request) -> int:
    """Characters / 3.5, the plan's own estimator, so `plan` and `run --dry-run` agree."""
    return round(sum(len(m.content) for m in request.messages) / CHARS_PER_TOKEN)

