"""A self-contained HTML report: the Markdown tables plus one bar chart per item.

Plots are matplotlib (Agg backend, no display needed) PNGs embedded as base64, so the page is
one file that can be mailed or archived. Text is escaped; nothing is fetched from the network.
"""

from __future__ import annotations

import base64
import html
import io
import re
from typing import Sequence

import numpy as np

from silspec.analysis.results import ItemMetrics, PersonaCurve, Results
from silspec.report.export import (
    md_benchmarks,
    md_country_tables,
    md_curves,
    md_shapley,
    md_calibration,
    md_comparisons,
    md_compliance,
    md_js_table,
    md_metrics,
    md_runs,
    md_runs_metrics,
)
from silspec.report.format import answers_text, item_label


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.warn-high { background: #fde2e2; border-left: 6px solid #c00; padding: 0.5em 1em; font-weight: bold; }
.warn { background: #fff6d6; border-left: 6px solid #d90; padding: 0.3em 1em; }
figure { display: inline-block; margin: 0.5em; }
"""


def to_html(results: Results, *, plots: bool = True) -> str:
    study = results.study
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(study.title or study.name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(study.title or study.name)}</h1>",
        f"<p>Study <code>{html.escape(study.name)}</code>, spec <code>{html.escape(study.spec_path)}</code>, "
        f"{html.escape(answers_text(study))}.</p>",
    ]
    for warning in results.warnings:
        css = "warn-high" if warning.severity == "high" else "warn"
        parts.append(f'<p class="{css}">{html.escape(warning.message)}</p>')
    parts += ["<h2>Format compliance</h2>", markdown_table_to_html(md_compliance(results))]
    parts += ["<h2>Benchmarks</h2>", markdown_table_to_html(md_benchmarks(results))]
    parts += ["<h2>Jensen–Shannon divergence</h2>", markdown_table_to_html(md_js_table(results))]
    for condition in results.report_conditions():
        parts += [f"<h2>{html.escape(condition)}: metrics per item</h2>", markdown_table_to_html(md_metrics(results, condition))]
        if results.has_defaults(condition):
            parts += [
                f"<h3>{html.escape(condition)}: valid answers only</h3>",
                markdown_table_to_html(md_metrics(results, condition, "valid_only")),
            ]
    if results.comparisons:
        parts.append("<h2>Comparisons</h2>")
        for variant in ("with_defaults", "valid_only"):
            parts.append(_markdown_sections_to_html(md_comparisons(results, variant)))
    if results.country_tables:
        parts.append("<h2>By country</h2>")
        parts.append(_markdown_sections_to_html(md_country_tables(results)))
    if results.calibrations:
        parts.append("<h2>Calibration</h2>")
        parts.append(_markdown_sections_to_html(md_calibration(results)))
    if results.curves:
        parts.append("<h2>Metric against the number of personas</h2>")
        parts.append(_markdown_sections_to_html(md_curves(results)))
        if plots:
            for curve in results.curves:
                parts.append(f'<figure><img alt="{html.escape(curve.condition)} curve" '
                             f'src="data:image/png;base64,{_png(curve_figure(curve))}"></figure>')
    if results.shapley:
        parts.append("<h2>Item contributions</h2>")
        parts.append(_markdown_sections_to_html(md_shapley(results)))
    if plots:
        parts.append("<h2>Simulated vs benchmark</h2>")
        parts.append(f"<p>{html.escape(_error_bar_note(results))}</p>")
        for item, rows in _rows_by_item(results).items():
            parts.append(f'<figure><img alt="{html.escape(item)}" src="data:image/png;base64,{item_plot_png(item, rows)}"></figure>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _error_bar_note(results: Results) -> str:
    settings = results.study.bootstrap or {}
    level = settings.get("level", 0.95)
    resamples = settings.get("resamples", 1000)
    return (
        f"Error bars: {level:.0%} bootstrap percentile interval of each code's simulated share, "
        f"personas resampled with replacement ({resamples} resamples). Bars show 'with defaults' shares."
    )


def _rows_by_item(results: Results) -> dict[str, list[ItemMetrics]]:
    grouped: dict[str, list[ItemMetrics]] = {}
    subsets = results.ablation_subsets()
    for row in results.items:
        if row.variant == "with_defaults" and row.probs and row.condition not in subsets:
            grouped.setdefault(item_label(row), []).append(row)
    return grouped


def item_plot_png(item: str, rows: Sequence[ItemMetrics]) -> str:
    """The item's bar chart (``item_figure``) as a base64 PNG."""
    return _png(item_figure(item, rows))


def curve_figure(curve: PersonaCurve):
    """The metric against the number of personas (log x), one line per country and the average
    in black, each with its band over draws shaded (the paper's Figure 3). The caller closes it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.6), dpi=90, layout="constrained")
    for series in sorted(curve.series, key=lambda s: s.country is None):
        sizes = [p.size for p in series.points]
        mean = [p.mean for p in series.points]
        style = {"color": "black", "linewidth": 2} if series.country is None else {"linewidth": 1}
        (line,) = axes.plot(sizes, mean, marker="o", markersize=3, label=series.country or "mean", **style)
        axes.fill_between(sizes, [p.low for p in series.points], [p.high for p in series.points],
                          color=line.get_color(), alpha=0.15, linewidth=0)
    axes.set_xscale("log")
    if curve.sizes:  # the sizes drawn, written as plain numbers (not 2×10⁰)
        from matplotlib.ticker import NullFormatter, NullLocator

        axes.xaxis.set_minor_locator(NullLocator())
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_xticks(list(curve.sizes), [str(size) for size in curve.sizes])
    axes.set_xlabel("personas per country")
    axes.set_ylabel(curve.metric)
    band = "range over draws" if curve.level >= 1 else f"{curve.level:.0%} band over draws"
    axes.set_title(f"{curve.condition}: {curve.metric} vs personas ({band}, {curve.draws} draws)", fontsize=9)
    axes.legend(fontsize=7, frameon=False)
    return figure


def _png(figure) -> str:
    """A figure as a base64 PNG, closed afterwards."""
    import matplotlib.pyplot as plt

    try:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def item_figure(item: str, rows: Sequence[ItemMetrics]):
    """Grouped bars: the benchmark, then each condition with its per-code bootstrap interval.

    The legend sits above the axes (inside it covered the tallest bars); error bars are the
    percentile intervals of each code's share over resampled personas (``share_intervals``).
    The caller closes the figure.
    """
    import matplotlib  # ~0.5 s to import (importtime): only the html report draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    codes = rows[0].codes
    series: list[tuple[str, Sequence[float], np.ndarray | None]] = [
        (f"benchmark ({rows[0].benchmark})", rows[0].benchmark_probs, None)
    ]
    for row in rows:
        series.append((_series_label(row), row.probs, _error_bars(row)))
    width = 0.8 / len(series)
    x = np.arange(len(codes))
    figure, axes = plt.subplots(figsize=(5, 3.2 + 0.2 * len(series)), dpi=90, layout="constrained")
    for i, (label, probs, errors) in enumerate(series):
        axes.bar(
            x + i * width - 0.4 + width / 2,
            np.asarray(probs) * 100,
            width,
            label=label,
            yerr=errors,
            capsize=2 if errors is not None else 0,
            error_kw={"elinewidth": 0.8, "ecolor": "#333"},
        )
    axes.set_xticks(x, [str(c) for c in codes])
    axes.set_xlabel("code")
    axes.set_ylabel("%")
    axes.set_title(item, fontsize=10)
    figure.legend(loc="outside upper center", fontsize=7, ncols=1, frameon=False)
    return figure


def _series_label(row: ItemMetrics) -> str:
    label = row.condition
    interval = row.intervals.get("js")
    js = row.values.get("js")
    if js is not None:
        label += f" (JS {js:.3f}" + (f" [{interval.low:.3f}, {interval.high:.3f}]" if interval else "") + ")"
    return label


def _error_bars(row: ItemMetrics):
    """(2, k) distances below/above each bar in percent, or None without share intervals."""
    if not row.share_intervals or not row.probs or len(row.share_intervals) != len(row.probs):
        return None
    probs = np.asarray(row.probs) * 100
    bounds = np.asarray(row.share_intervals, dtype=float) * 100
    # clipped at 0: a percentile interval of a skewed share may sit off the full-sample share
    return np.clip(np.vstack([probs - bounds[:, 0], bounds[:, 1] - probs]), 0.0, None)


def markdown_table_to_html(table: str) -> str:
    """Our own Markdown tables (``export._table``) as HTML; cells are escaped."""
    lines = [line for line in table.strip().splitlines() if line.startswith("|")]
    if len(lines) < 2:
        return ""

    def cells(line: str) -> list[str]:
        inner = line.strip()[1:-1]
        parts = [p.strip().replace("\\|", "|") for p in _split_cells(inner)]
        return [re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(p)).replace("**", "") for p in parts]

    head = "".join(f"<th>{c}</th>" for c in cells(lines[0]))
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in cells(line)) + "</tr>" for line in lines[2:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _split_cells(inner: str) -> list[str]:
    out, current, escaped = [], [], False
    for char in inner:
        if char == "|" and not escaped:
            out.append("".join(current))
            current = []
        else:
            current.append(char)
        escaped = char == "\\"
    out.append("".join(current))
    return out


def _markdown_sections_to_html(text: str) -> str:
    """Bold title lines followed by tables (``md_comparisons``)."""
    out = []
    for block in text.split("\n\n"):
        block = block.strip()
        if not block:
            continue
        if block.startswith("|"):
            out.append(markdown_table_to_html(block))
            # notes under a table (n/a cells and their reasons, the test across items) stay visible
            out += [f"<p>{html.escape(line)}</p>" for line in block.splitlines() if line.strip() and not line.startswith("|")]
        elif block.startswith("**"):
            out.append(f"<h3>{html.escape(block.strip('*'))}</h3>")
        else:  # a note between tables: the n/a cells of a comparison, a test across items
            out.append(f"<p>{html.escape(block)}</p>")
    return "\n".join(out)


def runs_to_html(aggregate) -> str:
    """Several runs: the across-runs tables (no plots: the per-run reports have them)."""
    study = aggregate.study
    title = html.escape(f"{study.title or study.name}: {len(aggregate.runs)} runs")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        markdown_table_to_html(md_runs(aggregate)),
    ]
    for warning in aggregate.warnings:
        css = "warn-high" if warning.severity == "high" else "warn"
        parts.append(f'<p class="{css}">{html.escape(warning.message)}</p>')
    for condition in aggregate.conditions():
        parts += [f"<h2>{html.escape(condition)}: metrics over runs (mean ± SD)</h2>", markdown_table_to_html(md_runs_metrics(aggregate, condition))]
    parts.append("</body></html>")
    return "\n".join(parts)
