"""The subgroup and joint-table sections as plain header/rows: one source for the console,
Markdown, HTML and CSV writers (each only formats)."""

from __future__ import annotations

from typing import Sequence

from silspec.analysis.results import JointRow, Results, SubgroupRow
from silspec.report.format import COLUMNS, number, with_interval

JOINT_NOTE = ("JS: Jensen–Shannon divergence of the flattened joint tables (simulated vs benchmark "
              "cross-tabulation); V: Cramér's V; ρ: polychoric correlation (two-step ML; both scales ordinal); "
              "[low, high]: percentile bootstrap over personas")
SUBGROUP_NOTE = ("per group: n = answers counted, personas = personas of the group asked, bench n = respondents "
                 "behind the group's benchmark; [low, high] = percentile bootstrap over the group's personas")


def subgroup_sections(results: Results) -> list[tuple[str, str, str, str, list[SubgroupRow]]]:
    """(condition, attribute, item label, variant, rows) per table, in result order; the
    valid-only tables only where the condition has filled-in answers (else identical)."""
    sections: dict[tuple[str, str, str, str], list[SubgroupRow]] = {}
    for row in results.subgroups:
        if row.variant == "valid_only" and not results.has_defaults(row.condition):
            continue
        label = f"{row.code}/{row.country}" if row.country else row.code
        sections.setdefault((row.condition, row.attribute, label, row.variant), []).append(row)
    return [(*key, rows) for key, rows in sections.items()]


def subgroup_title(condition: str, attribute: str, item: str, variant: str) -> str:
    which = "with defaults" if variant == "with_defaults" else "VALID ANSWERS ONLY"
    return f"{condition}: {item} by {attribute} ({which})"


def subgroup_table(rows: Sequence[SubgroupRow]) -> tuple[list[str], list[list[str]]]:
    present = {key for row in rows for key in row.values}
    columns = [(key, title) for key, title in COLUMNS if key in present]
    header = ["group", "n", "personas", "bench n", "simulated %", "benchmark %", *(t for _, t in columns), "note"]
    body = []
    for row in rows:
        body.append([
            row.group, str(row.n), str(row.personas), "–" if row.benchmark_n is None else str(row.benchmark_n),
            _shares(row.probs), _shares(row.benchmark_probs),
            *(with_interval(row, key) for key, _ in columns),
            row.reason or "",
        ])
    return header, body


def joint_sections(results: Results) -> list[tuple[str, list[JointRow]]]:
    """(variant, rows): the with-defaults table, and the valid-only one where some condition has fills."""
    out = []
    for variant in ("with_defaults", "valid_only"):
        rows = [r for r in results.joints if r.variant == variant
                and (variant == "with_defaults" or results.has_defaults(r.condition))]
        if rows:
            out.append((variant, rows))
    return out


def joint_table(rows: Sequence[JointRow]) -> tuple[list[str], list[list[str]]]:
    header = ["pair", "condition", "items", "n pairs", "unpaired", "JS (joint)", "V sim", "V bench", "ρ sim", "ρ bench", "note"]
    body = []
    for row in rows:
        items = f"{row.a.rpartition('.')[2]} × {row.b.rpartition('.')[2]}" + (f" /{row.country}" if row.country else "")
        body.append([row.name, row.condition, items, str(row.n), str(row.unpaired), _joint_value(row, "js"),
                     _joint_value(row, "cramers_v"), number(row.cramers_v_benchmark), number(row.polychoric),
                     number(row.polychoric_benchmark), row.note or ""])
    return header, body


def joint_counts_table(row: JointRow) -> tuple[list[str], list[list[str]]]:
    """The simulated two-way counts (and the benchmark's shares in %, when declared) of one row."""
    code_a, code_b = row.a.rpartition(".")[2], row.b.rpartition(".")[2]
    header = [f"{code_a} \\ {code_b}", *(str(c) for c in row.codes_b)]
    body = []
    for i, code in enumerate(row.codes_a):
        cells = [f"{row.counts[i][j]:.0f}" if row.counts else "–" for j in range(len(row.codes_b))]
        if row.benchmark is not None:
            cells = [f"{c} ({row.benchmark[i][j] * 100:.1f} %)" for j, c in enumerate(cells)]
        body.append([str(code), *cells])
    return header, body


def _joint_value(row: JointRow, key: str) -> str:
    text = number(getattr(row, key))
    interval = row.intervals.get(key)
    if interval is not None:
        text += f" [{number(interval.low)}, {number(interval.high)}]"
    return text


def _shares(probs) -> str:
    return "–" if probs is None else " / ".join(f"{p * 100:.0f}" for p in probs)
