"""Number formatting and table content shared by every report writer (console, Markdown, HTML).

One place decides how a JS value, a p-value or a share is written, so the console, the
Markdown blocks of a manuscript and the HTML page never disagree.
"""

from __future__ import annotations

import math
from typing import Sequence

from silspec.analysis.compliance import Compliance
from silspec.analysis.results import ComparisonResult, ItemMetrics, Results, SubgroupRow

# Value keys shown in the per-item tables, in order, with their column titles.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("js", "JS"),
    ("ks_statistic", "KS D"),
    ("ks_pvalue", "KS p"),
    ("chi2_statistic", "χ²"),
    ("chi2_pvalue", "χ² p"),
    ("wasserstein", "W1"),
    ("mae", "MAE"),
    ("variance_gap", "Δ norm. var."),
    ("accuracy", "mode ok"),
    ("emd_values_paper", "EMD (paper)"),
)


def answers_text(study) -> str:
    """How many answers the report scored, and how many of a superseded plan it left out."""
    if not getattr(study, "n_superseded", 0):
        return f"{study.n_answers} stored answers"
    return (
        f"{study.n_answers} stored answers of the current plan "
        f"({study.n_superseded} of a superseded plan left out)"
    )


def number(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}"


def pvalue(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    if value < 1e-3:
        return f"{value:.1e}"
    return f"{value:.3f}"


def percent(share: float | None, digits: int = 0) -> str:
    if share is None or math.isnan(share):
        return "–"
    return f"{share * 100:.{digits}f} %"


def value_cell(key: str, value: float | None) -> str:
    if key.endswith("pvalue"):
        return pvalue(value)
    if key == "accuracy":
        return "–" if value is None or math.isnan(value) else ("yes" if value >= 1 else "no")
    if key == "chi2_statistic":
        return number(value, 1)
    return number(value)


def with_interval(row: ItemMetrics | SubgroupRow, key: str) -> str:
    """A metric's cell with its bootstrap interval, for an item's row or a subgroup's."""
    text = value_cell(key, row.values.get(key))
    interval = row.intervals.get(key)
    if interval is not None:
        text += f" [{number(interval.low)}, {number(interval.high)}]"
    return text


# The JS column says which form it holds when it is not the divergence (docs/metrics.md): 0.77
# under "JS" would read as a (bad) divergence when it is the paper's 1 - JS distance.
JS_TITLES = {"distance": "JS dist.", "one_minus_divergence": "1−JSD", "one_minus_distance": "1−JS dist."}


def columns_for(rows: Sequence[ItemMetrics], metric_options: dict | None = None) -> list[tuple[str, str]]:
    present = {key for row in rows for key in row.values}
    form = ((metric_options or {}).get("js") or {}).get("form", "divergence")
    return [(key, JS_TITLES.get(form, title) if key == "js" else title) for key, title in COLUMNS if key in present]


def item_label(row: ItemMetrics) -> str:
    return f"{row.code}/{row.country}" if row.country else row.code


def compliance_for(results: Results, condition: str, item: str, country: str | None = None):
    for row in results.compliance:
        if (row.condition, row.item, row.country) == (condition, item, country):
            return row
    return None


def improvement_text(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value * 100:+.1f} %"


def average_label(comparison: ComparisonResult) -> str:
    """``average (3/4 improved)``, or ``average over 1 of 4 items (1/1 improved)`` when cells are
    missing on one side: an average never hides what it leaves out."""
    compared = len(comparison.rows)
    improved = f"{comparison.n_improved}/{compared} improved"
    if comparison.uncovered:
        return f"average over {compared} of {comparison.n_cells} {comparison.unit} ({improved})"
    return f"average ({improved})"


def uncovered_cells(comparison: ComparisonResult, key: str) -> list[list[str]]:
    """One n/a row per cell that one side has and the other lacks: [item, a or n/a, b or n/a, n/a].
    Cells neither side has are counted in the average's "of n" and listed in ``uncovered_note``."""
    def shown(value: float | None) -> str:
        return "n/a" if value is None else value_cell(key, value)

    return [
        [cell.item, shown(cell.a), shown(cell.b), "n/a"]
        for cell in comparison.uncovered
        if cell.a is not None or cell.b is not None
    ]


def uncovered_note(comparison: ComparisonResult, shown: int = 12) -> str:
    """``n/a — b has no metrics (…): Q2, Q3`` per reason, at most ``shown`` cells each (the JSON
    and the warning carry every cell)."""
    by_reason: dict[str, list[str]] = {}
    for cell in comparison.uncovered:
        by_reason.setdefault(cell.reason, []).append(cell.item)
    parts = []
    for reason, cells in by_reason.items():
        more = f" (+{len(cells) - shown} more)" if len(cells) > shown else ""
        parts.append(f"{reason}: {', '.join(cells[:shown])}{more}")
    return "n/a — " + "; ".join(parts)


def calibration_title(calibration) -> str:
    """What was calibrated and how T was fitted (leave-one-out: which unit was held out)."""
    fit = calibration.fit
    if calibration.held_out:
        fit = f"{fit}, each {calibration.held_out} held out with all its countries"
    return f"{calibration.condition} calibrated with {calibration.calibration} ({calibration.method}, T {fit})"


def temperature_cell(item) -> str:
    """T to 2 decimals, marked ``(grid max)`` / ``(grid min)`` when it sits at the edge of its
    grid (a bound, not a fit)."""
    text = number(item.temperature, 2)
    return f"{text} (grid {'max' if item.grid_edge == 'high' else 'min'})" if item.grid_edge else text


def comparison_title(comparison: ComparisonResult) -> str:
    variant = "with defaults" if comparison.variant == "with_defaults" else "valid answers only"
    return f"{comparison.b} vs {comparison.a} on {comparison.metric} ({variant})"


def compliance_rows(results: Results) -> list:
    """The compliance rows, an ablation's subset conditions summed into one row per ablation
    (``ablation NAME (k subsets)``, item ``all``): 2^k − 1 conditions × items would drown the
    table; JSON and CSV keep every row, and the warnings still name any item with many defaults."""
    subsets = results.ablation_subsets()
    rows, pooled = [], {}
    for row in results.compliance:
        ablation = subsets.get(row.condition)
        if ablation is None:
            rows.append(row)
        else:
            if ablation not in pooled:
                pooled[ablation] = []
                rows.append(ablation)  # placeholder: the summed row goes where the first one was
            pooled[ablation].append(row)
    return [_pooled_compliance(r, pooled[r]) if isinstance(r, str) else r for r in rows]


def _pooled_compliance(ablation: str, rows: list):
    n = sum(r.n for r in rows)
    masses = [(r.mean_valid_mass, r.n) for r in rows if r.mean_valid_mass is not None]
    return Compliance(
        condition=f"ablation {ablation} ({len({r.condition for r in rows})} subsets)",
        item="all",
        n=n,
        answered=sum(r.answered for r in rows),
        invalid=sum(r.invalid for r in rows),
        refused=sum(r.refused for r in rows),
        error=sum(r.error for r in rows),
        defaulted=sum(r.defaulted for r in rows),
        defaulted_from_error=sum(r.defaulted_from_error for r in rows),
        dropped=sum(r.dropped for r in rows),
        mean_valid_mass=(sum(m * k for m, k in masses) / sum(k for _, k in masses)) if masses and sum(k for _, k in masses) else None,
    )


def js_matrix(results: Results, variant: str = "with_defaults", key: str = "js"):
    """Items × conditions: the paper's JS table. Returns (conditions, [(item, [value...])])."""
    conditions = [c for c in results.report_conditions() if results.item_metrics(c, variant)]
    items: dict[str, None] = {}
    for condition in conditions:
        for row in results.item_metrics(condition, variant):
            items.setdefault(item_label(row), None)
    table = []
    for item in items:
        values = []
        for condition in conditions:
            found = [r for r in results.item_metrics(condition, variant) if item_label(r) == item]
            values.append(found[0].values.get(key) if found else None)
        table.append((item, values))
    return conditions, table


def replicate_key(rows: Sequence[ItemMetrics]) -> str | None:
    """The metric whose spread over replicates the tables show: the first shown column."""
    spread_keys = {key for row in rows for key in row.across_replicates}
    for key, _ in columns_for(rows):
        if key in spread_keys:
            return key
    return None


def replicate_title(rows: Sequence[ItemMetrics], key: str) -> str:
    counts = sorted({len(row.replicates) for row in rows if key in row.across_replicates})
    k = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    title = dict(COLUMNS).get(key, key)
    return f"{title} ± SD over {k} replicates"


def spread_text(key: str, mean: float | None, sd: float | None) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if sd is None or math.isnan(sd):
        return value_cell(key, mean)
    if key.endswith("pvalue"):
        return f"{pvalue(mean)} ± {pvalue(sd)}"
    return f"{number(mean)} ± {number(sd)}"


def replicate_cell(row: ItemMetrics, key: str) -> str:
    spread = row.across_replicates.get(key)
    if spread is None:
        return "–"
    return spread_text(key, spread.mean, spread.sd)


def replicate_test_text(row) -> str:
    """A comparison row's paired test across replicates: "p = 0.012 (k = 5)"."""
    if not row.replicates or row.replicate_pvalue is None:
        return "–"
    return f"p = {pvalue(row.replicate_pvalue)} (k = {row.replicates})"


def runs_columns(rows) -> list[tuple[str, str]]:
    """Columns of the across-runs tables: the per-item table's keys that some run has."""
    present = {row.key for row in rows}
    return [(key, title) for key, title in COLUMNS if key in present]


def runs_matrix(aggregate, condition: str, variant: str = "with_defaults"):
    """(columns, [(item, n runs, {key: row})]) of one condition's across-runs table."""
    rows = aggregate.rows_for(condition, variant)
    columns = runs_columns(rows)
    items: dict[str, dict] = {}
    for row in rows:
        items.setdefault(row.item, {})[row.key] = row
    table = []
    for item, by_key in items.items():
        n = max((r.spread.n for r in by_key.values()), default=0)
        table.append((item, n, by_key))
    return columns, table


# ------------------------------------------------------------------------------ tokens and cost

USAGE_HEADER = ("condition", "model", "answers", "tokens in", "tokens out", "cached", "cost", "price")


def cost_text(row) -> str:
    """The cost as a reader must read it: "unknown", "0 (local)", a lower bound "≥ …", or a sum."""
    if row.cost is None:
        return "unknown"
    if row.price_source in ("local", "replay"):
        return "0"  # the price column says why
    amount = f"{row.cost:.4f}" + (f" {row.currency}" if row.currency else "")
    return ("≥ " + amount) if row.cost_is_lower_bound else amount


def tokens_text(row, count: int) -> str:
    """Token sums, or "–" when no answer of the condition carried counts (a replay, a backend without usage)."""
    return f"{count:,}" if row.with_tokens else "–"


def usage_columns(results: Results) -> list[str]:
    """USAGE_HEADER without the cached column when nothing came from the cache."""
    return [c for c in USAGE_HEADER if c != "cached" or any(u.cached for u in results.usage)]


def usage_cells(results: Results) -> list[list[str]]:
    """One row per condition (``usage_columns``), plus a total row when several costs are all
    known and billed in one currency."""
    with_cached = "cached" in usage_columns(results)
    rows = [
        [u.condition, u.model_id, f"{u.answers:,}", tokens_text(u, u.prompt_tokens),
         tokens_text(u, u.completion_tokens), *([f"{u.cached:,}"] if with_cached else []), cost_text(u),
         u.price_source]
        for u in results.usage
    ]
    currencies = {u.currency for u in results.usage if u.price_source in ("spec", "prices file")}
    if len(results.usage) > 1 and currencies and all(u.cost is not None for u in results.usage) and len(currencies) == 1:
        rows.append(["total", "", f"{sum(u.answers for u in results.usage):,}", "", "",
                     *([""] if with_cached else []), total_cost_text(results.usage), ""])
    return rows


def total_cost_text(usage) -> str:
    """Several conditions' (or runs') costs summed, as a reader must read the sum: "unknown" if any
    price is unknown, "≥ …" if any cost is a lower bound, never a sum across currencies."""
    if not usage:
        return "–"
    if any(u.cost is None for u in usage):
        return "unknown"
    currencies = {u.currency for u in usage if u.price_source in ("spec", "prices file")}
    if len(currencies) > 1:
        return "mixed currencies: " + ", ".join(sorted(c or "(spec's own)" for c in currencies))
    total = sum(u.cost or 0.0 for u in usage)
    if not currencies:
        return "0"  # local or replayed models only: nothing billed
    currency = next(iter(currencies))
    bound = any(u.cost_is_lower_bound for u in usage)
    return ("≥ " if bound else "") + f"{total:.4f}" + (f" {currency}" if currency else "")


def total_tokens_text(usage) -> tuple[str, str]:
    """(prompt, completion) token sums over conditions, "–" when none carried counts."""
    if not any(u.with_tokens for u in usage):
        return "–", "–"
    return f"{sum(u.prompt_tokens for u in usage):,}", f"{sum(u.completion_tokens for u in usage):,}"


def price_sources(results: Results) -> list[str]:
    """Each distinct price source with its provenance (the page and date, or the spec)."""
    return usage_price_sources(results.usage)


def usage_price_sources(usage) -> list[str]:
    """``price_sources`` of any usage rows (one report's, or several runs')."""
    seen: dict[str, None] = {}
    for u in usage:
        prices = "" if u.price_input is None or u.price_source in ("local", "replay") else (
            f" ({u.price_input:g} in / {u.price_output:g} out per 1M tokens)")
        seen.setdefault(f"{u.model_id}: {u.price_detail}{prices}", None)
    return list(seen)
