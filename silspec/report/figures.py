"""Table content for the value-persona paper's summaries (per-country tests, country tables,
metric-vs-personas curves, Shapley values): header, rows and notes, written once and formatted
by the console, Markdown and HTML writers alike."""

from __future__ import annotations

from attrs import frozen

from silspec.analysis.results import ComparisonResult, CountryTable, PersonaCurve, ShapleyResult, WilcoxonTest
from silspec.report.format import number, pvalue


@frozen
class TableContent:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()


def _test_cells(test: WilcoxonTest | None) -> tuple[str, str, str]:
    """W, p and the questions the test ranked (ties dropped named)."""
    if test is None:
        return "–", "–", "< 2 questions"
    ranked = f"{test.n - test.n_zero}" + (f" ({test.n_zero} tied, dropped)" if test.n_zero else "")
    return number(test.statistic, 1), pvalue(test.pvalue), ranked


def by_country_content(comparison: ComparisonResult) -> TableContent | None:
    """``compare ... by country``: each country's means and the paired test across its questions."""
    if not comparison.by_country:
        return None
    rows = tuple(
        (c.country, str(c.n), number(c.mean_a), number(c.mean_b), *_test_cells(c.test))
        for c in comparison.by_country
    )
    return TableContent(
        title=f"{comparison.b} vs {comparison.a} on {comparison.metric}, per country",
        header=("country", "questions", f"mean {comparison.a}", f"mean {comparison.b}", "W", "p", "ranked"),
        rows=rows,
        notes=(f"Test: {comparison.country_test}.",),
    )


def country_table_content(table: CountryTable) -> TableContent:
    """Conditions as rows, countries as columns (the paper's Figure 11 layout): best in bold,
    † where it beats every other condition with p < alpha."""
    header = ("condition", f"all ({table.n_overall})", *(f"{c.country} ({c.n})" for c in table.countries))
    best_overall = _best_index(table.overall, table.lower_is_better)
    rows = []
    for i, condition in enumerate(table.conditions):
        cells = [condition, _mark(number(table.overall[i]), i == best_overall, False)]
        for column in table.countries:
            is_best = column.best == condition
            cells.append(_mark(number(column.means[i]), is_best, is_best and column.significant))
        rows.append(tuple(cells))
    direction = "lowest" if table.lower_is_better else "highest"
    variant = "with defaults" if table.variant == "with_defaults" else "valid answers only"
    notes = [
        f"Each cell: the mean {table.metric} over the questions (n in the column title) every condition has a "
        f"value for in that country; bold: the {direction} in its column; † the best condition beats every other "
        f"one with p < {table.alpha:g}.",
        f"Test: {table.test}.",
    ]
    return TableContent(
        title=f"{table.metric} by country ({variant})", header=header, rows=tuple(rows), notes=tuple(notes)
    )


def country_tests_content(table: CountryTable) -> TableContent:
    """The tests behind the †: the best condition of each country against each other one."""
    rows = tuple(
        (column.country, pair.best, pair.other, *_test_cells(pair.test))
        for column in table.countries
        for pair in column.tests
    )
    return TableContent(
        title=f"{table.metric} by country: the best condition against the others",
        header=("country", "best", "vs", "W", "p", "ranked"),
        rows=rows,
    )


def _best_index(values, lower: bool) -> int | None:
    finite = [(v, i) for i, v in enumerate(values) if v == v]
    if not finite:
        return None
    return (min(finite) if lower else max(finite))[1]


def _mark(text: str, best: bool, significant: bool) -> str:
    text = f"**{text}**" if best else text
    return text + " †" if significant else text


def curve_content(curve: PersonaCurve) -> TableContent:
    """Sizes as rows, each series (the country average first) as mean [low, high]."""
    series = sorted(curve.series, key=lambda s: s.country is not None)
    header = ("personas", *("all countries" if s.country is None else s.country for s in series))
    rows = []
    for index, size in enumerate(curve.sizes):
        cells = [str(size)]
        for s in series:
            point = s.points[index] if index < len(s.points) else None
            if point is None:
                cells.append("–")
            elif point.draws == 1:
                cells.append(number(point.mean))
            else:
                cells.append(f"{number(point.mean)} [{number(point.low)}, {number(point.high)}]")
        rows.append(tuple(cells))
    band = "the range over draws" if curve.level >= 1 else f"the {curve.level:.0%} percentile band over draws"
    notes = [
        f"{curve.metric} of {curve.condition} averaged over {curve.n_items} questions per country, with personas "
        f"drawn without replacement from the run's stored answers ({curve.draws} draws per size, seed {curve.seed}; "
        f"[low, high] = {band}; a size with every persona is drawn once; no new requests).",
    ]
    if curve.dropped_sizes:
        notes.append(
            "Sizes above the personas available were left out: "
            + ", ".join(str(s) for s in curve.dropped_sizes) + "."
        )
    return TableContent(
        title=f"{curve.metric} against the number of personas: {curve.condition}",
        header=header, rows=tuple(rows), notes=tuple(notes),
    )


def shapley_content(result: ShapleyResult) -> TableContent:
    """Countries as rows (the average last), items as columns, plus v(all) and v(none)."""
    rows = []
    for row in sorted(result.rows, key=lambda r: r.country is None):
        rows.append(
            (
                "mean over countries" if row.country is None else row.country,
                *(number(v, 4) for v in row.values),
                number(sum(row.values), 4) if all(v == v for v in row.values) else "–",
                number(row.full, 4),
                number(row.empty, 4),
            )
        )
    how = (
        f"exact over all {result.n_subsets} subsets" if result.method == "exact"
        else f"estimated from {result.permutations} permutations (seed {result.seed}), {result.n_subsets} subsets"
    )
    notes = [
        f"Shapley value of each descriptor item for the {result.metric} of {result.condition} ({how}); "
        f"negative: including the item lowers the error. Σ = v(all) − v(none) (efficiency).",
    ]
    if result.conditions:
        notes.append(f"The {len(result.conditions)} subset conditions ({result.conditions[0]} ... {result.conditions[-1]}) "
                     "have no tables of their own here (one compliance row for them all); JSON and CSV hold every value.")
    if result.missing:
        shown = ", ".join(result.missing[:6]) + (f" and {len(result.missing) - 6} more" if len(result.missing) > 6 else "")
        notes.append(f"Not computed: no value for {len(result.missing)} subset conditions ({shown}); run them first.")
    return TableContent(
        title=f"Item contributions (Shapley): ablation {result.ablation}",
        header=("country", *result.items, "Σ", "v(all)", "v(none)"),
        rows=tuple(rows),
        notes=tuple(notes),
    )
