"""A run directory in, ``Results`` out: reload the bundled spec, read the current plan's answers
(``silspec.run.rundir``) and analyse them. Re-scoring, never re-asking a model.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Callable, Iterator, Sequence

import cattrs
from attrs import evolve

from silspec.analysis.across_runs import aggregate_runs
from silspec.analysis.pilot import PilotResult
from silspec.analysis.pipeline import PlanCounts, UnknownBenchmarkError, analyse_stream, check_benchmark_name
from silspec.analysis.scoring import StoredEntry
from silspec.analysis.results import Results, RunsAggregate, Warning
from silspec.run.errors import RunSetupError
from silspec.run.records import AnswerRecord
from silspec.run.rundir import CurrentPlan, RunDirectory
from silspec.run.store import Store, StoreError
from silspec.spec.load import load_spec
from silspec.spec.model import Spec


class ReportError(Exception):
    """The run directory cannot be reported on: no store, no bundled spec, a spec that fails."""


class ReportUsageError(ReportError):
    """The command line asks for something the spec does not have (``--benchmark nope``)."""


def load_run(run_dir: str | os.PathLike[str]) -> tuple[Spec, list[AnswerRecord]]:
    """(checked spec, stored answers) of a run directory (every record in memory: for small runs
    and the Python API; ``analyse_run`` streams instead)."""
    spec, rundir = load_run_spec(run_dir)
    try:
        with rundir.open_store() as store:
            answers = list(store.iter_answers())
    except StoreError as error:
        raise ReportError(str(error)) from error
    return spec, answers


def load_run_spec(run_dir: str | os.PathLike[str]) -> tuple[Spec, RunDirectory]:
    """(checked bundled spec, run directory); ``ReportError`` when either cannot be read."""
    rundir = RunDirectory.at(run_dir)
    if not rundir.path.is_dir():
        raise ReportError(f"{run_dir} is not a directory")
    try:
        spec_path, overrides = rundir.find_bundled_spec()
    except RunSetupError as error:
        raise ReportError(str(error)) from error
    # the bundle is the spec tree: its files sit at their paths relative to the project root
    loaded = load_spec(
        str(spec_path),
        overrides=tuple(f"{key}={value}" for key, value in overrides),
        root=str(rundir.bundle.resolve()),
    )
    if not loaded.ok:
        errors = [d for d in loaded.diagnostics if getattr(d, "severity", "error") == "error"]
        first = "; ".join(str(getattr(d, "message", d)) for d in errors[:3])
        raise ReportError(f"the bundled spec {spec_path} does not check: {first}")
    return loaded.spec, rundir


def analyse_run(run_dir: str | os.PathLike[str], *, benchmark: str | None = None) -> Results:
    """Analyse the answers of the run directory's current plan (``RunDirectory.current_plan``).

    The answers stream from the store as lean rows (``Store.iter_answer_rows``), read once; when
    the store records the current plan's membership, which answers belong to it is a join in
    SQLite, not a set of request ids in memory.
    """
    spec, rundir = load_run_spec(run_dir)
    try:
        check_benchmark_name(spec, benchmark)
    except UnknownBenchmarkError as error:
        raise ReportUsageError(str(error)) from error
    notes: list[Warning] = []
    current = CurrentPlan(None)
    try:
        # opened once (each open runs SQLite's integrity check: seconds on a 1M-answer store)
        with rundir.open_store() as store:
            n_answers = store.count_answers()
            if not n_answers:
                raise ReportError(f"{run_dir}: the store holds no answers yet")
            # nothing can be superseded or missing in one complete plan: no need to look it up
            complete = rundir.holds_one_complete_plan(spec, n_answers)
            if not complete:
                current = rundir.current_plan(spec, with_ids=False)
                if current.legacy and current.ids is not None:
                    notes.append(Warning(
                        kind="plan_membership_recompiled",
                        severity="info",
                        message="this store was made before silspec recorded which requests belong to which "
                        "plan: the current plan's requests were found by compiling the bundled spec again",
                    ))
            results = _analyse_store(store, spec, current, benchmark)
            cached = _cached_note(store, current)
    except StoreError as error:
        raise ReportError(str(error)) from error
    plan_unknown = not complete and current.source != "store" and current.ids is None
    plans = rundir.plans_run() if plan_unknown else set()  # one complete plan is one plan
    if len(plans) > 1:
        mixed = Warning(
            kind="plans_mixed",
            severity="high",
            message=f"this run directory was run with {len(plans)} different plans and the current one "
            f"cannot be told apart: {current.why}; all {n_answers} stored answers are scored together, which "
            "mixes runs if the spec or a --set changed between them",
        )
        results = evolve(results, warnings=(mixed, *results.warnings))
    gated = _pilot_gate_warning(rundir, results)
    if gated is not None:  # first: it changes how every row below is read
        results = evolve(results, warnings=(gated, *results.warnings))
    if cached is not None:
        notes.append(cached)
    notes += _population_notes(rundir)
    if notes:
        results = evolve(results, warnings=(*results.warnings, *notes))
    return results


def _population_notes(rundir: RunDirectory) -> list[Warning]:
    """What sampling the plan's row populations dropped or could not describe (weight-0 rows,
    missing answers with no descriptor sentence): from the plan header, so the report says it."""
    if not rundir.plan_header_path.is_file():
        return []
    try:
        header, _ = rundir.read_plan_header()
    except Exception as exc:  # an unreadable header is reported elsewhere; say the notes are absent
        return [Warning(kind="population_sampling", severity="info",
                        message=f"population sampling notes not shown: the plan header cannot be read ({exc})")]
    out = []
    for summary in getattr(header, "populations", {}).values():
        for line in summary.lines():
            severity = "medium" if "not declared missing" in line or "no sentence at all" in line else "info"
            out.append(Warning(kind="population_sampling", severity=severity, message=line))
    return out


def _analyse_store(store: Store, spec: Spec, current: CurrentPlan, benchmark: str | None) -> Results:
    """One pass over the store's answers of the current plan (all of them when it is unknown)."""
    if current.source == "store":  # membership recorded: the current answers are a join
        hashes = current.plan_hashes
        entries = ((row, None) for row in store.iter_answer_rows(plan_hashes=hashes))
        counts = PlanCounts(store.count_plan_requests(hashes), tuple(store.answers_outside_plans(hashes)))
        return analyse_stream(spec, entries, benchmark=benchmark, plan_counts=lambda: counts,
                              fetch=store.get_answer)
    entries = ((row, None) for row in store.iter_answer_rows())
    if current.ids is None:
        return analyse_stream(spec, entries, benchmark=benchmark, fetch=store.get_answer)
    ids = current.ids  # recompiled from the bundled spec: a set in memory
    superseded: dict[str, int] = defaultdict(int)

    def in_plan() -> Iterator[StoredEntry]:
        for entry in entries:
            if entry[0].request_id in ids:
                yield entry
            else:
                superseded[entry[0].condition] += 1

    return analyse_stream(spec, in_plan(), benchmark=benchmark, fetch=store.get_answer,
                          plan_counts=lambda: PlanCounts(len(ids), tuple(superseded.items())))


def _pilot_gate_warning(rundir: RunDirectory, results: Results) -> Warning | None:
    """A run directory holding a pilot: the cells it did not pass rest on the pilot's answers
    only (``silspec run --only-passed`` never asked them), which the n column alone does not say."""
    if not rundir.pilot_path.is_file():
        return None
    try:
        pilot = PilotResult.from_dict(rundir.read_pilot())
    except (RunSetupError, ValueError, TypeError, KeyError, cattrs.BaseValidationError) as error:
        return Warning(kind="pilot_unreadable", severity="medium", message=f"{rundir.pilot_path}: {error}")
    stored = {(c.condition, c.item, c.country): c.n for c in results.compliance}
    # a cell the full run asked after all (run without --only-passed) holds more than the pilot's
    left = [v for v in pilot.left_out() if 0 < stored.get((v.condition, v.item, v.country), 0) <= v.planned]
    if not left:
        return None
    cells = ", ".join(f"{v.condition} {v.label} ({v.verdict})" for v in left[:8])
    more = f" and {len(left) - 8} more" if len(left) > 8 else ""
    return Warning(
        kind="pilot_gated", severity="high",
        message=f"the pilot in this directory did not pass {len(left)} cells: {cells}{more}; they hold"
        f" only the pilot's answers (at most {pilot.criteria.personas} personas each; a run with --only-passed"
        " does not ask them), so their rows are pilot numbers, not the study's (see pilot.json)",
    )


def _cached_note(store: Store, current: CurrentPlan) -> Warning | None:
    """"N answers from the cache": answers `silspec run --cache` reused rather than asked, of the
    current plan (the plan's recorded membership, or its recompiled ids; every answer if unknown)."""
    members: Callable[[str], bool] = lambda request_id: True  # noqa: E731 - the plan is unknown
    if current.source == "store":
        wanted = set(store.plan_members([rid for rid, _ in store.cached_answers()], current.plan_hashes))
        members = wanted.__contains__
    elif current.ids is not None:
        members = current.ids.__contains__
    sources: dict[str, int] = {}
    for request_id, origin in store.cached_answers():
        if members(request_id):
            run = str(origin.get("run", "?")) if isinstance(origin, dict) else str(origin)
            sources[run] = sources.get(run, 0) + 1
    if not sources:
        return None
    total = sum(sources.values())
    where = "; ".join(f"{n} from {run}" for run, n in sorted(sources.items()))
    return Warning(kind="cached_answers", severity="info",
                   message=f"{total} answers from the cache (asked in earlier runs, not in this one: {where})")


def analyse_runs(run_dirs: Sequence[str | os.PathLike[str]], *, benchmark: str | None = None) -> RunsAggregate:
    """Several run directories of one spec (different ``study.seed``) → ``RunsAggregate``."""
    results = [analyse_run(run_dir, benchmark=benchmark) for run_dir in run_dirs]
    try:
        return aggregate_runs(results, [str(run_dir) for run_dir in run_dirs], with_usage=True)
    except ValueError as error:
        raise ReportError(str(error)) from error
