"""A self-contained HTML report: the Markdown tables plus one bar chart per item.

Plots are matplotlib (Agg backend, no display needed) PNGs embedded as base64, so the page is
one file that can be mailed or archived. Text is escaped; nothing is fetched from the network.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
import re
from typing import Sequence

import numpy as np

from silspec.analysis.results import ItemMetrics, PersonaCurve, Results
from silspec.report.export import (
    md_benchmarks,
    md_country_tables,
    md_curves,
    md_diversity,
    md_shapley,
    md_calibration,
    md_comparisons,
    md_compliance,
    md_joints,
    md_js_table,
    md_metrics,
    md_replicate_runs,
    md_runs,
    md_runs_metrics,
    md_subgroups,
)
from silspec.report.format import (
    answers_text,
    average_label,
    comparison_title,
    cost_text,
    improvement_text,
    item_label,
    number,
    percent,
    price_sources,
    usage_cells,
    usage_columns,
)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.warn-high { background: #fde2e2; border-left: 6px solid #c00; padding: 0.5em 1em; font-weight: bold; }
.warn { background: #fff6d6; border-left: 6px solid #d90; padding: 0.3em 1em; }
#summary { background: #f4f8fb; border: 1px solid #cfe0ec; padding: 0.5em 1.2em; }
#summary .headline td.loud { color: #b00; font-weight: bold; }
details.warn-group { margin: 0.3em 0; border-left: 6px solid #d90; background: #fff6d6; padding: 0.3em 1em; }
details.warn-group.high { border-left-color: #c00; background: #fde2e2; }
details.warn-group.info { border-left-color: #999; background: #f3f3f3; }
details.warn-group summary { cursor: pointer; font-weight: bold; }
details.warn-group li { margin: 0.2em 0; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figcaption { font-size: 0.8em; color: #555; max-width: 540px; }
"""
SEVERITY_TITLES = {"high": "high", "medium": "medium", "info": "info"}


def to_html(results: Results, *, plots: bool = True) -> str:
    """The page in reading order: the summary (headline metrics, compliance, cost), the warnings
    grouped by kind and folded, then every table and a plot per item."""
    study = results.study
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(study.title or study.name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(study.title or study.name)}</h1>",
        f"<p>Study <code>{html.escape(study.name)}</code>, spec <code>{html.escape(study.spec_path)}</code>, "
        f"{html.escape(answers_text(study))}.</p>",
        summary_html(results),
        warnings_html(results.warnings),
    ]
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
    if results.usage:
        parts += ['<h2 id="usage">Tokens and cost</h2>', usage_html(results)]
    if results.subgroups:
        parts.append("<h2>Subgroups</h2>")
        parts.append(_markdown_sections_to_html(md_subgroups(results)))
    if results.joints:
        parts.append("<h2>Joint distributions</h2>")
        parts.append(_markdown_sections_to_html(md_joints(results)))
    if results.replicate_runs is not None:
        parts.append("<h2>Across replicate runs</h2>")
        parts.append(_markdown_sections_to_html(md_replicate_runs(results)))
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
    if results.diversity:
        parts.append("<h2>Country diversity</h2>")
        parts.append(_markdown_sections_to_html(md_diversity(results)))
    if plots:
        parts.append('<h2 id="plots">Simulated vs benchmark</h2>')
        parts.append(f"<p>{html.escape(_error_bar_note(results))}</p>")
        labels = _labels_by_item(results)
        for item, rows in _rows_by_item(results).items():
            answer_labels = labels.get((rows[0].item, rows[0].country))
            png = item_plot_png(item, rows, answer_labels)
            caption = item + (": " + ", ".join(f"{c} = {label}" for c, label in zip(rows[0].codes, answer_labels))
                              if answer_labels else "")
            parts.append(f'<figure data-item="{html.escape(item)}"><img alt="{html.escape(caption)}" '
                         f'src="data:image/png;base64,{png}"><figcaption>{html.escape(caption)}</figcaption></figure>')
    parts.append("</body></html>")
    return "\n".join(parts)


def summary_html(results: Results) -> str:
    """Headline figures per condition: mean JS (with defaults, valid only), how the model
    complied, the cost; then each comparison's improvement of the averages and the warning counts."""
    rows = []
    for condition in results.conditions():
        cells = [c for c in results.compliance if c.condition == condition]
        n = sum(c.n for c in cells)
        share = lambda count: count / n if n else None  # noqa: E731
        defaulted = share(sum(c.defaulted for c in cells))
        usage = next((u for u in results.usage if u.condition == condition), None)
        loud = defaulted is not None and defaulted > 0.10
        rows.append(
            "<tr>"
            f"<td>{html.escape(condition)}</td>"
            f"<td>{html.escape(_mean_js(results, condition, 'with_defaults'))}</td>"
            f"<td>{html.escape(_mean_js(results, condition, 'valid_only'))}</td>"
            f"<td>{n}</td><td>{percent(share(sum(c.answered for c in cells)))}</td>"
            f'<td class="{"loud" if loud else ""}">{percent(defaulted)}</td>'
            f"<td>{percent(share(sum(c.refused + c.invalid for c in cells)))}</td>"
            f"<td>{percent(share(sum(c.error for c in cells)))}</td>"
            f"<td>{html.escape(cost_text(usage) if usage else '–')}</td>"
            "</tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("condition", "mean JS (with defaults)", "mean JS (valid only)",
                                             "answers", "answered", "defaulted", "refused or invalid",
                                             "errors", "cost"))
    out = ['<section id="summary"><h2>Summary</h2>',
           f'<table class="headline"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>']
    for comparison in results.comparisons:
        if comparison.variant != "with_defaults":
            continue
        out.append(f"<p>{html.escape(comparison_title(comparison))}: {html.escape(average_label(comparison))}, "
                   f"{html.escape(number(comparison.mean_a))} → {html.escape(number(comparison.mean_b))} "
                   f"({html.escape(improvement_text(comparison.improvement_of_means))}).</p>")
    counts = {s: sum(w.severity == s for w in results.warnings) for s in ("high", "medium", "info")}
    if any(counts.values()):
        said = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        css = ' class="warn-high"' if counts["high"] else ""
        out.append(f'<p{css}>Warnings: {said} (below, grouped by kind; click a group to open it).</p>')
    else:
        out.append("<p>No warnings.</p>")
    out.append("</section>")
    return "\n".join(out)


def _mean_js(results: Results, condition: str, variant: str) -> str:
    values = [r.values["js"] for r in results.item_metrics(condition, variant) if r.values.get("js") is not None]
    missing = len(results.item_metrics(condition, variant)) - len(values)
    if not values:
        return "–"
    return number(sum(values) / len(values)) + (f" (over {len(values)} items; {missing} without)" if missing else "")


def warnings_html(warnings) -> str:
    """One folded <details> per warning kind, the loudest kinds first, its messages inside."""
    if not warnings:
        return ""
    groups: dict[str, list] = {}
    for warning in warnings:  # already loud-first (analysis.report_warnings.loud_first)
        groups.setdefault(warning.kind, []).append(warning)
    out = ['<section id="warnings"><h2>Warnings</h2>']
    for kind, members in groups.items():
        order = ("high", "medium", "info")
        severity = min((w.severity for w in members), key=order.index)
        counts = {s: sum(w.severity == s for w in members) for s in order}
        mixed = sum(1 for n in counts.values() if n) > 1
        said = ", ".join(f"{n} {s}" for s, n in counts.items() if n) if mixed else severity
        title = f"{kind.replace('_', ' ')}: {len(members)} ({said})"
        items = "".join(f"<li>{html.escape(w.message)}</li>" for w in members)
        out.append(f'<details class="warn-group {severity}" data-kind="{html.escape(kind)}">'
                   f"<summary>{html.escape(title)}</summary><ul>{items}</ul></details>")
    out.append("</section>")
    return "\n".join(out)


def usage_html(results: Results) -> str:
    columns = usage_columns(results)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in usage_cells(results))
    sources = "".join(f"<li>{html.escape(line)}</li>" for line in price_sources(results))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p>Prices:</p><ul>{sources}</ul>"


def _labels_by_item(results: Results) -> dict[tuple[str, str | None], tuple[str, ...]]:
    """(item, country) -> the answer labels of its codes (the benchmark's, else the scale's)."""
    return {(b.item, b.country): tuple(b.labels) for b in results.benchmarks if b.labels}


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


def item_plot_png(item: str, rows: Sequence[ItemMetrics], labels: Sequence[str] | None = None) -> str:
    """The item's bar chart (``item_figure``) as a base64 PNG."""
    return _png(item_figure(item, rows, labels))


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


def item_figure(item: str, rows: Sequence[ItemMetrics], labels: Sequence[str] | None = None):
    """Grouped bars: the benchmark, then each condition with its per-code bootstrap interval.

    The x axis names each answer by its label under its code (``labels``, aligned with the
    codes), wrapped to fit; both axes have titles. The legend sits above the axes (inside it
    covered the tallest bars), one entry per line in a readable size; error bars are the
    percentile intervals of each code's share over resampled personas (``share_intervals``).
    The caller closes the figure.
    """
    import matplotlib  # ~0.5 s to import (importtime): only the html report draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = label_fonts()
    codes = rows[0].codes
    series: list[tuple[str, Sequence[float], np.ndarray | None]] = [
        (f"benchmark ({rows[0].benchmark})", rows[0].benchmark_probs, None)
    ]
    for row in rows:
        series.append((_series_label(row), row.probs, _error_bars(row)))
    width = 0.8 / len(series)
    x = np.arange(len(codes))
    figure, axes = plt.subplots(figsize=(6, 3.6 + 0.25 * len(series)), dpi=90, layout="constrained")
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
    axes.set_xticks(x, tick_labels(codes, labels), fontsize=8, fontfamily=families)
    axes.set_xlabel("answer (code and label)", fontsize=9)
    axes.set_ylabel("share of answers (%)", fontsize=9)
    axes.set_title(item, fontsize=10)
    figure.legend(loc="outside upper center", fontsize=8, ncols=1, frameon=False,
                  prop={"family": families, "size": 8})
    return figure


def tick_labels(codes: Sequence[int], labels: Sequence[str] | None) -> list[str]:
    """"code\nlabel" per code, the label wrapped at 14 characters (two lines at most)."""
    if not labels or len(labels) != len(codes):
        return [str(c) for c in codes]
    out = []
    for code, label in zip(codes, labels):
        lines = textwrap.wrap(str(label), 14) or [""]
        if len(lines) > 2:
            lines = [lines[0], lines[1][:13] + "…"]
        out.append("\n".join([str(code), *lines]))
    return out


_FONTS: list[str] | None = None


def label_fonts() -> list[str]:
    """Font families for labels: DejaVu Sans, then any CJK font the system has (Korean, Japanese and
    Chinese answer labels; matplotlib falls back glyph by glyph). Found once per process."""
    global _FONTS
    if _FONTS is None:
        from matplotlib import font_manager

        names = {f.name for f in font_manager.fontManager.ttflist}
        if not any("CJK" in n or "Nanum" in n for n in names):
            for path in font_manager.findSystemFonts():
                if "CJK" in path or "Nanum" in path:
                    try:
                        font_manager.fontManager.addfont(path)
                    except (OSError, RuntimeError, ValueError):
                        continue
            names = {f.name for f in font_manager.fontManager.ttflist}
        cjk = sorted(n for n in names if ("Sans CJK" in n or "Nanum" in n))
        cjk.sort(key=lambda n: (" KR" not in n and "Nanum" not in n, n))  # Korean first: the shipped studies
        _FONTS = ["DejaVu Sans", *cjk[:2]]
    return _FONTS


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
    parts.append(warnings_html(aggregate.warnings))
    for condition in aggregate.conditions():
        parts += [f"<h2>{html.escape(condition)}: metrics over runs (mean ± SD)</h2>", markdown_table_to_html(md_runs_metrics(aggregate, condition))]
    parts.append("</body></html>")
    return "\n".join(parts)
