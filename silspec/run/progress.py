"""Live progress for `silspec run`: one Rich bar per condition, and the end-of-run summary.

The listener only counts and draws; it never decides anything, so a run behaves the same with
``--quiet`` (``QuietListener``: warnings and model stops still reach stderr).
"""

from __future__ import annotations

from typing import Mapping, TYPE_CHECKING

from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from silspec.run.costs import HOW_TO_SET_PRICES
from silspec.run.error_groups import TOP_MESSAGES
from silspec.run.executor import RunListener
from silspec.run.runner import BYTES_PER_STORED_ANSWER


if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from silspec.plan.model import Request
    from silspec.run.records import AnswerRecord
    from silspec.run.costs import ModelCost
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
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[errors]}"),
            TextColumn("[yellow]{task.fields[status]}"),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, int] = {}
        self._errors: dict[str, int] = {}

    def on_start(self, totals: Mapping[str, int], pending: Mapping[str, int]) -> None:
        for condition, total in totals.items():
            done = total - pending.get(condition, 0)
            self._tasks[condition] = self._progress.add_task(
                condition, total=total, completed=done, rate="", errors="", status=""
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

    def on_status(self, model: str, conditions, text: str | None) -> None:
        """"loading ..." / "waiting 20 s: rate limited" beside the model's bars; None clears."""
        for condition in conditions:
            task_id = self._tasks.get(condition)
            if task_id is not None:
                self._progress.update(task_id, status=text or "")

    def on_model_stopped(self, model: str, message: str) -> None:
        self._progress.console.print(f"[bold red]stopped[/] {message}", highlight=False)

    def on_warning(self, message: str) -> None:
        self._progress.console.print(f"[yellow]warning[/] {message}", highlight=False)

    def on_finish(self) -> None:
        self._progress.stop()


def print_summary(summary: "RunSummary", console: "Console") -> None:
    table = Table(title=f"run {summary.study} → {summary.run_dir}", title_justify="left")
    cells = {
        "condition": lambda c: c.condition, "model": lambda c: c.model,
        "total": lambda c: str(c.total), "before": lambda c: str(c.already),
        "asked": lambda c: str(c.asked), "answered": lambda c: str(c.ok),
        "invalid": lambda c: str(c.invalid), "errors": lambda c: _red(c.stored_errors),
        "skipped": lambda c: str(c.skipped), "missing": lambda c: _red(c.missing),
    }
    counts = {"before": "already", "invalid": "invalid", "skipped": "skipped", "missing": "missing"}
    # "answered" / "invalid" / "errors" = the stored outcomes (docs/design/answer-outcomes.md),
    # "invalid" counting refusals too;
    # columns that are zero in every row say nothing: leaving them out keeps 80 columns readable.
    shown = [name for name in cells
             if name not in counts or any(getattr(c, counts[name]) for c in summary.conditions)]
    for name in shown:
        if name in ("condition", "model"):
            table.add_column(name, justify="left", overflow="fold")
        else:
            table.add_column(name, justify="right", no_wrap=True)
    for c in summary.conditions:
        table.add_row(*(cells[name](c) for name in shown))
    console.print(table)
    if summary.backup:
        console.print(f"previous store moved to {summary.backup}")
    for model, message in summary.stopped_models.items():
        if model in summary.preflight:
            console.print(f"[bold red]model {model} stopped before asking anything:[/] its preflight"
                          f" check found {len(summary.preflight[model])} problem(s) (listed below)",
                          highlight=False)
        else:
            console.print(f"[bold red]model {model} stopped:[/] {message}", highlight=False)
    for warning in summary.warnings:
        console.print(f"[yellow]warning[/] {warning}", highlight=False)
    own_groups = [g for g in summary.error_groups if not g.recorded]
    if own_groups:
        print_error_groups(own_groups, console, title="errors of this run, by message")
    if summary.interrupted:
        console.print("[bold]interrupted[/]: every answer received so far is stored; rerun to resume.")
    elif summary.store_failure:
        console.print(f"[bold red]stopped: the results store failed[/]: {summary.store_failure}",
                      highlight=False)
    elif summary.missing or summary.errors:
        console.print(f"[bold yellow]incomplete[/]: {summary.errors} errors, {summary.missing} missing"
                      f" — {incomplete_hint(summary)}", highlight=False)
    else:
        console.print(f"[bold green]complete[/]: {summary.total} requests answered.")
    if summary.recorded_errors and not summary.interrupted:
        console.print(
            f"[yellow]{summary.recorded_errors} errors were replayed from the recorded data[/]"
            " (failures of the original run, kept as errors; the report shows how they are scored)",
            highlight=False,
        )
        recorded = [g for g in summary.error_groups if g.recorded]
        print_error_groups(recorded, console, title="recorded errors, by message")


def print_store_failure(summary: "RunSummary", console: "Console") -> None:
    """The store stopped the run: loud, with what to do. Nothing stored before it is lost."""
    body = Text()
    body.append(f"{summary.store_failure}\n", style="bold")
    body.append("Every model was stopped at once: no request is sent while its answer cannot be"
                " stored. The answers stored before the failure are kept; fix the cause (free"
                " disk space, permissions, restore the file) and rerun to ask what is missing.")
    console.print(Panel(body, title="the results store failed", border_style="bold red",
                        title_align="left"))


def incomplete_hint(summary: "RunSummary") -> str:
    """What to do next: rerun for missing rows; retry only what a retry can fix."""
    hints = []
    if summary.preflight:
        hints.append("fix the preflight problems (listed below), then rerun")
    elif summary.missing:
        hints.append("rerun to ask what is missing")
    if summary.errors:
        if summary.retry_may_help:
            hints.append("some errors look transient (rate limits, server errors, timeouts):"
                         " `--retry-errors` asks failed requests again")
        else:
            hints.append("the errors are permanent (a retry gives the same answer): fix the cause"
                         " and rerun with `--retry-errors`")
    return "; ".join(hints)


def print_error_groups(groups, console: "Console", *, title: str) -> None:
    """The most frequent error messages with counts, so the cause is visible at a glance."""
    if not groups:
        return
    console.print(f"[bold]{title}[/] (top {min(TOP_MESSAGES, len(groups))} of {len(groups)}):",
                  highlight=False)
    for group in groups[:TOP_MESSAGES]:
        kind = "transient" if group.transient else ("recorded" if group.recorded else "permanent")
        console.print(f"  {group.count:>6} × [dim]({kind})[/] {_short(group.message)}", highlight=False,
                      markup=True)
    rest = sum(g.count for g in groups[TOP_MESSAGES:])
    if rest:
        console.print(f"  {rest:>6} × other messages", highlight=False)


def print_preflight(summary: "RunSummary", console: "Console") -> None:
    """Preflight problems, loud: a model asked nothing because its data cannot answer the plan."""
    body = Text()
    for model, problems in summary.preflight.items():
        body.append(f"model {model}: nothing was asked\n", style="bold")
        for problem in problems:
            body.append(f"  - {problem}\n")
    console.print(Panel(body, title="preflight check failed", border_style="bold red",
                        title_align="left"))


def _short(message: str, limit: int = 300) -> str:
    one_line = " ".join(message.split())
    return escape(one_line if len(one_line) <= limit else one_line[: limit - 1] + "…")


def print_dry_run(rows: "list[DryRunRow]", console: "Console", run_dir: str,
                  costs: "list[ModelCost] | None" = None) -> None:
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
        f" store grows by ≈ {to_ask * BYTES_PER_STORED_ANSWER / 1e6:.1f} MB.",
        highlight=False,
    )
    print_costs(costs or [], console)


def print_costs(costs: "list[ModelCost]", console: "Console") -> None:
    """One estimate line per priced model; say how to set prices for the others."""
    for cost in costs:
        if not cost.priced:
            continue
        output = ("output not counted: no price_output_per_mtok" if cost.price_output_per_mtok is None
                  else "output not counted: no max_tokens" if not cost.completion_tokens
                  else f"≤ {cost.completion_tokens:,} output tokens × {cost.price_output_per_mtok:g}/Mtok")
        currency = f" {cost.currency}" if cost.currency else ""
        console.print(
            f"≈ cost {cost.model}: {cost.cost:,.4f}{currency} ({cost.calls:,} calls; ≈ {cost.prompt_tokens:,}"
            f" prompt tokens × {cost.price_input_per_mtok:g}/Mtok; {output}; price: {cost.price_source},"
            f" {cost.price_detail})",
            highlight=False,
        )
    for cost in costs:
        if not cost.priced and cost.calls:
            console.print(f"no cost estimate for {cost.model}: {cost.price_detail}; {HOW_TO_SET_PRICES}.",
                          highlight=False)


def _red(value: int) -> str:
    return f"[red]{value}[/]" if value else "0"
