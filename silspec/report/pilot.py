"""The pilot's verdict table (``silspec pilot``): one row per condition × item, the interval the
verdict read, every reason behind a no-go or inconclusive, and the cost of what it gates."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from silspec.analysis.pilot import PilotResult

_STYLE = {"go": "bold green", "no-go": "bold red", "inconclusive": "yellow"}


def print_pilot(result: PilotResult, console: Console) -> None:
    c = result.criteria
    level = f"{c.level * 100:g}%"
    console.print(
        f"pilot of {result.study}: {c.personas} personas per item x condition; go when the JS {level} CI"
        f" (persona bootstrap, {c.resamples:,} resamples) lies below js_max {c.js_max:g}, no-go when above it;"
        f" valid rate >= {c.valid_min:g}; modal share <= {c.modal_max:g}",
        highlight=False, soft_wrap=True,
    )
    for condition in dict.fromkeys(v.condition for v in result.verdicts):
        table = Table(title=f"{condition}: pilot verdicts", title_justify="left")
        for column, justify in (("item", "left"), ("valid", "right"), ("modal", "right"), ("JS", "right"),
                                (f"{level} CI", "right"), ("verdict", "left")):
            table.add_column(column, justify=justify, no_wrap=column != "item")
        rows = [v for v in result.verdicts if v.condition == condition]
        for v in rows:
            modal = "–" if v.modal_share is None else f"{v.modal_code}: {v.modal_share:.2f}"
            js = "–" if v.js is None else f"{v.js:.3f}"
            ci = "–" if v.js_low is None or v.js_high is None else f"[{v.js_low:.3f}, {v.js_high:.3f}]"
            table.add_row(v.label, f"{v.answered}/{v.planned}", modal, js, ci,
                          f"[{_STYLE[v.verdict]}]{v.verdict}[/]")
        console.print(table)
        for v in rows:
            for reason in v.reasons:
                console.print(f"  {v.label} ({v.verdict}): {reason}", highlight=False, soft_wrap=True)
    counts = {k: sum(1 for v in result.verdicts if v.verdict == k) for k in ("go", "no-go", "inconclusive")}
    console.print(f"{counts['go']} go, {counts['no-go']} no-go, {counts['inconclusive']} inconclusive"
                  f" of {len(result.verdicts)} condition x item cells", highlight=False)
    print_gate_costs(result, console)


def print_gate_costs(result: PilotResult, console: Console) -> None:
    """What the full run still asks, and what it asks gated to the go items."""
    if not result.costs:
        return
    table = Table(title="the full run this pilot gates (run --dry-run's estimate)", title_justify="left")
    for column in ("condition", "requests", "to ask", "≈ cost", "go only: to ask", "≈ cost "):
        table.add_column(column, justify="left" if column == "condition" else "right", no_wrap=True)
    for cost in result.costs:
        table.add_row(cost.condition, f"{cost.requests:,}", f"{cost.to_ask:,}", _money(cost.cost),
                      f"{cost.gated_to_ask:,}", _money(cost.gated_cost))
    console.print(table)
    if any(cost.cost is None for cost in result.costs):
        console.print("≈ cost n/a: the model declares no price_input_per_mtok (see docs/backends.md)",
                      highlight=False, soft_wrap=True)


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.4f}"
