"""`silspec run SPEC`: ask the models what the plan still lacks, then show the report.

Exit codes: 0 every request answered (valid or not), 1 some errored or are still missing
(a stopped model, a failed preflight check such as a replay file lacking answers), the store
failed mid-run (disk full, read-only, deleted: every model stops at once, what was stored is
kept) or the spec has errors (as `silspec plan`), 2 usage errors (bad flags, a missing file, an
unknown condition, a busy run folder, a store.sqlite that is empty, not a silspec store, damaged
or not writable, a --cache path that is not a usable folder: nothing is asked), 130 interrupted
(everything received so far is kept; rerun to resume). --dry-run asks nothing and exits 1 when
a run would stop before paying: an unset key variable, an unreachable base_url, a missing
weights package (silspec.run.envcheck).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


from silspec.cli.common import add_set_option, make_console, report_run_error


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run a spec: ask the models, store every answer, resume",
                              description=__doc__.splitlines()[0],
                              epilog=" ".join(__doc__.split("\n\n")[1].split()))
    p.add_argument("spec", help="the .sil file")
    add_set_option(p, "model.gpt52.temperature=0.7")
    p.add_argument("--condition", dest="conditions", action="append", default=[], metavar="NAME",
                   help="run only this condition; repeatable")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="a pilot: per condition, at most N requests in persona-major order (persona 1 x"
                        " every item, then persona 2, ...), so every condition, model and item is"
                        " touched when N >= the number of items; recorded in the run manifest")
    p.add_argument("--only-passed", default=None, metavar="PILOT_DIR",
                   help="ask only the items `silspec pilot` called go (its pilot.json in PILOT_DIR); lists"
                        " every item left out and why; refused for a pilot of another spec hash or criteria")
    p.add_argument("--dry-run", action="store_true",
                   help="show what would be asked and an estimate, and check key variables and base_url"
                        " endpoints (exit 1 when one would stop the run); asks nothing")
    p.add_argument("--status", action="store_true",
                   help="show where each Batch API batch of the run stands (batch = true models), asking"
                        " the provider about running ones; asks no model")
    p.add_argument("--out", default=None, metavar="DIR", help="run directory (default runs/<study>/)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--fresh", action="store_true", help="move the old store aside and start again")
    mode.add_argument("--retry-errors", action="store_true", help="ask requests stored as errors again")
    p.add_argument("--durable", action="store_true",
                   help="commit every answer with SQLite synchronous=FULL: it survives a power loss, not"
                        " only a killed process (slower on some disks; recorded in the manifest)")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="a results cache shared across run directories: requests it holds (same request"
                        " id) are taken from it, not asked, and marked as cached; this run's answers (never"
                        " errors) are added to it")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="where to ask: this process (local, the default) or a Ray cluster (ray: the pending"
                        " requests split into shards by request id, one worker per shard holding the model"
                        " or the API lane, every answer stored here as it arrives; needs silspec[ray];"
                        " docs/scale.md)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --engine ray: the cluster to join (what `ray start --head` printed, or auto);"
                        " default: RAY_ADDRESS, else a local cluster started for the run")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="with --engine ray: workers (model copies) per hf/vllm model (default 2); an API"
                        " model is one lane, one worker")
    p.add_argument("--gpus-per-worker", type=float, default=None, metavar="G",
                   help="with --engine ray: GPUs each hf/vllm worker reserves (default 0; 1 on a GPU cluster)")
    p.add_argument("--cpus-per-worker", type=float, default=None, metavar="C",
                   help="with --engine ray: CPUs each hf/vllm worker reserves, and the threads torch uses"
                        " in it (default 1)")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=handle)


def parse_overrides(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        out.append((key.strip(), value))
    return tuple(out)


def handle(args: argparse.Namespace) -> int:
    # Measured start-up reason: cli/main.py imports every command module to build its parser, and
    # importing silspec.api (the whole pipeline, numpy) there would cost every command, `lint`
    # included, 1.0-1.4 s (python -X importtime, 2026-12-01); so the handler imports it.
    from silspec import api
    from silspec.run.progress import (
        QuietListener, RichProgress, print_dry_run, print_preflight, print_store_failure, print_summary,
    )
    from silspec.run.runner import dry_run_costs
    from silspec.run.store import StoreError

    console = make_console(stderr=False)
    errors = make_console(stderr=True)
    try:
        overrides = parse_overrides(args.overrides)
        if args.limit is not None and args.limit < 0:
            raise ValueError("--limit must be zero or more")
        engine = _engine(args)
    except ValueError as exc:
        errors.print(f"[bold red]error[/]: {exc}", highlight=False, soft_wrap=True)
        return 2
    try:
        spec = api.load_spec(args.spec, overrides=overrides)
        if args.status:
            return _batch_status(Path(args.out) if args.out else api.default_run_dir(spec), console)
        # streamed (compiled again on each pass, never held) unless a pilot gate needs the whole plan
        plan = api.make_plan(spec, conditions=args.conditions, limit=args.limit,
                             stream=args.only_passed is None)
        if args.only_passed is not None:
            plan = _gate(spec, plan, args.only_passed, console)
        run_dir = Path(args.out) if args.out else api.default_run_dir(spec)
        if args.dry_run:
            if engine is not None:  # what would stop the real run (Ray missing, batch models) stops this
                engine.check(plan.header.models)
            rows = api.dry_run(plan, run_dir, retry_errors=args.retry_errors)
            print_dry_run(rows, console, str(run_dir), costs=dry_run_costs(plan, rows))
            if args.cache:
                _print_cache_hits(plan, run_dir, Path(args.cache), console)
            return _print_env_check(plan.header.models.values(), console, errors)
        listener = QuietListener(errors) if args.quiet else RichProgress(console)
        summary = api.run_plan(
            plan, run_dir, spec=spec, fresh=args.fresh, retry_errors=args.retry_errors,
            conditions=tuple(args.conditions), limit=args.limit, listener=listener,
            durable=args.durable, cache=args.cache, engine=engine,
        )
    except (api.RunSetupError, StoreError) as exc:
        return report_run_error(exc, errors)
    print_summary(summary, console)
    if summary.cache_dir is not None:
        console.print(f"{summary.cached:,} answers from the cache {summary.cache_dir} (not asked);"
                      f" {summary.cache_added:,} added to it", highlight=False)
    if summary.preflight:
        print_preflight(summary, errors)
    if summary.store_failure:
        print_store_failure(summary, errors)
    if not args.no_report and not summary.interrupted and not summary.store_failure:
        _report(api, run_dir, console)
    return summary.exit_code


def _engine(args: argparse.Namespace):
    """The Ray engine for ``--engine ray`` (None: this process); Ray options without it are an
    error, not ignored."""
    ray_options = {"--ray-address": args.ray_address, "--workers": args.workers,
                   "--gpus-per-worker": args.gpus_per_worker, "--cpus-per-worker": args.cpus_per_worker}
    if args.engine != "ray":
        given = [flag for flag, value in ray_options.items() if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} only apply with --engine ray")
        return None
    from silspec.run.ray_engine import DEFAULT_WORKERS, RayEngine

    workers = DEFAULT_WORKERS if args.workers is None else args.workers
    if workers < 1:
        raise ValueError("--workers must be 1 or more")
    gpus = 0.0 if args.gpus_per_worker is None else args.gpus_per_worker
    if gpus < 0:
        raise ValueError("--gpus-per-worker must be 0 or more")
    cpus = 1.0 if args.cpus_per_worker is None else args.cpus_per_worker
    if cpus <= 0:
        raise ValueError("--cpus-per-worker must be more than 0")
    return RayEngine(address=args.ray_address, workers=workers, gpus_per_worker=gpus, cpus_per_worker=cpus)


def _gate(spec, plan, pilot_dir: str, console):
    """The plan cut to the pilot's go items; every item left out is named with its reasons."""
    from silspec.analysis.pilot import gate_by_pilot

    gate = gate_by_pilot(spec, plan, pilot_dir)
    kept = sum(len(c.items) for c in gate.plan.header.conditions.values())
    console.print(f"--only-passed {pilot_dir}: asking {kept} condition x item cells the pilot called go"
                  f" ({len(gate.plan.requests):,} requests); {len(gate.left_out)} left out:",
                  highlight=False, soft_wrap=True)
    for v in gate.left_out:
        why = "; ".join(v.reasons) or v.verdict
        console.print(f"  left out {v.condition} {v.label}: {v.verdict} ({why})", highlight=False, soft_wrap=True)
    return gate.plan


def _batch_status(run_dir: Path, console) -> int:
    """``--status``: the run's kept batches, running ones refreshed from the provider."""
    import os

    from silspec.run.batch import batch_status
    from silspec.run.rundir import RunDirectory
    from silspec.run.store import StoreError

    rundir = RunDirectory.at(run_dir)
    if not rundir.store_path.exists():
        console.print(f"no run in {run_dir} yet: nothing submitted", highlight=False, soft_wrap=True)
        return 0
    try:
        models = rundir.read_plan_header()[0].models
    except Exception as exc:  # noqa: BLE001 - no usable header: the stored statuses, said so below
        models = None
        console.print(f"note: {rundir.plan_header_path} cannot be read ({type(exc).__name__}: {exc}): the"
                      " statuses below are the stored ones, not refreshed from the provider",
                      highlight=False, soft_wrap=True)
    with rundir.open_store() as store:
        rows = batch_status(store, models=models, env=os.environ)
    if not rows:
        console.print(f"{run_dir}: no Batch API batches (no model with batch = true has run here)",
                      highlight=False, soft_wrap=True)
        return 0
    # One plain line per batch (not a table): batch ids must survive any console width intact.
    console.print(f"Batch API batches in {run_dir}:", highlight=False, soft_wrap=True)
    for row in rows:
        done = "" if row.completed is None else f", {row.completed:,} done, {row.failed or 0:,} failed"
        console.print(f"  {row.batch_id}  model {row.model}  {row.status}: {row.requests:,} requests{done},"
                      f" {row.answers_stored:,} answers stored (created {row.created_at[:19]})",
                      highlight=False, soft_wrap=True)
    for row in rows:
        for error in row.errors:
            console.print(f"{row.batch_id}: {error}", highlight=False, soft_wrap=True)
        if row.note:
            console.print(f"{row.batch_id}: {row.note}", highlight=False, soft_wrap=True)
    running = sum(1 for r in rows if r.status not in ("completed", "failed", "expired", "cancelled"))
    console.print(f"{running} of {len(rows)} batches still running; `silspec run` collects the ended ones"
                  " (and waits for the rest)", highlight=False, soft_wrap=True)
    return 0


def _print_cache_hits(plan, run_dir: Path, cache_dir: Path, console) -> None:
    """How many of the requests a dry run counts as "to ask" the cache would answer (read only)."""
    from silspec.run.cache import CACHE_FILE, CacheError, ResultsCache
    from silspec.run.runner import unique_requests
    from silspec.run.rundir import RunDirectory

    if not (cache_dir / CACHE_FILE).is_file():
        console.print(f"note: no results cache in {cache_dir} yet: every request above would be asked",
                      highlight=False)
        return
    stored: set[str] = set()
    if RunDirectory.at(run_dir).store_path.exists():
        with RunDirectory.at(run_dir).open_store() as store:
            stored = store.answered_ids()
    ids = [r.id for r in unique_requests(plan.requests) if r.id not in stored]
    try:
        with ResultsCache(cache_dir) as cache:
            hits = len(cache.lookup(ids))
    except CacheError as exc:
        console.print(f"note: {exc}", highlight=False)
        return
    console.print(f"{hits:,} of the {len(ids):,} requests to ask are in the cache {cache_dir}: they would"
                  " not be asked", highlight=False)


def _print_env_check(models, console, errors) -> int:
    """Key variables and endpoints, before anything is paid: 1 when a run would fail on them."""
    from silspec.run.envcheck import check_models

    report = check_models(models, os.environ)
    for line in report.checked:
        console.print(f"[green]ok[/]: {line}", highlight=False)
    for line in report.not_probed:
        console.print(f"note: {line}", highlight=False)
    for problem in report.problems:
        errors.print(f"[bold red]error[/]: {problem.message}", highlight=False)
        errors.print(f"  hint: {problem.hint}", highlight=False, markup=False)
    return 1 if report.problems else 0


def _report(api, run_dir: Path, console) -> None:
    try:
        api.print_run_report(run_dir, console)
    except Exception as exc:  # noqa: BLE001 - the run succeeded; a report failure must not hide it
        print(f"report failed: {type(exc).__name__}: {exc}", file=sys.stderr)
