"""Live progress for `silspec run`: one Rich bar per condition, and the end-of-run summary.

The listener only counts and draws; it never decides anything, so a run behaves the same with
``--quiet`` (``QuietListener``: warnings and model stops still reach stderr).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from silspec.run.executor import RunListener

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from silspec.plan.model import Request
    from silspec.run.records import AnswerRecord
    from silspec.run.runner import DryRunRow, RunSummary


class QuietListener(RunListener):
    """No bars; only what must not be missed (a model stopped, a provider that changed)."""

    def __init__(self, console: "Console"):
        self.console = console

    def on_model_stopped(self, model: str, message: str) -> None:
        self.console.print(f"[bold red]stopped[/] {message}", highlight=False)

    def on_warning(self, message: str) -> None:
        self.console.print(f"[yellow]warning[/] {message}", highlight=False)


class RichProgress(QuietListener):
    """A bar per condition: done/total (already stored counts as done), rate, ETA, errors."""

    def __init__(self, console: "Console"):
        super().__init__(console)
        from rich.progress import (
            BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[errors]}"),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, int] = {}
        self._errors: dict[str, int] = {}

    def on_start(self, totals: Mapping[str, int], pending: Mapping[str, int]) -> None:
        for condition, total in totals.items():
            done = total - pending.get(condition, 0)
            self._tasks[condition] = self._progress.add_task(
                condition, total=total, completed=done, rate="", errors=""
            )
            self._errors[condition] = 0
        self._progress.start()

    def on_answer(self, record: "AnswerRecord") -> None:
        task_id = self._tasks.get(record.condition)
        if task_id is None:
            return
        if record.outcome == "error":
            self._errors[record.condition] += 1
        task = self._progress.tasks[task_id]
        speed = task.speed
        errors = self._errors[record.condition]
        self._progress.update(
            task_id,
            advance=1,
            rate=f"{speed:.1f} req/s" if speed else "",
            errors=f"[red]{errors} errors[/]" if errors else "",
        )

    def on_skipped(self, request: "Request", reason: str) -> None:
        pass  # reported once per model by on_model_stopped

    def on_model_stopped(self, model: str, message: str) -> None:
        self._progress.console.print(f"[bold red]stopped[/] {message}", highlight=False)

    def on_warning(self, message: str) -> None:
        self._progress.console.print(f"[yellow]warning[/] {message}", highlight=False)

    def on_finish(self) -> None:
        self._progress.stop()


def print_summary(summary: "RunSummary", console: "Console") -> None:
    from rich.table import Table

    table = Table(title=f"run {summary.study} → {summary.run_dir}", title_justify="left")
    for column in ("condition", "model", "total", "before", "asked", "ok", "invalid",
                   "errors", "skipped", "missing"):
        table.add_column(column, justify="left" if column in ("condition", "model") else "right")
    for c in summary.conditions:
        table.add_row(c.condition, c.model, str(c.total), str(c.already), str(c.asked), str(c.ok),
                      str(c.invalid), _red(c.stored_errors), str(c.skipped), _red(c.missing))
    console.print(table)
    if summary.backup:
        console.print(f"previous store moved to {summary.backup}")
    for model, message in summary.stopped_models.items():
        console.print(f"[bold red]model {model} stopped:[/] {message}", highlight=False)
    for warning in summary.warnings:
        console.print(f"[yellow]warning[/] {warning}", highlight=False)
    if summary.interrupted:
        console.print("[bold]interrupted[/]: every answer received so far is stored; rerun to resume.")
    elif summary.missing or summary.errors:
        hint = "rerun to ask what is missing" if summary.missing else ""
        if summary.errors:
            hint += ("; " if hint else "") + "`--retry-errors` asks failed requests again"
        console.print(f"[bold yellow]incomplete[/]: {summary.errors} errors, {summary.missing} missing — {hint}")
    else:
        console.print(f"[bold green]complete[/]: {summary.total} requests answered.")
    if summary.recorded_errors and not summary.interrupted:
        console.print(
            f"[yellow]{summary.recorded_errors} errors were replayed from the recorded data[/]"
            " (failures of the original run, kept as errors; the report shows how they are scored)",
            highlight=False,
        )


def print_dry_run(rows: "list[DryRunRow]", console: "Console", run_dir: str) -> None:
    from rich.table import Table

    from silspec.run.runner import BYTES_PER_STORED_ANSWER

    table = Table(title=f"dry run → {run_dir}", title_justify="left")
    for column in ("condition", "model", "backend", "requests", "stored", "to ask",
                   "≈ prompt tokens", "≈ cost"):
        table.add_column(column, justify="left" if column in ("condition", "model", "backend") else "right")
    for row in rows:
        cost = f"{row.cost:.4f}" if row.cost is not None else "n/a"
        table.add_row(row.condition, row.model, row.backend, str(row.requests), str(row.answered),
                      str(row.to_ask), f"{row.prompt_tokens:,}", cost)
    console.print(table)
    to_ask = sum(r.to_ask for r in rows)
    duplicates = sum(r.duplicates for r in rows)
    if duplicates:
        console.print(
            f"[yellow]note[/]: {duplicates} plan rows repeat an earlier request exactly (same prompt,"
            " parameters, replicate and seed); each is asked once and shares its answer.",
            highlight=False,
        )
    console.print(
        f"{to_ask:,} requests to ask, ≈ {sum(r.prompt_tokens for r in rows):,} prompt tokens,"
        f" store grows by ≈ {to_ask * BYTES_PER_STORED_ANSWER / 1e6:.1f} MB."
        " Costs need model options price_input_per_mtok / price_output_per_mtok.",
        highlight=False,
    )


def _red(value: int) -> str:
    return f"[red]{value}[/]" if value else "0"
