"""Write a report: the analysed run as console text or one of the file formats, to a file or
stdout. ``silspec report RUN_DIR`` and the end of ``silspec run`` come through here.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from rich.console import Console

from silspec.analysis.results import Results, RunsAggregate
from silspec.report.console import print_report, print_runs_report
from silspec.report.export import runs_to_csv, runs_to_json, runs_to_markdown, to_csv, to_json, to_markdown
from silspec.report.html import runs_to_html, to_html
from silspec.report.load import ReportError, analyse_run, analyse_runs
from silspec.report.update_doc import update_doc as fill_doc

Format = Literal["text", "json", "csv", "md", "html"]
FORMATS: tuple[str, ...] = ("text", "json", "csv", "md", "html")

# format → (single-run writer, across-runs writer); "text" names the Rich printers, captured as
# plain text.
_WRITERS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "text": (print_report, print_runs_report),
    "json": (to_json, runs_to_json),
    "csv": (to_csv, runs_to_csv),
    "md": (to_markdown, runs_to_markdown),
    "html": (to_html, runs_to_html),
}


def print_run_report(run_dir: str | os.PathLike[str], console: Any = None, *, benchmark: str | None = None,
                     valid_only: bool = False) -> Results:
    """Print the report of ``run_dir`` (what ``silspec run`` ends with); returns the results."""
    results = analyse_run(run_dir, benchmark=benchmark)
    print_report(results, console or Console(), valid_only=valid_only)
    return results


def report_text(results: Results, format: Format) -> str:
    """The report as text in one of the file formats."""
    return _text_with(results, format, across_runs=False)


def runs_report_text(aggregate: RunsAggregate, format: Format) -> str:
    """The across-runs report (``RunsAggregate``) as text in one of the formats."""
    return _text_with(aggregate, format, across_runs=True)


def _text_with(report: Any, format: str, *, across_runs: bool) -> str:
    """One dispatch for both reports, so a new format cannot reach one and miss the other."""
    if format not in _WRITERS:
        raise ReportError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    single_run, runs = _WRITERS[format]
    writer = runs if across_runs else single_run
    if format != "text":
        return writer(report)
    buffer = io.StringIO()
    writer(report, Console(file=buffer, width=140, force_terminal=False, no_color=True))
    return buffer.getvalue()


def write_report(
    run_dir: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    format: Format = "text",
    out: str | os.PathLike[str] | None = None,
    update_doc: str | os.PathLike[str] | None = None,
    benchmark: str | None = None,
    valid_only: bool = False,
    console: Any = None,
) -> Results | RunsAggregate:
    """Analyse ``run_dir`` and write the report: to ``out`` or the console (text) / stdout.

    Several run directories (a list of two or more) are aggregated over runs instead: each
    metric's mean, SD and n (``RunsAggregate``); one directory gives ``Results`` as before.
    """
    if not isinstance(run_dir, (str, os.PathLike)):
        run_dirs = list(run_dir)
        if not run_dirs:
            raise ReportError("no run directory given")
        if len(run_dirs) > 1:
            return _write_runs_report(run_dirs, format=format, out=out, update_doc=update_doc,
                                      benchmark=benchmark, console=console)
        run_dir = run_dirs[0]
    results = analyse_run(run_dir, benchmark=benchmark)
    if update_doc is not None:
        fill_doc(update_doc, results)
    if format == "text" and out is None:
        print_report(results, console or Console(), valid_only=valid_only)
        return results
    _write(report_text(results, format), out)
    return results


def _write_runs_report(run_dirs, *, format, out, update_doc, benchmark, console) -> RunsAggregate:
    aggregate = analyse_runs(run_dirs, benchmark=benchmark)
    if update_doc is not None:
        fill_doc(update_doc, aggregate)
    if format == "text" and out is None:
        print_runs_report(aggregate, console or Console())
        return aggregate
    _write(runs_report_text(aggregate, format), out)
    return aggregate


def _write(text: str, out: str | os.PathLike[str] | None) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        Path(out).write_text(text, encoding="utf-8")
