"""`b vs a` comparisons of one metric over items, the way the KGSS paper reports them: the
numbers (``compare_items``, the paired tests) and the spec's ``compare`` lines over the item rows.

Improvement of b over a = (a − b) / a for a lower-is-better metric. The "average improvement"
is the improvement *of the averages* (the paper's 26.5 %, 9.3 % without UNIFI), not the mean of
per-item improvements, which one item with a tiny baseline can dominate.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
from attrs import frozen

from silspec.analysis.cells import cell_label
from silspec.analysis.country_tests import WILCOXON_METHOD, country_comparisons
from silspec.analysis.distributions import VARIANTS
from silspec.analysis.metrics import HEADLINE_KEY, lower_is_better
from silspec.analysis.results import ComparisonResult, ComparisonRow, ItemMetrics, UncoveredCell, Warning
from silspec.spec.model import Condition, Spec


@frozen
class ItemImprovement:
    item: str
    a: float
    b: float
    improvement: float  # fraction: 0.25 = b is 25 % better than a
    b_better: bool


@frozen
class ImprovementTable:
    rows: tuple[ItemImprovement, ...]
    lower_is_better: bool
    n_items: int
    n_improved: int
    mean_a: float
    mean_b: float
    improvement_of_means: float
    without: tuple[str, ...] = ()
    n_items_without: int = 0
    n_improved_without: int = 0
    mean_a_without: float = math.nan
    mean_b_without: float = math.nan
    improvement_of_means_without: float = math.nan


@frozen
class PairedTest:
    statistic: float
    pvalue: float
    n: int
    method: str = "wilcoxon signed-rank"


def improvement(a: float, b: float, lower_is_better: bool = True) -> float:
    """Relative improvement of b over the baseline a; NaN when a is 0 (no scale to relate to)."""
    if a == 0 or not (math.isfinite(a) and math.isfinite(b)):
        return math.nan
    return (a - b) / a if lower_is_better else (b - a) / a


def _is_better(a: float, b: float, lower_is_better: bool) -> bool:
    return bool(b < a) if lower_is_better else bool(b > a)


def _summary(
    rows: Sequence[ItemImprovement], lower_is_better: bool
) -> tuple[int, int, float, float, float]:
    """(n items, n improved, mean of a, mean of b, improvement of the means)."""
    if not rows:
        return 0, 0, math.nan, math.nan, math.nan
    mean_a = float(np.mean([row.a for row in rows]))
    mean_b = float(np.mean([row.b for row in rows]))
    n_improved = sum(row.b_better for row in rows)
    return len(rows), n_improved, mean_a, mean_b, improvement(mean_a, mean_b, lower_is_better)


def compare_items(
    a: Mapping[str, float],
    b: Mapping[str, float],
    *,
    lower_is_better: bool = True,
    without: Sequence[str] = (),
) -> ImprovementTable:
    """Per-item and average comparison of condition b against baseline a (items in a's order)."""
    missing_in_b = [item for item in a if item not in b]
    missing_in_a = [item for item in b if item not in a]
    if missing_in_a or missing_in_b:
        raise ValueError(
            "both conditions must cover the same items;"
            f" only in a: {missing_in_b or 'none'}, only in b: {missing_in_a or 'none'}"
        )
    if not a:
        raise ValueError("nothing to compare: no items")
    unknown = [item for item in without if item not in a]
    if unknown:
        raise ValueError(f"items named in 'without' are not compared: {unknown}")

    rows = tuple(
        ItemImprovement(
            item=item,
            a=float(a[item]),
            b=float(b[item]),
            improvement=improvement(float(a[item]), float(b[item]), lower_is_better),
            b_better=_is_better(float(a[item]), float(b[item]), lower_is_better),
        )
        for item in a
    )
    n_items, n_improved, mean_a, mean_b, of_means = _summary(rows, lower_is_better)
    kept = [row for row in rows if row.item not in set(without)]
    n_kept, n_kept_improved, mean_a_kept, mean_b_kept, of_means_kept = _summary(
        kept, lower_is_better
    )
    return ImprovementTable(
        rows=rows,
        lower_is_better=lower_is_better,
        n_items=n_items,
        n_improved=n_improved,
        mean_a=mean_a,
        mean_b=mean_b,
        improvement_of_means=of_means,
        without=tuple(without),
        n_items_without=n_kept if without else 0,
        n_improved_without=n_kept_improved if without else 0,
        mean_a_without=mean_a_kept if without else math.nan,
        mean_b_without=mean_b_kept if without else math.nan,
        improvement_of_means_without=of_means_kept if without else math.nan,
    )


def _paired_vectors(a_values: Sequence[float], b_values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Both paired tests need the same guard: two equal-length, finite 1-D vectors."""
    first = np.asarray(a_values, dtype=float)
    second = np.asarray(b_values, dtype=float)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(
            "paired values must be two equal-length vectors,"
            f" got {first.shape} and {second.shape}"
        )
    if not (np.all(np.isfinite(first)) and np.all(np.isfinite(second))):
        raise ValueError("paired values must be finite numbers")
    return first, second


def paired_test(a_values: Sequence[float], b_values: Sequence[float]) -> PairedTest | None:
    """Wilcoxon signed-rank test of paired values (items or seeds); None with fewer than 2 pairs.

    With every difference zero there is no evidence of a difference: p = 1.
    """
    first, second = _paired_vectors(a_values, b_values)
    if first.size < 2:
        return None
    if np.all(first == second):
        return PairedTest(statistic=0.0, pvalue=1.0, n=int(first.size))
    from scipy.stats import wilcoxon  # scipy.stats costs ~2 s to import (importtime); only here

    result = wilcoxon(first, second)
    return PairedTest(
        statistic=float(result.statistic), pvalue=float(result.pvalue), n=int(first.size)
    )


PAIRED_REPLICATE_TEST = "paired t-test over replicates"


def paired_replicate_test(a_values: Sequence[float], b_values: Sequence[float]) -> PairedTest | None:
    """Paired t-test of one item's metric across replicates (replicate r of a with r of b).

    A t-test, not Wilcoxon: with k replicates the exact signed-rank test cannot reach p < 0.05
    below k = 6 (its smallest two-sided p is 2/2^k), and a replicate's metric is computed from
    many personas' answers, so its differences are close to normal. None with fewer than 2
    pairs; all differences equal: p = 1 when they are 0, else statistic ±inf and p = 0.
    """
    first, second = _paired_vectors(a_values, b_values)
    if first.size < 2:
        return None
    differences = second - first
    scale = max(1.0, float(np.max(np.abs(differences))))
    method = PAIRED_REPLICATE_TEST
    if float(np.ptp(differences)) <= 1e-12 * scale:
        mean = float(differences.mean())
        if abs(mean) <= 1e-12 * scale:
            return PairedTest(statistic=0.0, pvalue=1.0, n=int(first.size), method=method)
        return PairedTest(statistic=math.copysign(math.inf, mean), pvalue=0.0, n=int(first.size), method=method)
    from scipy.stats import ttest_rel  # as above: only replicate tests need scipy.stats

    result = ttest_rel(second, first)
    return PairedTest(
        statistic=float(result.statistic), pvalue=float(result.pvalue), n=int(first.size), method=method
    )


# ------------------------------------------------- the spec's `compare` lines over the item rows


def _headline(name: str) -> str:
    return HEADLINE_KEY.get(name, name)


def compare_conditions(
    spec: Spec,
    item_rows: Sequence[ItemMetrics],
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
    warnings: list[Warning],
) -> list[ComparisonResult]:
    """Every ``compare`` line, per metric and variant, over the cells *both* sides have; the
    cells either side was asked about but one lacks are carried as ``uncovered`` with the reason
    (shown as n/a, never averaged), and a partial average is a loud warning."""
    options_by_name = dict(metric_specs)
    conditions = spec.conditions
    results: list[ComparisonResult] = []
    for comparison in spec.analysis.comparisons:
        without = tuple(w.rpartition(".")[2] for w in comparison.without)
        design_a = _design_cells(conditions.get(comparison.a), comparison.by)
        design_b = _design_cells(conditions.get(comparison.b), comparison.by)
        unit = "item-country pairs" if comparison.by == "country" else "items"
        for name in comparison.metrics:
            key = _headline(name)
            direction = lower_is_better(name, options_by_name.get(name, {}))
            for variant in VARIANTS:
                a = _values_by_item(item_rows, comparison.a, key, variant, comparison.by)
                b = _values_by_item(item_rows, comparison.b, key, variant, comparison.by)
                shared = [k for k in a if k in b]
                if not shared:
                    if variant == "with_defaults":
                        warnings.append(
                            Warning(
                                kind="comparison_empty",
                                severity="high",
                                message=f"compare {comparison.b} vs {comparison.a} on {name}: no item has a value in both"
                                + _pooled_note(item_rows, comparison, variant),
                            )
                        )
                    continue
                cells = list(dict.fromkeys([*design_a, *design_b, *a, *b]))
                row_labels = {
                    side: _row_labels(item_rows, side, variant, comparison.by) for side in (comparison.a, comparison.b)
                }
                uncovered = tuple(
                    UncoveredCell(
                        item=cell,
                        a=a.get(cell),
                        b=b.get(cell),
                        reason=_uncovered_reason(
                            cell, key, ((comparison.a, a, design_a), (comparison.b, b, design_b)), row_labels,
                            {
                                side: [r for r in item_rows if r.condition == side and r.variant == variant]
                                for side in (comparison.a, comparison.b)
                            },
                        ),
                    )
                    for cell in cells
                    if cell not in a or cell not in b
                )
                result = compare_pair(
                    {k: a[k] for k in shared},
                    {k: b[k] for k in shared},
                    a_name=comparison.a,
                    b_name=comparison.b,
                    metric=name,
                    key=key,
                    variant=variant,
                    lower_is_better=direction,
                    without=without,
                    replicate_values=_paired_replicates(
                        item_rows, comparison.a, comparison.b, key, variant, comparison.by, shared
                    ),
                )
                result = attrs.evolve(result, n_cells=len(cells), uncovered=uncovered, unit=unit)
                if comparison.by == "country":
                    result = attrs.evolve(
                        result,
                        by_country=country_comparisons(item_rows, comparison.a, comparison.b, key, variant),
                        country_test=WILCOXON_METHOD,
                    )
                results.append(result)
                if uncovered and variant == "with_defaults":
                    shown = "; ".join(f"{cell.item}: {cell.reason}" for cell in uncovered[:6])
                    more = f"; and {len(uncovered) - 6} more" if len(uncovered) > 6 else ""
                    warnings.append(
                        Warning(
                            kind="comparison_partial",
                            severity="high",
                            message=(
                                f"compare {comparison.b} vs {comparison.a} on {name}: the average covers "
                                f"{len(shared)} of {len(cells)} {unit}; n/a: {shown}{more}"
                            ),
                        )
                    )
    return results


def _design_cells(condition: Condition | None, by: str | None) -> list[str]:
    """The comparison labels a condition was asked about: its items (× its countries by country)."""
    if condition is None:
        return []
    codes = [item.rpartition(".")[2] for item in condition.items]
    if by == "country" and condition.countries:
        return [cell_label(code, country) for code in codes for country in condition.countries]
    return codes


def _row_labels(rows: Sequence[ItemMetrics], condition: str, variant: str, by: str | None) -> dict[str, ItemMetrics]:
    """The metric rows a condition has (finite or not), by comparison label."""
    return {
        cell_label(row.code, row.country if by == "country" else None): row
        for row in rows
        if row.condition == condition and row.variant == variant
    }


def _uncovered_reason(
    cell: str,
    key: str,
    sides: Sequence[tuple[str, dict[str, float], Sequence[str]]],
    row_labels: dict[str, dict[str, ItemMetrics]],
    rows_of: dict[str, Sequence[ItemMetrics]] | None = None,
) -> str:
    """Why a cell is not compared, naming each side that lacks it."""
    rows_of = rows_of or {}
    reasons = []
    for name, values, design in sides:
        if cell in values:
            continue
        row = row_labels[name].get(cell)
        countries = {r.country for r in rows_of.get(name, ()) if cell_label(r.code, None) == cell}
        if len(countries) > 1:
            reasons.append(f"{name} has {len(countries)} countries for it; compare ... by country")
        elif cell not in design and row is None:
            reasons.append(f"not asked in {name}")
        elif row is None:
            reasons.append(f"{name} has no metrics (no scored answers or no benchmark)")
        elif row.reason and not row.values:  # kept without metrics, with its reason
            reasons.append(f"{name} has no metrics ({row.reason})")
        else:
            reasons.append(f"{name}: {key} undefined over {row.n} answers")
    return "; ".join(reasons)


def _paired_replicates(
    rows: Sequence[ItemMetrics], a: str, b: str, key: str, variant: str, by: str | None, items: Sequence[str]
) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    """Per item: the metric of a and of b on the replicate indices both have (finite in both)."""
    def by_replicate(condition: str) -> dict[str, dict[int, float]]:
        found: dict[str, dict[int, float]] = {}
        for row in rows:
            spread = row.across_replicates.get(key)
            if row.condition != condition or row.variant != variant or spread is None:
                continue
            label = cell_label(row.code, row.country if by == "country" else None)
            found[label] = dict(zip(row.replicates, spread.values))
        return found

    of_a, of_b = by_replicate(a), by_replicate(b)
    paired = {}
    for item in items:
        if item not in of_a or item not in of_b:
            continue
        shared = [
            r for r in of_a[item]
            if r in of_b[item] and math.isfinite(of_a[item][r]) and math.isfinite(of_b[item][r])
        ]
        if len(shared) >= 2:
            paired[item] = (tuple(of_a[item][r] for r in shared), tuple(of_b[item][r] for r in shared))
    return paired


def _values_by_item(
    rows: Sequence[ItemMetrics], condition: str, key: str, variant: str, by: str | None
) -> dict[str, float]:
    """Finite values by comparison label. Without ``by country`` a label that several countries'
    rows share is left out (``_pooled_labels`` names it): one country must not silently win."""
    values: dict[str, float] = {}
    pooled = _pooled_labels(rows, condition, variant, by)
    for row in rows:
        if row.condition != condition or row.variant != variant or key not in row.values:
            continue
        if not math.isfinite(row.values[key]):
            continue
        label = cell_label(row.code, row.country if by == "country" else None)
        if label not in pooled:
            values[label] = row.values[key]
    return values


def _pooled_note(rows: Sequence[ItemMetrics], comparison: Any, variant: str) -> str:
    """`` (...: compare ... by country)`` when items were left out for mixing countries."""
    pooled = {
        label
        for side in (comparison.a, comparison.b)
        for label in _pooled_labels(rows, side, variant, comparison.by)
    }
    if not pooled:
        return ""
    return (f" ({len(pooled)} items have rows of several countries, which one value per item cannot "
            f"stand for: write `compare {comparison.b} vs {comparison.a} ... by country`)")


def _pooled_labels(rows: Sequence[ItemMetrics], condition: str, variant: str, by: str | None) -> dict[str, int]:
    """Labels under which a condition has rows of several countries (no ``by country``): label ->
    number of countries."""
    if by == "country":
        return {}
    countries: dict[str, set] = defaultdict(set)
    for row in rows:
        if row.condition == condition and row.variant == variant:
            countries[cell_label(row.code, None)].add(row.country)
    return {label: len(found) for label, found in countries.items() if len(found) > 1}


def compare_pair(
    a: dict[str, float],
    b: dict[str, float],
    *,
    a_name: str,
    b_name: str,
    metric: str,
    key: str,
    variant: str,
    lower_is_better: bool,
    without: Sequence[str] = (),
    replicate_values: dict[str, tuple[Sequence[float], Sequence[float]]] | None = None,
) -> ComparisonResult:
    """Per-item values and the improvement of b over a, via ``silspec.analysis.compare``.

    The average improvement is the improvement of the averages (the KGSS paper's 26.5 %),
    not the mean of per-item improvements. Items of ``without`` that were not compared are
    ignored here (the spec may name an item a condition lacks). ``replicate_values`` maps an
    item to its (a, b) metric values per replicate, paired by replicate index: with at least 2
    pairs the row gets a paired t-test across replicates.
    """
    without = tuple(w for w in without if w in a)
    numeric = compare_items(a, b, lower_is_better=lower_is_better, without=without)
    replicate_values = replicate_values or {}
    rows = []
    for row in numeric.rows:
        test = None
        if row.item in replicate_values:
            test = paired_replicate_test(*replicate_values[row.item])
        rows.append(
            ComparisonRow(
                item=row.item,
                a=row.a,
                b=row.b,
                improvement=row.improvement,
                # equal up to float noise (same distribution, summed in another order) is a tie
                better=None if math.isclose(row.a, row.b, rel_tol=1e-9, abs_tol=1e-12) else bool(row.b_better),
                replicates=test.n if test else 0,
                replicate_statistic=test.statistic if test else None,
                replicate_pvalue=test.pvalue if test else None,
            )
        )
    rows = tuple(rows)
    paired = None
    if len(a) >= 3:
        try:
            paired = paired_test(list(a.values()), [b[k] for k in a])
        except ValueError:
            paired = None
    return ComparisonResult(
        a=a_name,
        b=b_name,
        metric=metric,
        key=key,
        variant=variant,
        lower_is_better=lower_is_better,
        rows=rows,
        n_improved=sum(1 for row in rows if row.better),
        mean_a=numeric.mean_a,
        mean_b=numeric.mean_b,
        improvement_of_means=numeric.improvement_of_means,
        without=without,
        mean_a_without=numeric.mean_a_without if without else None,
        mean_b_without=numeric.mean_b_without if without else None,
        improvement_without=numeric.improvement_of_means_without if without else None,
        paired_statistic=paired.statistic if paired else None,
        paired_pvalue=paired.pvalue if paired else None,
        paired_test=paired.method if paired else None,
        replicate_test=PAIRED_REPLICATE_TEST if any(row.replicates for row in rows) else None,
    )
