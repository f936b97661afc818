"""The report in a terminal (Rich): compliance before metrics, loud warnings before both.

Order matters: a reader who stops after the first screen must already know that 62 % of an
item's answers were filled in by the parser, before seeing a JS value built on them.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from silspec.analysis.diversity import diversity_means
from silspec.analysis.results import Results
from silspec.report import groups
from silspec.report.figures import (
    TableContent,
    by_country_content,
    country_table_content,
    country_tests_content,
    curve_content,
    shapley_content,
)
from silspec.report.format import (
    answers_text,
    compliance_rows,
    average_label,
    calibration_title,
    columns_for,
    comparison_title,
    compliance_for,
    improvement_text,
    item_label,
    number,
    percent,
    price_sources,
    usage_price_sources,
    replicate_cell,
    replicate_key,
    replicate_test_text,
    replicate_title,
    runs_matrix,
    spread_text,
    temperature_cell,
    total_cost_text,
    total_tokens_text,
    uncovered_cells,
    uncovered_note,
    usage_cells,
    usage_columns,
    value_cell,
    with_interval,
)

HIGH_DEFAULT_SHARE = 0.10
LOW_VALID_MASS = 0.5  # same threshold as the analysis warning (report_warnings.LOW_VALID_MASS)
COMPACT_BELOW = 130  # terminal columns under which per-item tables drop secondary columns
COMPACT_HIDDEN = frozenset({"ks_statistic", "chi2_statistic", "variance_gap"})


def print_report(results: Results, console: Console, *, valid_only: bool = False) -> None:
    """Print everything; ``valid_only`` puts the valid-answers metrics first."""
    console.print(header(results))
    loud = loud_warnings(results)
    if loud is not None:
        console.print(loud)
    console.print(compliance_table(results))
    console.print(benchmark_table(results))
    variants = ("valid_only", "with_defaults") if valid_only else ("with_defaults", "valid_only")
    for condition in results.report_conditions():
        for variant in variants:
            if variant == "valid_only" and not results.has_defaults(condition):
                continue  # identical to the with-defaults table
            table = metrics_table(results, condition, variant, compact=console.width < COMPACT_BELOW)
            if table is not None:
                console.print(table)
    for comparison in results.comparisons:
        if comparison.variant == "valid_only" and not results.has_defaults():
            continue
        console.print(comparison_table(comparison))
        by_country = by_country_content(comparison)
        if by_country is not None:
            console.print(content_table(by_country))
    for country_table in results.country_tables:
        console.print(content_table(country_table_content(country_table)))
        console.print(content_table(country_tests_content(country_table)))
    for calibration in results.calibrations:
        console.print(calibration_table(calibration))
    if results.usage:
        console.print(usage_table(results))
    for table in group_tables(results):
        console.print(table)
    if results.replicate_runs is not None:
        runs = results.replicate_runs
        console.print(Text(f"Across {len(runs.runs)} replicate runs (replicates = {len(runs.runs)}; seeds "
                           f"{', '.join(str(r.seed) for r in runs.runs)}): each run scored alone", style="bold"))
        print_runs_tables(runs, console)
    for curve in results.curves:
        console.print(content_table(curve_content(curve)))
    for result in results.shapley:
        console.print(content_table(shapley_content(result)))
    if results.diversity:
        console.print(diversity_table(results))
    notes = other_warnings(results)
    if notes is not None:
        console.print(notes)


def header(results: Results) -> Panel:
    study = results.study
    lines = [Text(study.title or study.name, style="bold")]
    lines.append(Text(f"study {study.name} · spec {study.spec_path} · {answers_text(study)}"))
    if study.benchmark:
        lines.append(Text(f"benchmark override: {study.benchmark}", style="bold yellow"))
    for condition in study.conditions:
        provider = f" (provider: {', '.join(condition.provider_models)})" if condition.provider_models else ""
        lines.append(
            Text(
                f"  {condition.name}: {condition.model_id}{provider} · {condition.answers} · "
                f"parser {condition.parser} (on_invalid={condition.on_invalid}, on_error={condition.on_error})"
            )
        )
    if study.bootstrap:
        b = study.bootstrap
        lines.append(Text(f"bootstrap over personas: {b['resamples']} resamples, {b['level']:.0%} percentile CI, seed {b['seed']}"))
    return Panel(Group(*lines), title="silspec report", border_style="cyan")


def loud_warnings(results: Results) -> Panel | None:
    high = [w for w in results.warnings if w.severity == "high"]
    if not high:
        return None
    body = Group(*(Text(f"⚠ {w.message}", style="bold red") for w in high))
    return Panel(body, title=f"WARNINGS ({len(high)})", border_style="bold red")


def other_warnings(results: Results) -> Panel | None:
    rest = [w for w in results.warnings if w.severity != "high"]
    if not rest:
        return None
    body = Group(
        *(Text(f"{'!' if w.severity == 'medium' else 'i'} {w.message}", style="yellow" if w.severity == "medium" else "dim") for w in rest)
    )
    return Panel(body, title="notes", border_style="yellow")


def compliance_table(results: Results) -> Table:
    """Columns that are zero everywhere (no refusals, no errors) are left out to fit a terminal."""
    rows = compliance_rows(results)
    optional = {
        "defaults from errors": any(r.defaulted_from_error for r in rows),
        "refused": any(r.refused for r in rows),
        "invalid": any(r.invalid for r in rows),
        "errors": any(r.error for r in rows),
        "default code": any(r.default_code is not None for r in rows),
        "valid mass": any(r.mean_valid_mass is not None for r in rows),
    }
    table = Table(title="Format compliance (share of stored answers)", title_justify="left")
    for column in ("condition", "item", "n", "answered", "defaulted", *(c for c, shown in optional.items() if shown)):
        table.add_column(column, justify="left" if column in ("condition", "item") else "right")
    for row in rows:
        loud = row.default_share > HIGH_DEFAULT_SHARE
        cells = {
            "defaults from errors": str(row.defaulted_from_error) if row.defaulted else "",
            "refused": percent(row.refused_share),
            "invalid": percent(row.invalid_share),
            "errors": Text(percent(row.error_share), style="red" if row.error else ""),
            "default code": "" if row.default_code is None else str(row.default_code),
            "valid mass": Text(
                number(row.mean_valid_mass),
                style="bold red" if row.mean_valid_mass is not None and row.mean_valid_mass < LOW_VALID_MASS else "",
            ),
        }
        table.add_row(
            row.condition,
            row.item.rpartition(".")[2] + (f"/{row.country}" if row.country else ""),
            str(row.n),
            percent(row.answered_share),
            Text(percent(row.default_share), style="bold red" if loud else ""),
            *(cells[c] for c, shown in optional.items() if shown),
        )
    return table


def usage_table(results: Results) -> Table:
    """Tokens and cost per condition, the price's source under it (never a silent 0)."""
    table = Table(title="Tokens and cost (what this run paid)", title_justify="left",
                  caption="price: " + "; ".join(price_sources(results)), caption_justify="left")
    for column in usage_columns(results):
        table.add_column(column, justify="left" if column in ("condition", "model", "price") else "right")
    for cells in usage_cells(results):
        table.add_row(*cells)
    return table


def benchmark_table(results: Results) -> Table:
    table = Table(title="Benchmarks (as written → shares used)", title_justify="left")
    for column in ("item", "benchmark", "values", "sum", "shares used", "n"):
        table.add_column(column)
    for b in results.benchmarks:
        unit = {"percent": " %", "count": " respondents"}.get(b.unit, "")
        total_style = "bold red" if b.renormalised and b.total > (100 if b.unit == "percent" else 1) else ("yellow" if b.renormalised else "")
        table.add_row(
            b.item.rpartition(".")[2] + (f"/{b.country}" if b.country else ""),
            b.name,
            " / ".join(f"{v:g}" for v in b.values),
            Text(f"{b.total:g}{unit}" + (" → renormalised" if b.renormalised else ""), style=total_style),
            " / ".join(f"{p * 100:.1f}" for p in b.proportions),
            "" if b.n is None else str(b.n),
        )
    return table


def metrics_table(results: Results, condition: str, variant: str, *, compact: bool = False) -> Table | None:
    """Per-item metrics; ``compact`` (narrow terminals) keeps JS with its CI and the p-values."""
    rows = results.item_metrics(condition, variant)
    if not rows:
        return None
    label = "with defaults" if variant == "with_defaults" else "VALID ANSWERS ONLY"
    names = {row.benchmark for row in rows}
    one_benchmark = len(names) == 1
    title = f"{condition}: metrics per item ({label})" + (f" · benchmark {next(iter(names))}" if one_benchmark else "")
    table = Table(title=title, title_justify="left")
    leading = ["item"] + ([] if one_benchmark else ["benchmark"]) + ["n"]
    leading += ["defaults"] if compact else ["answered", "defaults", "simulated %"]
    for column in leading:
        table.add_column(column, justify="left" if column in ("item", "benchmark", "simulated %") else "right")
    columns = [(k, t) for k, t in columns_for(rows, results.study.metric_options) if not (compact and k in COMPACT_HIDDEN)]
    for _, title in columns:
        table.add_column(title, justify="right", no_wrap=True)
    spread = replicate_key(rows)
    if spread is not None:
        table.add_column(replicate_title(rows, spread), justify="right", no_wrap=True)
        table.caption = "pooled values over all replicates; ± SD: the metric computed per replicate"
    for row in rows:
        compliance = compliance_for(results, row.condition, row.item, row.country)
        default_share = compliance.default_share if compliance else 0.0
        cells: list = [item_label(row)] + ([] if one_benchmark else [row.benchmark]) + [str(row.n)]
        defaults = Text(percent(default_share), style="bold red" if default_share > HIGH_DEFAULT_SHARE else "")
        if compact:
            cells.append(defaults)
        else:
            simulated = " / ".join(f"{p * 100:.0f}" for p in row.probs) if row.probs else "no answers"
            cells += [percent(compliance.answered_share) if compliance else "–", defaults, simulated]
        cells += [
            with_interval(row, key) if (key == "js" or not compact) else value_cell(key, row.values.get(key))
            for key, _ in columns
        ]
        if spread is not None:
            cells.append(replicate_cell(row, spread))
        table.add_row(*cells)
    return table


def group_tables(results: Results) -> list[Table]:
    """The subgroup tables (one per condition × attribute × item × variant), then the joint tables."""
    tables = []
    for condition, attribute, item, variant, rows in groups.subgroup_sections(results):
        header, body = groups.subgroup_table(rows)
        tables.append(_group_table(groups.subgroup_title(condition, attribute, item, variant), groups.SUBGROUP_NOTE,
                                   header, body, left=("group", "simulated %", "benchmark %", "note")))
    for variant, rows in groups.joint_sections(results):
        header, body = groups.joint_table(rows)
        which = "with defaults" if variant == "with_defaults" else "VALID ANSWERS ONLY"
        tables.append(_group_table(f"joint distributions of item pairs ({which})", groups.JOINT_NOTE,
                                   header, body, left=("pair", "condition", "items", "note")))
    return tables


def _group_table(title: str, note: str, header: list[str], body: list[list[str]], *, left: tuple[str, ...]) -> Table:
    """A subgroup or joint table: its note as the caption, text columns (``left``) left-aligned, numbers right."""
    table = Table(title=title, title_justify="left", caption=Text(note), caption_justify="left")
    for column in header:
        table.add_column(column, justify="left" if column in left else "right")
    for cells in body:
        table.add_row(*cells)
    return table


def diversity_table(results: Results) -> Table:
    """Country diversity per condition (mean over its items): the model's beside the survey's."""
    table = Table(
        title="Country diversity: mean 1 − JS distance between countries' distributions of the same item",
        title_justify="left",
        caption="1 = every country alike; lower = more diverse. Survey = the benchmarks of the same countries.",
    )
    for column in ("condition", "variant", "items", "model", "survey", "model − survey"):
        table.add_column(column, justify="left" if column in ("condition", "variant") else "right")
    for (condition, variant), (model, survey, n) in diversity_means(results.diversity).items():
        if variant == "valid_only" and not results.has_defaults(condition):
            continue
        table.add_row(condition, variant, str(n), number(model), number(survey), number(model - survey))
    return table


def comparison_table(comparison) -> Table:
    table = Table(title=comparison_title(comparison), title_justify="left")
    per_item_test = comparison.replicate_test is not None
    columns = ["item", comparison.a, comparison.b, "improvement", "better?"]
    if per_item_test:
        columns.append("paired over replicates")
    for column in columns:
        table.add_column(column, justify="left" if column == "item" else "right")
    extra = [""] if per_item_test else []
    for row in comparison.rows:
        better = "–" if row.better is None else ("yes" if row.better else "no")
        table.add_row(
            row.item, value_cell(comparison.key, row.a), value_cell(comparison.key, row.b),
            improvement_text(row.improvement), better, *([replicate_test_text(row)] if per_item_test else []),
        )
    for cells in uncovered_cells(comparison, comparison.key):
        table.add_row(*cells, "–", *extra, style="dim")
    table.add_section()
    table.add_row(
        average_label(comparison),
        number(comparison.mean_a),
        number(comparison.mean_b),
        Text(improvement_text(comparison.improvement_of_means), style="bold"),
        "",
        *extra,
    )
    if comparison.without:
        table.add_row(
            f"average without {', '.join(comparison.without)}",
            number(comparison.mean_a_without),
            number(comparison.mean_b_without),
            Text(improvement_text(comparison.improvement_without), style="bold"),
            "",
            *extra,
        )
    notes = [uncovered_note(comparison)] if comparison.uncovered else []
    if comparison.paired_pvalue is not None:
        notes.append(f"across items, {comparison.paired_test}: p = {value_cell('pvalue', comparison.paired_pvalue)}")
    if per_item_test:
        notes.append(f"per item: {comparison.replicate_test}")
    if notes:
        table.caption = " · ".join(notes)
    return table


def content_table(content: TableContent) -> Group:
    """A ``report.figures`` table: Markdown bold (``**x**``) becomes bold text; the notes follow
    as full-width lines (a caption would wrap them to the table's width)."""
    table = Table(title=content.title, title_justify="left")
    for i, column in enumerate(content.header):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in content.rows:
        table.add_row(*(_cell(cell) for cell in row))
    return Group(table, *(Text(note, style="dim") for note in content.notes))


def _cell(cell: str) -> Text:
    if cell.startswith("**") and "**" in cell[2:]:
        inner, _, rest = cell[2:].partition("**")
        return Text(inner, style="bold") + Text(rest)
    return Text(cell)


def calibration_table(calibration) -> Table:
    table = Table(title=f"Calibration: {calibration_title(calibration)}", title_justify="left")
    keys = list(calibration.mean_before)
    by_country = any(item.country for item in calibration.items)
    for column in ["item", *(["country"] if by_country else []), "T", *(f"{k} before → after" for k in keys)]:
        table.add_column(column, justify="left" if column in ("item", "country") else "right")
    for item in calibration.items:
        table.add_row(
            item.item,
            *([item.country or ""] if by_country else []),
            Text(temperature_cell(item), style="bold red" if item.grid_edge else ""),
            *(f"{value_cell(k, item.before.get(k))} → {value_cell(k, item.after.get(k))}" for k in keys),
        )
    table.add_section()
    table.add_row(
        "mean",
        *([""] if by_country else []),
        "",
        *(f"{number(calibration.mean_before[k])} → {number(calibration.mean_after[k])}" for k in keys),
    )
    return table


# ------------------------------------------------------------------------------ several runs


def print_runs_report(aggregate, console: Console) -> None:
    """``silspec report RUN_DIR RUN_DIR ...``: metrics as mean ± SD over runs (seeds)."""
    study = aggregate.study
    lines = [Text(study.title or study.name, style="bold")]
    lines.append(Text(f"study {study.name} · {len(aggregate.runs)} runs aggregated (mean ± SD over runs, sample SD)"))
    for run in aggregate.runs:
        paid = ""
        if run.usage:
            prompt, completion = total_tokens_text(run.usage)
            paid = f" · {prompt} prompt / {completion} completion tokens · cost {total_cost_text(run.usage)}"
        lines.append(Text(f"  {run.run}: seed {run.seed} · {run.n_answers} stored answers{paid}"))
    every = [u for run in aggregate.runs for u in run.usage]
    if every:
        lines.append(Text(f"  all runs: cost {total_cost_text(every)} · price: {'; '.join(usage_price_sources(every))}"))
    console.print(Panel(Group(*lines), title="silspec report over runs", border_style="cyan"))
    high = [w for w in aggregate.warnings if w.severity == "high"]
    if high:
        console.print(Panel(Group(*(Text(f"⚠ {w.message}", style="bold red") for w in high)), title=f"WARNINGS ({len(high)})", border_style="bold red"))
    print_runs_tables(aggregate, console)
    rest = [w for w in aggregate.warnings if w.severity != "high"]
    if rest:
        console.print(Panel(Group(*(Text(f"! {w.message}", style="yellow") for w in rest)), title="notes", border_style="yellow"))


def print_runs_tables(aggregate, console: Console) -> None:
    """Per condition: mean ± SD over runs (split to fit the terminal) and the two intervals."""
    for condition in aggregate.conditions():
        for variant in ("with_defaults", "valid_only"):
            columns, rows = runs_matrix(aggregate, condition, variant)
            if not rows:
                continue
            label = "with defaults" if variant == "with_defaults" else "VALID ANSWERS ONLY"
            cells = {item: [spread_text(key, by_key[key].spread.mean, by_key[key].spread.sd) if key in by_key else "–"
                            for key, _ in columns] for item, _, by_key in rows}
            groups = fit_columns(console.width, [item for item, _, _ in rows],
                                 [(title, [cells[item][i] for item, _, _ in rows]) for i, (_, title) in enumerate(columns)])
            for part, group in enumerate(groups, 1):
                of = f" ({part}/{len(groups)})" if len(groups) > 1 else ""
                table = Table(title=f"{condition}: metrics over runs ({label}){of}", title_justify="left")
                table.add_column("item", no_wrap=True)
                table.add_column("runs", justify="right", no_wrap=True)
                for index in group:
                    table.add_column(columns[index][1], justify="right", no_wrap=True)
                for item, n, _ in rows:
                    table.add_row(item, str(n), *(cells[item][index] for index in group))
                console.print(table)
            if columns:
                print_seed_intervals(console, condition, label, columns[0], rows, len(aggregate.runs))


def fit_columns(width: int, items: list[str], columns: list[tuple[str, list[str]]]) -> list[list[int]]:
    """Metric columns packed, in order, into tables that fit ``width`` beside the item and runs
    columns: a narrow terminal (an 80-column pipe) gets two tables, never a dropped item column."""
    item_width = max([len("item"), *(len(i) for i in items)])
    fixed = 4 + item_width + 3 + len("runs")  # borders and padding of the item and runs columns
    groups: list[list[int]] = [[]]
    used = fixed
    for index, (title, values) in enumerate(columns):
        need = 3 + max([len(title), *(len(v) for v in values)])
        if groups[-1] and used + need > width:
            groups.append([])
            used = fixed
        groups[-1].append(index)
        used += need
    return groups


def print_seed_intervals(console: Console, condition: str, label: str, column: tuple[str, str], rows,
                         n_runs: int) -> None:
    """The headline metric's two intervals side by side: across seeds and within runs."""
    key, title = column
    found = [(item, n, by_key[key]) for item, n, by_key in rows if key in by_key]
    if not any(row.seed_ci is not None for _, _, row in found):
        return
    level = next(row.seed_ci.level for _, _, row in found if row.seed_ci is not None)
    table = Table(title=f"{condition}: {title} over runs, two intervals ({label})", title_justify="left")
    for name in ("item", "runs", "mean ± SD", f"seeds {level * 100:g}% CI", f"personas {level * 100:g}% CI"):
        table.add_column(name, justify="left" if name == "item" else "right", no_wrap=True)
    for item, n, row in found:
        table.add_row(item, str(n), spread_text(key, row.spread.mean, row.spread.sd),
                      _interval_text(row.seed_ci), _interval_text(row.persona_ci))
    table.caption = (f"seeds: percentile bootstrap of the {n_runs} runs' values (10,000 draws): how far the mean"
                     f" over these seeds moves; never wider than the {n_runs} values themselves. personas: the"
                     " within-run persona bootstrap, its ends averaged over the runs: how far one run moves"
                     " with other personas")
    table.caption_justify = "left"
    console.print(table)


def _interval_text(interval) -> str:
    return "–" if interval is None else f"[{number(interval.low)}, {number(interval.high)}]"
