"""Results as files: JSON (schema in docs/report.md), tidy CSV, Markdown tables.

The Markdown tables are named blocks (``markdown_blocks``) so that ``--update-doc`` can drop
any of them into a manuscript; ``to_markdown`` is simply all of them in report order.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Callable, Iterable, Sequence

import attrs

from silspec.analysis.diversity import diversity_means
from silspec.analysis.metrics import HEADLINE_KEY
from silspec.analysis.report_warnings import LOW_VALID_MASS
from silspec.analysis.results import ComparisonResult, Results
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
    js_matrix,
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


CSV_COLUMNS = (
    "condition",
    "item",
    "country",
    "variant",
    "metric",
    "key",
    "value",
    "ci_low",
    "ci_high",
    "ci_level",
    "n",
    "benchmark",
    "replicate_mean",  # samples > 1: the metric per replicate, mean / SD / how many
    "replicate_sd",
    "replicates",
    "replicate_ci_low",  # the across-seed percentile bootstrap of the replicate values (docs/report.md)
    "replicate_ci_high",
    "reason",  # why a condition x item has no metric values (one row with an empty metric): never a missing row
    "subgroup",  # subgroup rows: the persona attribute, the group
    "group",
    "note",  # joint rows: what a measure is or why it is missing
)


def to_json(results: Results, *, indent: int | None = 2) -> str:
    """Strict JSON (no NaN): see docs/report.md for the schema."""
    return _strict_json(results, indent)


def _strict_json(report, indent: int | None) -> str:
    """Both reports serialise the same way: ``to_dict()``, UTF-8 kept, NaN refused (it is not JSON)."""
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=indent, allow_nan=False)


def metric_records(results: Results) -> list[dict[str, object]]:
    """One dict per condition × item × metric value × variant (``CSV_COLUMNS``), values as numbers
    or None; ``item`` is the qualified id (as in the JSON and the answers table). A condition ×
    item without values (no valid answers, none stored, no benchmark) is one record with empty
    metric columns and its ``reason``: never a missing row."""
    metric_of_key = {}
    for name in results.study.metrics:
        metric_of_key[HEADLINE_KEY.get(name, name)] = name
    out: list[dict[str, object]] = []
    runs = {(r.condition, r.item, r.variant, r.key): r for r in results.replicate_runs.rows} if results.replicate_runs else {}
    for row in results.items:
        base = {**dict.fromkeys(CSV_COLUMNS), "condition": row.condition, "item": row.item, "country": row.country,
                "variant": row.variant, "n": row.n, "benchmark": row.benchmark}
        if not row.values:
            out.append({**base, "reason": row.reason or "no metric values"})
            continue
        for key, value in row.values.items():
            interval = row.intervals.get(key)
            spread = row.across_replicates.get(key)
            if spread is None and (row.condition, item_label(row), row.variant, key) in runs:
                found = runs[(row.condition, item_label(row), row.variant, key)]
                spread = attrs.evolve(found.spread, seed_ci=found.seed_ci)  # replicates = N: over the runs
            seed_ci = spread.seed_ci if spread else None
            out.append({
                **base,
                "metric": metric_of_key.get(key, key.partition("_")[0]),
                "key": key,
                "value": value,
                "ci_low": interval.low if interval else None,
                "ci_high": interval.high if interval else None,
                "ci_level": interval.level if interval else None,
                "replicate_mean": spread.mean if spread else None,
                "replicate_sd": spread.sd if spread else None,
                "replicates": spread.n if spread else None,
                "replicate_ci_low": seed_ci.low if seed_ci else None,
                "replicate_ci_high": seed_ci.high if seed_ci else None,
                "reason": None,
            })
    out += _subgroup_records(results, metric_of_key) + _joint_records(results)
    return out


def _subgroup_records(results: Results, metric_of_key: dict[str, str]) -> list[dict[str, object]]:
    """One record per subgroup metric value; a group without metrics is one record with the reason."""
    out: list[dict[str, object]] = []
    for row in results.subgroups:
        base = {**dict.fromkeys(CSV_COLUMNS), "condition": row.condition, "item": row.item, "country": row.country,
                "variant": row.variant, "n": row.n, "benchmark": f"group {row.group}",
                "subgroup": row.attribute, "group": row.group}
        if not row.values:
            out.append({**base, "reason": row.reason or "no metric values"})
        for key, value in row.values.items():
            interval = row.intervals.get(key)
            out.append({**base, "metric": metric_of_key.get(key, key.partition("_")[0]), "key": key, "value": value,
                        "ci_low": interval.low if interval else None, "ci_high": interval.high if interval else None,
                        "ci_level": interval.level if interval else None})
    return out


JOINT_CSV_KEYS = ("js", "cramers_v", "cramers_v_benchmark", "polychoric", "polychoric_benchmark")


def _joint_records(results: Results) -> list[dict[str, object]]:
    """One record per joint measure (item = "A×B", metric = "joint"); empty values are not computed."""
    out: list[dict[str, object]] = []
    for row in results.joints:
        item = f"{row.a.rpartition('.')[2]}×{row.b.rpartition('.')[2]}"
        for key in JOINT_CSV_KEYS:
            interval = row.intervals.get(key)
            out.append({**dict.fromkeys(CSV_COLUMNS), "condition": row.condition, "item": item, "country": row.country,
                        "variant": row.variant, "metric": "joint", "key": key, "value": getattr(row, key),
                        "ci_low": interval.low if interval else None, "ci_high": interval.high if interval else None,
                        "ci_level": interval.level if interval else None, "n": row.n, "benchmark": row.name,
                        "note": row.note})
    return out


_CSV_NUMBERS = frozenset({"value", "ci_low", "ci_high", "replicate_mean", "replicate_sd", "replicate_ci_low",
                          "replicate_ci_high"})


def to_csv(results: Results) -> str:
    """Tidy: ``metric_records`` as CSV (numbers in Python's shortest round-trip repr)."""
    return _csv_text(CSV_COLUMNS, (
        [(_csv_number(record[c]) if c in _CSV_NUMBERS else ("" if record[c] is None else record[c]))
         for c in CSV_COLUMNS]
        for record in metric_records(results)
    ))


DISTRIBUTION_COLUMNS = ("condition", "item", "country", "variant", "code", "label", "count", "share",
                        "share_ci_low", "share_ci_high", "benchmark", "benchmark_share", "n", "reason")


def distribution_records(results: Results) -> list[dict[str, object]]:
    """One dict per condition × item × variant × code (``DISTRIBUTION_COLUMNS``): the simulated
    count and share with its bootstrap interval beside the benchmark's share. A cell without a
    distribution keeps its rows, with empty shares and its ``reason``."""
    labels = {(b.item, b.country): b.labels for b in results.benchmarks}
    out: list[dict[str, object]] = []
    for row in results.items:
        names = labels.get((row.item, row.country)) or ()
        for i, code in enumerate(row.codes):
            interval = row.share_intervals[i] if i < len(row.share_intervals) else None
            out.append({
                "condition": row.condition, "item": row.item, "country": row.country, "variant": row.variant,
                "code": code, "label": names[i] if i < len(names) else None,
                "count": row.counts[i] if i < len(row.counts) else None,
                "share": row.probs[i] if row.probs else None,
                "share_ci_low": interval[0] if interval else None,
                "share_ci_high": interval[1] if interval else None,
                "benchmark": row.benchmark,
                "benchmark_share": row.benchmark_probs[i] if i < len(row.benchmark_probs) else None,
                "n": row.n, "reason": None if row.probs else (row.reason or "no answers counted"),
            })
    return out


def usage_records(results: Results) -> list[dict[str, object]]:
    """Tokens and cost per condition, as the JSON's ``usage`` rows."""
    return [dict(row) for row in results.to_dict()["usage"]]


def _subgroup_csv_rows(results: Results, metric_of_key: dict[str, str]) -> list[list[object]]:
    """One row per subgroup metric value; a group without metrics is one row with the reason."""
    rows: list[list[object]] = []
    for row in results.subgroups:
        head = [row.condition, row.code, row.country or "", row.variant]
        tail = [row.n, f"group {row.group}", "", "", "", "", "", row.attribute, row.group]
        if not row.values:
            rows.append([*head, "", "", "", "", "", "", *tail, row.reason or ""])
        for key, value in row.values.items():
            interval = row.intervals.get(key)
            rows.append([*head, metric_of_key.get(key, key.partition("_")[0]), key, _csv_number(value),
                         _csv_number(interval.low) if interval else "", _csv_number(interval.high) if interval else "",
                         interval.level if interval else "", *tail, ""])
    return rows


JOINT_CSV_KEYS = ("js", "cramers_v", "cramers_v_benchmark", "polychoric", "polychoric_benchmark")


def _joint_csv_rows(results: Results) -> list[list[object]]:
    """One row per joint measure (item = "A×B", metric = "joint"); empty values are not computed."""
    rows: list[list[object]] = []
    for row in results.joints:
        item = f"{row.a.rpartition('.')[2]}×{row.b.rpartition('.')[2]}"
        for key in JOINT_CSV_KEYS:
            value = getattr(row, key)
            interval = row.intervals.get(key)
            rows.append([row.condition, item, row.country or "", row.variant, "joint", key,
                         "" if value is None else _csv_number(value),
                         *((_csv_number(interval.low), _csv_number(interval.high), interval.level) if interval else ("", "", "")),
                         row.n, row.name,
                         "", "", "", "", "", "", "", row.note or ""])
    return rows


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """One CSV dialect ("\n" line ends) for every tidy export."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _csv_number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "" if value is None or math.isnan(value) else ("inf" if value > 0 else "-inf")
    return repr(float(value))


# ---------------------------------------------------------------------------------- Markdown


def _table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def md_js_table(results: Results, variant: str = "with_defaults") -> str:
    conditions, table = js_matrix(results, variant)
    header = ["item", *conditions]
    rows = [[item, *(number(v) for v in values)] for item, values in table]
    means = []
    for i in range(len(conditions)):
        column = [values[i] for _, values in table if values[i] is not None]
        means.append(number(sum(column) / len(column)) if column else "–")
    rows.append(["mean", *means])
    return _table(header, rows)


def md_compliance(results: Results) -> str:
    with_mass = any(row.mean_valid_mass is not None for row in results.compliance)
    rows = [
        [
            row.condition,
            row.item.rpartition(".")[2] + (f"/{row.country}" if row.country else ""),
            str(row.n),
            percent(row.answered_share),
            ("**" + percent(row.default_share) + "**") if row.default_share > 0.10 else percent(row.default_share),
            str(row.defaulted_from_error),
            percent(row.refused_share),
            percent(row.invalid_share),
            percent(row.error_share),
            "" if row.default_code is None else str(row.default_code),
            *(
                [("**" + number(row.mean_valid_mass) + "**") if _low_mass(row) else number(row.mean_valid_mass)]
                if with_mass
                else []
            ),
        ]
        for row in compliance_rows(results)
    ]
    header = ["condition", "item", "n", "answered", "defaulted", "defaults from errors", "refused", "invalid", "errors", "default code"]
    header += ["valid mass"] if with_mass else []
    return _table(header, rows, ["---", "---"] + ["---:"] * (len(header) - 2))


def _low_mass(row) -> bool:
    return row.mean_valid_mass is not None and row.mean_valid_mass < LOW_VALID_MASS


def md_metrics(results: Results, condition: str, variant: str = "with_defaults") -> str:
    items = results.item_metrics(condition, variant)
    columns = columns_for(items, results.study.metric_options)
    spread = replicate_key(items)
    rows = []
    for row in items:
        compliance = compliance_for(results, row.condition, row.item, row.country)
        rows.append(
            [
                item_label(row),
                row.benchmark,
                str(row.n),
                percent(compliance.default_share) if compliance else "–",
                *(with_interval(row, key) for key, _ in columns),
                *([replicate_cell(row, spread)] if spread else []),
            ]
        )
    header = ["item", "benchmark", "n", "defaults", *(title for _, title in columns)]
    header += [replicate_title(items, spread)] if spread else []
    return _table(header, rows, ["---", "---"] + ["---:"] * (len(header) - 2))


def md_comparison(comparison: ComparisonResult) -> str:
    per_item_test = comparison.replicate_test is not None
    extra = [""] if per_item_test else []
    rows = [
        [
            row.item,
            value_cell(comparison.key, row.a),
            value_cell(comparison.key, row.b),
            improvement_text(row.improvement),
            "–" if row.better is None else ("yes" if row.better else "no"),
            *([replicate_test_text(row)] if per_item_test else []),
        ]
        for row in comparison.rows
    ]
    rows += [[*cells, "–", *extra] for cells in uncovered_cells(comparison, comparison.key)]
    rows.append(
        [
            average_label(comparison),
            number(comparison.mean_a),
            number(comparison.mean_b),
            improvement_text(comparison.improvement_of_means),
            "",
            *extra,
        ]
    )
    if comparison.without:
        rows.append(
            [
                f"average without {', '.join(comparison.without)}",
                number(comparison.mean_a_without),
                number(comparison.mean_b_without),
                improvement_text(comparison.improvement_without),
                "",
                *extra,
            ]
        )
    header = ["item", comparison.a, comparison.b, "improvement", "better?"]
    header += [f"{comparison.replicate_test}"] if per_item_test else []
    table = _table(header, rows)
    if comparison.uncovered:
        table += f"\n{uncovered_note(comparison)}.\n"
    if comparison.paired_pvalue is not None:
        table += f"\nAcross items, {comparison.paired_test}: p = {value_cell('pvalue', comparison.paired_pvalue)}.\n"
    by_country = by_country_content(comparison)
    if by_country is not None:
        table += "\n" + md_content(by_country)
    return table


def md_content(content: TableContent) -> str:
    """A titled table with its notes (``report.figures``)."""
    table = _table(list(content.header), [list(row) for row in content.rows])
    notes = "".join(f"\n{note}\n" for note in content.notes)
    return f"**{content.title}**\n\n{table}{notes}"


def md_country_tables(results: Results) -> str:
    return "\n".join(
        md_content(country_table_content(t)) + "\n" + md_content(country_tests_content(t))
        for t in results.country_tables
    )


def md_curves(results: Results) -> str:
    return "\n".join(md_content(curve_content(c)) for c in results.curves)


def md_shapley(results: Results) -> str:
    return "\n".join(md_content(shapley_content(s)) for s in results.shapley)


def md_comparisons(results: Results, variant: str = "with_defaults") -> str:
    parts = [
        f"**{comparison_title(c)}**\n\n{md_comparison(c)}" for c in results.comparisons if c.variant == variant
    ]
    return "\n".join(parts)


def md_benchmarks(results: Results) -> str:
    rows = [
        [
            b.item.rpartition(".")[2] + (f"/{b.country}" if b.country else ""),
            b.name,
            " / ".join(f"{v:g}" for v in b.values),
            f"{b.total:g}" + (" (renormalised)" if b.renormalised else ""),
            " / ".join(f"{p * 100:.1f}" for p in b.proportions),
        ]
        for b in results.benchmarks
    ]
    return _table(["item", "benchmark", "values", "sum", "shares used (%)"], rows, ["---"] * 5)


def md_calibration(results: Results) -> str:
    parts = []
    for calibration in results.calibrations:
        keys = list(calibration.mean_before)
        by_country = any(item.country for item in calibration.items)
        rows = [
            [
                item.item,
                *([item.country or ""] if by_country else []),
                temperature_cell(item),
                *(f"{value_cell(k, item.before.get(k))} → {value_cell(k, item.after.get(k))}" for k in keys),
            ]
            for item in calibration.items
        ]
        rows.append(["mean", *([""] if by_country else []), "", *(f"{number(calibration.mean_before[k])} → {number(calibration.mean_after[k])}" for k in keys)])
        title = f"**{calibration_title(calibration)}**\n\n"
        parts.append(title + _table(["item", *(["country"] if by_country else []), "T", *keys], rows))
    return "\n".join(parts)


DIVERSITY_NOTE = ("Mean over country pairs of 1 − JS distance (natural log) between the countries' distributions "
                  "of the same item, averaged over items: 1 = every country alike, lower = more diverse; survey = "
                  "the benchmarks of the same countries.")


def md_diversity(results: Results) -> str:
    """Country diversity per condition (``report { diversity = true }``): the model's beside the survey's."""
    rows = [
        [condition, variant, str(n), number(model), number(survey), number(model - survey)]
        for (condition, variant), (model, survey, n) in diversity_means(results.diversity).items()
        if variant == "with_defaults" or results.has_defaults(condition)
    ]
    if not rows:
        return ""
    header = ["condition", "variant", "items", "model", "survey", "model − survey"]
    return _table(header, rows, ["---", "---"] + ["---:"] * 4) + "\n" + DIVERSITY_NOTE + "\n"


def md_usage(results: Results) -> str:
    """Tokens and cost per condition, then where each price comes from."""
    if not results.usage:
        return ""
    columns = usage_columns(results)
    table = _table(columns, usage_cells(results), ["---", "---"] + ["---:"] * (len(columns) - 3) + ["---"])
    return table + "\n" + "".join(f"- price: {line}\n" for line in price_sources(results))


def md_subgroups(results: Results) -> str:
    """Every subgroup table, each under a bold title, with what the columns mean."""
    parts = []
    for condition, attribute, item, variant, rows in groups.subgroup_sections(results):
        header, body = groups.subgroup_table(rows)
        parts.append(f"**{groups.subgroup_title(condition, attribute, item, variant)}**\n\n"
                     + _table(header, body, ["---"] + ["---:"] * 3 + ["---", "---"] + ["---:"] * (len(header) - 7) + ["---"]))
    if parts:
        parts.append(groups.SUBGROUP_NOTE + "\n")
    return "\n".join(parts)


def md_joints(results: Results) -> str:
    """The joint-table summary per variant and each pair's two-way counts."""
    parts = []
    for variant, rows in groups.joint_sections(results):
        header, body = groups.joint_table(rows)
        which = "with defaults" if variant == "with_defaults" else "valid answers only"
        parts.append(f"**joint distributions of item pairs ({which})**\n\n"
                     + _table(header, body, ["---"] * 3 + ["---:"] * 7 + ["---"]))
        for row in rows:
            if row.counts:
                header, body = groups.joint_counts_table(row)
                shown = "simulated counts (benchmark %)" if row.benchmark is not None else "simulated counts"
                parts.append(f"{row.name} · {row.condition}: {shown}\n\n" + _table(header, body))
    if parts:
        parts.append(groups.JOINT_NOTE + "\n")
    return "\n".join(parts)


def md_warnings(results: Results) -> str:
    return "".join(
        f"- {'**' if w.severity == 'high' else ''}{w.message}{'**' if w.severity == 'high' else ''}\n"
        for w in results.warnings
    )


def markdown_blocks(results: Results) -> dict[str, Callable[[], str]]:
    """Every named block ``--update-doc`` can fill, built lazily."""
    blocks: dict[str, Callable[[], str]] = {
        "js_table": lambda: md_js_table(results),
        "js_table_valid_only": lambda: md_js_table(results, "valid_only"),
        "compliance": lambda: md_compliance(results),
        "comparison": lambda: md_comparisons(results),
        "comparison_valid_only": lambda: md_comparisons(results, "valid_only"),
        "benchmarks": lambda: md_benchmarks(results),
        "calibration": lambda: md_calibration(results),
        "country_tables": lambda: md_country_tables(results),
        "curves": lambda: md_curves(results),
        "shapley": lambda: md_shapley(results),
        "warnings": lambda: md_warnings(results),
        "usage": lambda: md_usage(results),
        "diversity": lambda: md_diversity(results),
        "subgroups": lambda: md_subgroups(results),
        "joints": lambda: md_joints(results),
        "replicate_runs": lambda: md_replicate_runs(results),
    }
    blocks.update(
        _per_condition_blocks("metrics", results.report_conditions(), lambda c, variant: md_metrics(results, c, variant))
    )
    return blocks


def _per_condition_blocks(
    prefix: str, conditions: Iterable[str], table: Callable[[str, str], str]
) -> dict[str, Callable[[], str]]:
    """``<prefix>_<condition>`` and its ``_valid_only`` twin: the block names docs/report.md promises."""
    blocks: dict[str, Callable[[], str]] = {}
    for condition in conditions:
        blocks[f"{prefix}_{condition}"] = lambda c=condition: table(c, "with_defaults")
        blocks[f"{prefix}_{condition}_valid_only"] = lambda c=condition: table(c, "valid_only")
    return blocks


def to_markdown(results: Results) -> str:
    study = results.study
    parts = [f"# {study.title or study.name}\n", f"Study `{study.name}`, spec `{study.spec_path}`, {answers_text(study)}.\n"]
    if results.warnings:
        parts += ["## Warnings\n", md_warnings(results)]
    parts += ["## Format compliance\n", md_compliance(results), "## Benchmarks\n", md_benchmarks(results)]
    parts += ["## Jensen–Shannon divergence (with defaults)\n", md_js_table(results)]
    if results.has_defaults():
        parts += ["## Jensen–Shannon divergence (valid answers only)\n", md_js_table(results, "valid_only")]
    for condition in results.report_conditions():
        parts += [f"## {condition}: metrics per item\n", md_metrics(results, condition)]
        if results.has_defaults(condition):
            parts += [f"## {condition}: metrics per item, valid answers only\n", md_metrics(results, condition, "valid_only")]
    if results.comparisons:
        parts += ["## Comparisons\n", md_comparisons(results)]
        if results.has_defaults():
            parts += [md_comparisons(results, "valid_only")]
    if results.country_tables:
        parts += ["## By country\n", md_country_tables(results)]
    if results.calibrations:
        parts += ["## Calibration\n", md_calibration(results)]
    if results.usage:
        parts += ["## Tokens and cost\n", md_usage(results)]
    if results.subgroups:
        parts += ["## Subgroups\n", md_subgroups(results)]
    if results.joints:
        parts += ["## Joint distributions\n", md_joints(results)]
    if results.replicate_runs is not None:
        parts += ["## Across replicate runs\n", md_replicate_runs(results)]
    if results.curves:
        parts += ["## Metric against the number of personas\n", md_curves(results)]
    if results.shapley:
        parts += ["## Item contributions\n", md_shapley(results)]
    if results.diversity:
        parts += ["## Country diversity\n", md_diversity(results)]
    return "\n".join(parts)


def md_replicate_runs(results: Results) -> str:
    """``replicates = N``: the runs and seeds, then per condition mean ± SD with both intervals."""
    runs = results.replicate_runs
    if runs is None:
        return ""
    parts = [md_runs(runs)]
    for condition in runs.conditions():
        parts += [f"**{condition}: metrics over replicate runs (with defaults)**\n\n" + md_runs_metrics(runs, condition)]
        if results.has_defaults(condition) and runs.rows_for(condition, "valid_only"):
            parts += [f"**{condition}: valid answers only**\n\n" + md_runs_metrics(runs, condition, "valid_only")]
    parts.append(SEED_CI_NOTE + "\n")
    return "\n".join(parts)


SEED_CI_NOTE = ("seeds CI: percentile bootstrap of the replicate runs' values (10,000 draws): how far the mean over "
                "these seeds moves, never wider than the values themselves (with 5 seeds it understates the "
                "run-to-run spread). personas CI: the within-run persona bootstrap, its ends averaged over the runs: "
                "how far one run's value moves with other personas of the same population.")


# ------------------------------------------------------------------------------ several runs

RUNS_CSV_COLUMNS = ("condition", "item", "variant", "metric", "key", "mean", "sd", "n", "runs", "values",
                    "seed_ci_low", "seed_ci_high", "persona_ci_low", "persona_ci_high", "ci_level")


def runs_to_json(aggregate, *, indent: int | None = 2) -> str:
    return _strict_json(aggregate, indent)


def runs_to_csv(aggregate) -> str:
    """Tidy: one row per condition × item × variant × metric value; ``values`` per run, ';'-joined."""
    return _csv_text(
        RUNS_CSV_COLUMNS,
        (
            [
                row.condition, row.item, row.variant, row.metric, row.key,
                _csv_number(row.spread.mean), _csv_number(row.spread.sd), row.spread.n,
                len(aggregate.runs), ";".join(_csv_number(v) for v in row.spread.values),
                *_csv_interval(row.seed_ci), *_csv_interval(row.persona_ci),
                _csv_number((row.seed_ci or row.persona_ci).level) if (row.seed_ci or row.persona_ci) else "",
            ]
            for row in aggregate.rows
        ),
    )


def _csv_interval(interval) -> tuple[str, str]:
    return ("", "") if interval is None else (_csv_number(interval.low), _csv_number(interval.high))


def md_runs(aggregate) -> str:
    """The runs and their seeds; with their usage (runs read from disk), what each paid."""
    if not any(run.usage for run in aggregate.runs):
        rows = [[run.run, str(run.seed), str(run.n_answers)] for run in aggregate.runs]
        return _table(["run", "seed", "stored answers"], rows, ["---", "---:", "---:"])
    rows = [[run.run, str(run.seed), str(run.n_answers), *total_tokens_text(run.usage), total_cost_text(run.usage)]
            for run in aggregate.runs]
    every = [u for run in aggregate.runs for u in run.usage]
    rows.append(["total", "", str(sum(run.n_answers for run in aggregate.runs)), *total_tokens_text(every),
                 total_cost_text(every)])
    table = _table(["run", "seed", "stored answers", "prompt tokens", "completion tokens", "cost"], rows,
                   ["---", "---:", "---:", "---:", "---:", "---:"])
    return table + "\nprice: " + "; ".join(usage_price_sources(every)) + "\n"


def md_runs_metrics(aggregate, condition: str, variant: str = "with_defaults") -> str:
    columns, table = runs_matrix(aggregate, condition, variant)
    rows = [
        [item, str(n), *(spread_text(key, by_key[key].spread.mean, by_key[key].spread.sd) if key in by_key else "–" for key, _ in columns)]
        for item, n, by_key in table
    ]
    header = ["item", "runs", *(f"{title} (mean ± SD)" for _, title in columns)]
    if columns:  # the headline metric's two intervals (docs/report.md: what each means)
        key, title = columns[0]
        levels = {r.level for _, _, by_key in table if key in by_key for r in (by_key[key].seed_ci, by_key[key].persona_ci) if r}
        level = f" {next(iter(levels)) * 100:g}%" if len(levels) == 1 else ""
        header += [f"{title} seeds{level} CI", f"{title} personas{level} CI"]
        for row, (_, _, by_key) in zip(rows, table):
            found = by_key.get(key)
            row += [_md_interval(found.seed_ci if found else None), _md_interval(found.persona_ci if found else None)]
    return _table(header, rows)


def _md_interval(interval) -> str:
    return "–" if interval is None else f"[{number(interval.low)}, {number(interval.high)}]"


def runs_markdown_blocks(aggregate) -> dict[str, Callable[[], str]]:
    """Blocks ``--update-doc`` can fill from several runs."""
    blocks: dict[str, Callable[[], str]] = {
        "runs": lambda: md_runs(aggregate),
        "warnings": lambda: md_warnings(aggregate),
    }
    blocks.update(
        _per_condition_blocks("runs", aggregate.conditions(), lambda c, variant: md_runs_metrics(aggregate, c, variant))
    )
    return blocks


def runs_to_markdown(aggregate) -> str:
    study = aggregate.study
    parts = [f"# {study.title or study.name}: {len(aggregate.runs)} runs\n", md_runs(aggregate)]
    if aggregate.warnings:
        parts += ["## Warnings\n", md_warnings(aggregate)]
    for condition in aggregate.conditions():
        parts += [f"## {condition}: metrics over runs (mean ± SD)\n", md_runs_metrics(aggregate, condition)]
        if aggregate.rows_for(condition, "valid_only"):
            parts += [f"## {condition}: valid answers only\n", md_runs_metrics(aggregate, condition, "valid_only")]
    return "\n".join(parts)
