"""silspec from Python: the pipeline's stages in the order a study goes through them.

    spec = load_spec("specs/kgss_paper_replay.sil")      # parse + check (RunSetupError on errors)
    plan = make_plan(spec, limit=20)                     # compile (deterministic, hashable)
    summary = run_plan(plan, "runs/pilot", spec=spec)    # ask, store, resume
    run = open_run("runs/pilot")                         # a run directory on disk
    results = run.results()                              # re-score and analyse, never re-ask

``silspec run``, ``report`` and ``verify`` are thin calls of these functions (``silspec.cli``);
``docs/api.md`` has a worked example. Everything here returns the same frozen objects the stages pass each other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from silspec.analysis.results import Results, RunsAggregate
from silspec.plan.model import Plan, PlanHeader
from silspec.prereg.lock import Lock, compute_lock, lock_path_for, write_lock
from silspec.prereg.verify import Verification, verify_run
from silspec.report.answers_table import answer_frame, write_answers
from silspec.report.export import (
    CSV_COLUMNS,
    DISTRIBUTION_COLUMNS,
    distribution_records,
    metric_records,
    usage_records,
)
from silspec.report.load import ReportError, analyse_run, analyse_runs, load_run
from silspec.report.output import Format, print_run_report, report_text, write_report
from silspec.run.errors import RunSetupError
from silspec.run.executor import RunListener
from silspec.run.records import AnswerRecord
from silspec.run.rundir import RunDirectory
from silspec.run.runner import (
    DryRunRow,
    RunSummary,
    compile_spec_plan,
    default_run_dir,
    dry_run,
    load_checked_spec,
)
from silspec.run import runner
from silspec.spec.model import Spec

PathLike = str | os.PathLike[str]


def load_spec(path: PathLike, *, overrides: Sequence[tuple[str, str]] | Mapping[str, str] = ()) -> Spec:
    """Parse and check a ``.sil`` file with optional ``--set``-style overrides.

    ``RunSetupError`` (with ``.diagnostics``) when the spec has errors or the file is missing.
    """
    return load_checked_spec(path, _pairs(overrides))


def make_plan(spec: Spec, *, conditions: Sequence[str] | None = None, limit: int | None = None,
              stream: bool = False) -> Plan:
    """The spec's plan; ``limit`` cuts the same pilot as ``silspec run --limit``. ``stream``: the
    requests are compiled again on each pass instead of held (``silspec.plan.stream``; no
    indexing), for plans too large for memory."""
    return compile_spec_plan(spec, conditions, limit, stream=stream)


def run_plan(
    plan: Plan,
    out: PathLike,
    *,
    spec: Spec | None = None,
    fresh: bool = False,
    retry_errors: bool = False,
    listener: RunListener | None = None,
    env: Mapping[str, str] | None = None,
    durable: bool = False,
    conditions: Sequence[str] = (),
    limit: int | None = None,
    cache: PathLike | None = None,
    engine: Any = None,
) -> RunSummary:
    """Ask what ``plan`` still lacks into the run directory ``out`` (resumes; see ``RunSummary``).

    Pass the ``spec`` the plan came from so the directory gets its bundle (``silspec report``
    needs it); ``conditions``/``limit`` are recorded in the manifest. ``cache``: a results-cache
    folder shared across run directories (``silspec run --cache``). ``engine``: where to ask
    (None: this process; ``silspec.run.ray_engine.RayEngine(...)``: a Ray cluster, ``silspec
    run --engine ray``).
    """
    return runner.run_plan(plan, out, spec=spec, fresh=fresh, retry_errors=retry_errors,
                             conditions=conditions, limit=limit, listener=listener, env=env, durable=durable,
                             cache=cache, engine=engine)


def run_spec(
    spec: Spec | PathLike,
    *,
    out: PathLike | None = None,
    overrides: Sequence[tuple[str, str]] | Mapping[str, str] = (),
    conditions: Sequence[str] = (),
    limit: int | None = None,
    fresh: bool = False,
    retry_errors: bool = False,
    listener: RunListener | None = None,
    env: Mapping[str, str] | None = None,
    durable: bool = False,
) -> RunSummary:
    """Load (unless given a ``Spec``), plan and run into ``out`` (default ``runs/<study>/``)."""
    if not isinstance(spec, Spec):
        spec = load_spec(spec, overrides=overrides)
    elif overrides:
        raise ValueError("overrides apply when loading: pass them to load_spec, or pass a path")
    plan = make_plan(spec, conditions=list(conditions) or None, limit=limit, stream=True)
    return run_plan(plan, out if out is not None else default_run_dir(spec), spec=spec, fresh=fresh,
                    retry_errors=retry_errors, listener=listener, env=env, durable=durable,
                    conditions=tuple(conditions), limit=limit)


class Run:
    """A run directory: its spec, plan header, stored answers and analysis, read from disk alone."""

    def __init__(self, path: PathLike):
        self.directory = RunDirectory.at(path)
        if not self.directory.has_store():
            raise ReportError(f"{path} is not a silspec run directory (no store.sqlite)")
        self._loaded: tuple[Spec, list[AnswerRecord]] | None = None

    @property
    def path(self) -> Path:
        return self.directory.path

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def _load(self) -> tuple[Spec, list[AnswerRecord]]:
        if self._loaded is None:
            self._loaded = load_run(self.path)
        return self._loaded

    @property
    def spec(self) -> Spec:
        """The bundled spec, checked, with the run's overrides."""
        return self._load()[0]

    @property
    def plan_header(self) -> PlanHeader:
        """The latest plan's header (models, conditions, items, personas)."""
        return self.directory.read_plan_header()[0]

    def answers(self, *, frame: bool = False) -> Any:
        """Every stored answer as ``AnswerRecord`` objects; with ``frame=True`` the per-answer tidy
        table of the current plan as a pandas DataFrame: the same columns as ``silspec report
        --answers --format csv|parquet`` (``silspec.report.answers_table``; pandas is the optional
        extra ``silspec[data]``)."""
        if frame:
            return answer_frame(self.path)
        return list(self._load()[1])

    def manifests(self) -> list[dict[str, Any]]:
        """Every invocation that wrote to this directory, oldest first."""
        return self.directory.manifests()

    def results(self, *, benchmark: str | None = None) -> Results:
        """The analysis of the current plan's answers (what ``silspec report`` prints)."""
        return analyse_run(self.path, benchmark=benchmark)

    def metrics(self, *, frame: bool = False, benchmark: str | None = None) -> Any:
        """The per-item metric values, one row per condition × item × metric value × variant:
        the rows and columns of ``silspec report --format csv`` (numbers as numbers); a cell
        without values is one row with its ``reason``. A list of dicts, or a DataFrame."""
        return _table(metric_records(self.results(benchmark=benchmark)), CSV_COLUMNS, frame)

    def distributions(self, *, frame: bool = False, benchmark: str | None = None) -> Any:
        """Simulated and benchmark shares per condition × item × variant × code, with the code's
        label and the share's bootstrap interval (the JSON's ``items[].probs``, one row per code)."""
        return _table(distribution_records(self.results(benchmark=benchmark)), DISTRIBUTION_COLUMNS, frame)

    def usage(self, *, frame: bool = False) -> Any:
        """Tokens and cost per condition, with the price's source (the JSON's ``usage``)."""
        records = usage_records(self.results())
        return _table(records, tuple(records[0]) if records else (), frame)

    def report(self, format: Format = "text", *, benchmark: str | None = None) -> str:
        """The report as text: ``text``, ``json``, ``csv``, ``md`` or ``html``."""
        return report_text(self.results(benchmark=benchmark), format)

    def verify(self, lock: PathLike | None = None) -> Verification:
        """Check this run against a frozen spec's lock (``silspec verify``)."""
        return verify_run(self.path, lock)


def _table(records: list[dict[str, Any]], columns: Sequence[str], frame: bool) -> Any:
    if not frame:
        return records
    try:
        import pandas  # optional: only the frames need it
    except ImportError:
        raise ImportError("a DataFrame needs pandas: pip install 'silspec[data]'") from None
    return pandas.DataFrame.from_records(records, columns=list(columns))


def open_run(path: PathLike) -> Run:
    """A run directory, for reading: ``.answers()``, ``.metrics()``, ``.distributions()``,
    ``.usage()``, ``.results()``, ``.report()``, ``.verify()``."""
    return Run(path)


def analyse(run_dirs: PathLike | Sequence[PathLike], *, benchmark: str | None = None) -> Results | RunsAggregate:
    """The analysis of one run directory, or of several runs of one spec (mean, SD, n over runs)."""
    if isinstance(run_dirs, (str, os.PathLike)):
        return analyse_run(run_dirs, benchmark=benchmark)
    return analyse_runs(list(run_dirs), benchmark=benchmark)


def freeze(spec_path: PathLike) -> tuple[Lock, Path]:
    """Write ``SPEC.lock`` beside the spec (``silspec freeze``); returns the lock and its path."""
    spec = load_spec(spec_path)
    lock = compute_lock(spec)
    target = lock_path_for(spec_path)
    write_lock(lock, target)
    return lock, target


def _pairs(overrides: Sequence[tuple[str, str]] | Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    items = overrides.items() if isinstance(overrides, Mapping) else overrides
    return tuple((str(key), str(value)) for key, value in items)


__all__ = [
    "DryRunRow", "Format", "Plan", "ReportError", "Results", "Run", "RunSetupError", "RunSummary",
    "RunsAggregate", "Spec", "Verification", "analyse", "default_run_dir", "dry_run", "freeze",
    "load_spec", "make_plan", "open_run", "print_run_report", "run_plan", "run_spec", "verify_run",
    "write_answers", "write_report",
]
