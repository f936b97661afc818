"""A run directory in, a report out: ``silspec report RUN_DIR`` and the end of ``silspec run``.

The run directory is self-contained (see ``silspec.run.runner``): ``bundle/`` holds the spec and
its files, ``plan_header.json`` names the spec and the ``--set`` overrides the run used, and the
store holds the answers. The report is recomputed from those alone: re-parsing, never re-asking.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, Sequence

from silspec.analysis.results import Results

Format = Literal["text", "json", "csv", "md", "html"]
FORMATS: tuple[str, ...] = ("text", "json", "csv", "md", "html")
BUNDLE_DIR = "bundle"
PLAN_HEADER_FILE = "plan_header.json"


class ReportError(Exception):
    """The run directory cannot be reported on: no store, no bundled spec, a spec that fails."""


class ReportUsageError(ReportError):
    """The command line asks for something the spec does not have (``--benchmark nope``)."""


def find_bundled_spec(run_dir: str | os.PathLike[str]) -> tuple[Path, tuple[tuple[str, str], ...]]:
    """(path of the bundled .sil, the run's overrides).

    The plan header names the spec; failing that the store's latest manifest; failing that the
    bundle must hold exactly one ``.sil`` file.
    """
    run_dir = Path(run_dir)
    bundle = run_dir / BUNDLE_DIR
    spec_path, overrides = _from_plan_header(run_dir)
    if spec_path is None:
        spec_path, overrides = _from_manifest(run_dir)
    if spec_path is not None:
        candidate = (bundle / spec_path).resolve()
        if bundle.resolve() not in candidate.parents:
            raise ReportError(f"{run_dir}: the recorded spec path {spec_path!r} leaves the bundle")
        if candidate.is_file():
            return candidate, overrides
    found = sorted(bundle.rglob("*.sil")) if bundle.is_dir() else []
    if len(found) == 1:
        return found[0], overrides
    if not found:
        raise ReportError(f"{run_dir} holds no spec bundle ({bundle}/*.sil is missing)")
    raise ReportError(
        f"{run_dir}: the bundle holds {len(found)} .sil files and nothing says which one ran: "
        + ", ".join(str(p.relative_to(bundle)) for p in found)
    )


def _from_plan_header(run_dir: Path) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    path = run_dir / PLAN_HEADER_FILE
    if not path.is_file():
        return None, ()
    try:
        header = json.loads(path.read_text(encoding="utf-8")).get("header", {})
    except (OSError, json.JSONDecodeError, AttributeError):
        return None, ()
    return header.get("spec_path"), tuple(tuple(pair) for pair in header.get("overrides") or ())


def _from_manifest(run_dir: Path) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    try:
        with _open_store(run_dir) as store:
            manifests = store.manifests()
    except ReportError:
        return None, ()
    for manifest in reversed(manifests):
        if manifest.get("spec_path"):
            return manifest["spec_path"], tuple(tuple(p) for p in manifest.get("overrides") or ())
    return None, ()


def _open_store(run_dir: Path):
    from silspec.run.store import Store, StoreError

    try:
        return Store.open(run_dir, create=False)
    except StoreError as error:
        raise ReportError(str(error)) from error


def load_run(run_dir: str | os.PathLike[str]) -> tuple[Any, list[Any]]:
    """(checked spec, stored answers) of a run directory."""
    from silspec.spec.load import load_spec

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir} is not a directory")
    spec_path, overrides = find_bundled_spec(run_dir)
    # the bundle is the spec tree: its files sit at their paths relative to the project root
    loaded = load_spec(
        str(spec_path),
        overrides=tuple(f"{key}={value}" for key, value in overrides),
        root=str((run_dir / BUNDLE_DIR).resolve()),
    )
    if not loaded.ok:
        errors = [d for d in loaded.diagnostics if getattr(d, "severity", "error") == "error"]
        first = "; ".join(str(getattr(d, "message", d)) for d in errors[:3])
        raise ReportError(f"the bundled spec {spec_path} does not check: {first}")
    with _open_store(run_dir) as store:
        answers = list(store.iter_answers())
    return loaded.spec, answers


def current_plan_ids(run_dir: str | os.PathLike[str], spec: Any) -> tuple[frozenset[str] | None, str]:
    """(request ids of the run directory's current plan, why not) — ``(None, reason)`` if unknown.

    Why recompile rather than read the store's ``requests`` table: that table keeps the *first*
    invocation that asked an id, so it cannot list the latest plan's ids. The bundle and
    ``plan_header.json`` are rewritten by every run, so recompiling the bundled spec with its
    overrides gives the latest plan; it is trusted only when it reproduces the plan hash the run
    recorded. The ids returned are those of *every* condition without ``--limit``, so runs that
    did one condition at a time into one directory all count as current.
    """
    recorded = _recorded_plan(Path(run_dir))
    if recorded is None:
        return None, f"{PLAN_HEADER_FILE} records no plan hash"
    plan_hash, conditions, limit = recorded
    try:
        ids, run_hash = _plan_ids_of(spec, conditions, limit)
    except Exception as error:  # noqa: BLE001 - a plan that does not compile here (missing external input, ...)
        return None, f"the bundled spec's plan does not compile here ({error})"
    if run_hash != plan_hash:
        return None, "the recompiled plan differs from the one the run recorded (another silspec version?)"
    return ids, ""


def _plan_ids_of(
    spec: Any, conditions: Sequence[str], limit: int | None
) -> tuple[frozenset[str], str]:
    """(ids of the spec's whole plan, hash of the plan with ``conditions`` and ``limit``).

    The hash is what a run with those options recorded, so a caller can check that this
    recompilation reproduces it before trusting the ids. Both go through the runner's own
    ``compile_spec_plan``, so a ``--limit`` is cut exactly as the run cut it.
    """
    from silspec.run.runner import compile_spec_plan

    full = compile_spec_plan(spec, None, None)
    ids = frozenset(request.id for request in full.requests)
    if list(conditions) == list(full.header.conditions) and limit is None:
        return ids, full.plan_hash
    return ids, compile_spec_plan(spec, list(conditions), limit).plan_hash


def _recorded_plan(run_dir: Path) -> tuple[str, tuple[str, ...], int | None] | None:
    """(plan hash, conditions, limit) of the latest run, from ``plan_header.json``."""
    try:
        data = json.loads((run_dir / PLAN_HEADER_FILE).read_text(encoding="utf-8"))
        header = data.get("header") or {}
        plan_hash = data.get("plan_hash")
        conditions = tuple(header.get("conditions") or ())
        limit = header.get("limit")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    if not isinstance(plan_hash, str) or not conditions:
        return None
    return plan_hash, conditions, limit if isinstance(limit, int) else None


def _plans_in_store(run_dir: Path) -> set[str]:
    """Distinct plan hashes of every invocation recorded in the store's manifest."""
    try:
        with _open_store(run_dir) as store:
            return {m["plan_hash"] for m in store.manifests() if m.get("plan_hash")}
    except ReportError:
        return set()


def _one_complete_plan(run_dir: Path, spec: Any, plans: set[str], n_answers: int) -> bool:
    """Every invocation ran the recorded plan, that plan is the whole spec (every condition, no
    ``--limit``) and the store holds an answer per request.

    Then every stored answer is the current plan's, and a large plan (720,000 WVS requests)
    need not be recompiled just to confirm it.
    """
    recorded = _recorded_plan(run_dir)
    if recorded is None or plans != {recorded[0]}:
        return False
    _, conditions, limit = recorded
    if limit is not None or set(conditions) != set(spec.conditions):
        return False
    try:
        n_requests = json.loads((run_dir / PLAN_HEADER_FILE).read_text(encoding="utf-8")).get("n_requests")
    except (OSError, json.JSONDecodeError, AttributeError):
        return False
    return isinstance(n_requests, int) and n_answers == n_requests


def analyse_run(run_dir: str | os.PathLike[str], *, benchmark: str | None = None) -> Results:
    """Analyse the answers of the run directory's current plan (see ``current_plan_ids``)."""
    from attrs import evolve

    from silspec.analysis.pipeline import UnknownBenchmarkError, analyse, check_benchmark_name
    from silspec.analysis.results import Warning

    spec, answers = load_run(run_dir)
    try:
        check_benchmark_name(spec, benchmark)
    except UnknownBenchmarkError as error:
        raise ReportUsageError(str(error)) from error
    if not answers:
        raise ReportError(f"{run_dir}: the store holds no answers yet")
    plans = _plans_in_store(Path(run_dir))
    if _one_complete_plan(Path(run_dir), spec, plans, len(answers)):
        plan_ids, why = None, ""  # nothing can be superseded or missing: skip recompiling
    else:
        plan_ids, why = current_plan_ids(run_dir, spec)
    results = analyse(spec, answers, benchmark=benchmark, plan_ids=plan_ids)
    if plan_ids is None and len(plans) > 1:
        mixed = Warning(
            kind="plans_mixed",
            severity="high",
            message=f"this run directory was run with {len(plans)} different plans and the current one "
            f"cannot be told apart: {why}; all {len(answers)} stored answers are scored together, which "
            "mixes runs if the spec or a --set changed between them",
        )
        results = evolve(results, warnings=(mixed, *results.warnings))
    return results


def render_console(run_dir: str | os.PathLike[str], console: Any = None, *, benchmark: str | None = None, valid_only: bool = False) -> Results:
    """Print the report of ``run_dir`` (what ``silspec run`` ends with); returns the results."""
    from rich.console import Console

    from silspec.report.console import print_report

    results = analyse_run(run_dir, benchmark=benchmark)
    print_report(results, console or Console(), valid_only=valid_only)
    return results


# format → (module, single-run function, across-runs function); imported only when that format
# is asked for, so `lint` stays fast. "text" names the Rich printers, captured as plain text.
_RENDERERS = {
    "text": ("silspec.report.console", "print_report", "print_runs_report"),
    "json": ("silspec.report.export", "to_json", "runs_to_json"),
    "csv": ("silspec.report.export", "to_csv", "runs_to_csv"),
    "md": ("silspec.report.export", "to_markdown", "runs_to_markdown"),
    "html": ("silspec.report.html", "to_html", "runs_to_html"),
}


def render(results: Results, format: Format) -> str:
    """The report as text in one of the file formats."""
    return _render_with(results, format, across_runs=False)


def render_runs(aggregate: Any, format: Format) -> str:
    """The across-runs report (``RunsAggregate``) as text in one of the formats."""
    return _render_with(aggregate, format, across_runs=True)


def _render_with(report: Any, format: str, *, across_runs: bool) -> str:
    """One dispatch for both reports, so a new format cannot reach one and miss the other."""
    import importlib

    if format not in _RENDERERS:
        raise ReportError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    module, single_run, runs = _RENDERERS[format]
    renderer = getattr(importlib.import_module(module), runs if across_runs else single_run)
    if format != "text":
        return renderer(report)
    import io

    from rich.console import Console

    buffer = io.StringIO()
    renderer(report, Console(file=buffer, width=140, force_terminal=False, no_color=True))
    return buffer.getvalue()


def analyse_runs(run_dirs: Sequence[str | os.PathLike[str]], *, benchmark: str | None = None) -> Any:
    """Several run directories of one spec (different ``study.seed``) → ``RunsAggregate``."""
    from silspec.analysis.across_runs import aggregate_runs

    results = [analyse_run(run_dir, benchmark=benchmark) for run_dir in run_dirs]
    try:
        return aggregate_runs(results, [str(run_dir) for run_dir in run_dirs])
    except ValueError as error:
        raise ReportError(str(error)) from error


def report_run_dir(
    run_dir: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    format: Format = "text",
    out: str | os.PathLike[str] | None = None,
    update_doc: str | os.PathLike[str] | None = None,
    benchmark: str | None = None,
    valid_only: bool = False,
    console: Any = None,
) -> Any:
    """Analyse ``run_dir`` and write the report: to ``out`` or the console (text) / stdout.

    Several run directories (a list of two or more) are aggregated over runs instead: each
    metric's mean, SD and n (``RunsAggregate``); one directory gives ``Results`` as before.
    """
    import sys

    if not isinstance(run_dir, (str, os.PathLike)):
        run_dirs = list(run_dir)
        if not run_dirs:
            raise ReportError("no run directory given")
        if len(run_dirs) > 1:
            return _report_runs(run_dirs, format=format, out=out, update_doc=update_doc, benchmark=benchmark, console=console)
        run_dir = run_dirs[0]
    results = analyse_run(run_dir, benchmark=benchmark)
    if update_doc is not None:
        from silspec.report.update_doc import update_doc as fill

        fill(update_doc, results)
    if format == "text" and out is None:
        from rich.console import Console

        from silspec.report.console import print_report

        print_report(results, console or Console(), valid_only=valid_only)
        return results
    _write(render(results, format), out)
    return results


def _report_runs(run_dirs, *, format, out, update_doc, benchmark, console) -> Any:
    aggregate = analyse_runs(run_dirs, benchmark=benchmark)
    if update_doc is not None:
        from silspec.report.update_doc import update_doc as fill

        fill(update_doc, aggregate)
    if format == "text" and out is None:
        from rich.console import Console

        from silspec.report.console import print_runs_report

        print_runs_report(aggregate, console or Console())
        return aggregate
    _write(render_runs(aggregate, format), out)
    return aggregate


def _write(text: str, out: str | os.PathLike[str] | None) -> None:
    import sys

    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        Path(out).write_text(text, encoding="utf-8")
