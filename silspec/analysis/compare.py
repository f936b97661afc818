"""`b vs a` comparisons of one metric over items, the way the KGSS paper reports them.

Improvement of b over a = (a − b) / a for a lower-is-better metric. The "average improvement"
is the improvement *of the averages* (the paper's 26.5 %, 9.3 % without UNIFI), not the mean of
per-item improvements, which one item with a tiny baseline can dominate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from attrs import frozen


@frozen
class ComparisonRow:
    item: str
    a: float
    b: float
    improvement: float  # fraction: 0.25 = b is 25 % better than a
    b_better: bool


@frozen
class ComparisonResult:
    rows: tuple[ComparisonRow, ...]
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
    rows: Sequence[ComparisonRow], lower_is_better: bool
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
) -> ComparisonResult:
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
        ComparisonRow(
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
    return ComparisonResult(
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
    from scipy.stats import wilcoxon

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
    from scipy.stats import ttest_rel

    result = ttest_rel(second, first)
    return PairedTest(
        statistic=float(result.statistic), pvalue=float(result.pvalue), n=int(first.size), method=method
    )
