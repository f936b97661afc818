"""Per-country averages across conditions and the value-persona paper's Wilcoxon tests.

The paper (seed 003, Appendix Figure 11) reports, per model and country, each method's MAE
averaged over the questions, marks the best method, and underlines it where "this advantage is
statistically significant (p < 0.05, Wilcoxon signed-rank test across methods)". The unit of
the test is the *question within the country*: method A's and method B's errors on the same
question are a pair. Here:

- every ``compare a vs b on METRIC by country`` line gets, per country, the two means over
  the questions both conditions have there and the signed-rank test of a against b across
  those questions (``ComparisonResult.by_country``);
- every metric compared ``by country`` gets one table (``CountryTable``): the conditions of
  those lines as rows, the countries as columns, each cell the mean over the questions *every*
  condition has in that country (so a row never averages other questions than its neighbour),
  the best condition per country, and its signed-rank test against each other condition.

The test is ``scipy.stats.wilcoxon`` two-sided with ``zero_method = "wilcox"`` (scipy's
default): pairs with equal values are dropped before ranking, and how many were dropped is kept
(``n_zero``) so that a reader sees a test over fewer questions than the mean. Every pair equal:
no evidence of a difference, p = 1. Fewer than 2 questions: no test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from silspec.analysis.metrics import HEADLINE_KEY, lower_is_better
from silspec.analysis.results import (
    CountryColumn,
    CountryComparison,
    CountryTable,
    ItemMetrics,
    PairTest,
    WilcoxonTest,
    Warning,
)
from silspec.spec.model import Spec

WILCOXON_METHOD = (
    "Wilcoxon signed-rank across questions within each country (scipy.stats.wilcoxon, two-sided, "
    "zero_method='wilcox': questions where both conditions have the same value are dropped before ranking)"
)
ALPHA = 0.05


def wilcoxon_signed_rank(a_values: Sequence[float], b_values: Sequence[float]) -> WilcoxonTest | None:
    """Two-sided signed-rank test of paired values; None with fewer than 2 pairs."""
    first = np.asarray(a_values, dtype=float)
    second = np.asarray(b_values, dtype=float)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"paired values must be two equal-length vectors, got {first.shape} and {second.shape}")
    if not (np.all(np.isfinite(first)) and np.all(np.isfinite(second))):
        raise ValueError("paired values must be finite numbers")
    if first.size < 2:
        return None
    n_zero = int(np.count_nonzero(first == second))
    if n_zero == first.size:
        return WilcoxonTest(statistic=0.0, pvalue=1.0, n=int(first.size), n_zero=n_zero)
    from scipy.stats import wilcoxon  # scipy.stats costs ~2 s to import; only tests need it

    result = wilcoxon(first, second, zero_method="wilcox", alternative="two-sided")
    return WilcoxonTest(
        statistic=float(result.statistic), pvalue=float(result.pvalue), n=int(first.size), n_zero=n_zero
    )


def _by_country(
    rows: Sequence[ItemMetrics], condition: str, key: str, variant: str
) -> dict[str, dict[str, float]]:
    """country -> question -> finite value of ``key`` for one condition."""
    found: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.condition != condition or row.variant != variant or row.country is None:
            continue
        value = row.values.get(key)
        if value is not None and math.isfinite(value):
            found.setdefault(row.country, {})[row.code] = float(value)
    return found


def country_comparisons(
    rows: Sequence[ItemMetrics], a: str, b: str, key: str, variant: str
) -> tuple[CountryComparison, ...]:
    """Per country (a's order, then b's): means of a and b over the questions both have there,
    and the signed-rank test across them."""
    of_a, of_b = _by_country(rows, a, key, variant), _by_country(rows, b, key, variant)
    result = []
    for country in dict.fromkeys([*of_a, *of_b]):
        left, right = of_a.get(country, {}), of_b.get(country, {})
        shared = [q for q in left if q in right]
        if not shared:
            continue
        x, y = [left[q] for q in shared], [right[q] for q in shared]
        result.append(
            CountryComparison(
                country=country, n=len(shared), mean_a=float(np.mean(x)), mean_b=float(np.mean(y)),
                test=wilcoxon_signed_rank(x, y),
            )
        )
    return tuple(result)


def _best(conditions: Sequence[str], means: Sequence[float], lower: bool) -> str | None:
    finite = [(m, c) for m, c in zip(means, conditions) if math.isfinite(m)]
    if not finite:
        return None
    target = min(m for m, _ in finite) if lower else max(m for m, _ in finite)
    winners = [c for m, c in finite if math.isclose(m, target, rel_tol=1e-12, abs_tol=1e-15)]
    return winners[0] if len(winners) == 1 else None


def country_table(
    rows: Sequence[ItemMetrics],
    conditions: Sequence[str],
    metric: str,
    key: str,
    *,
    lower: bool,
    variant: str = "with_defaults",
    alpha: float = ALPHA,
) -> CountryTable:
    """Mean of ``key`` per condition and country over the questions every condition has there,
    the best condition per country and its signed-rank test against each other one."""
    values = {c: _by_country(rows, c, key, variant) for c in conditions}
    countries = list(dict.fromkeys(country for c in conditions for country in values[c]))
    columns = []
    pooled: dict[str, list[float]] = {c: [] for c in conditions}
    for country in countries:
        asked = [set(values[c].get(country, {})) for c in conditions]
        union = set().union(*asked)
        shared = [q for q in values[conditions[0]].get(country, {}) if all(q in s for s in asked)]
        means = tuple(
            float(np.mean([values[c][country][q] for q in shared])) if shared else math.nan for c in conditions
        )
        for c in conditions:
            pooled[c].extend(values[c][country][q] for q in shared)
        best = _best(conditions, means, lower) if shared else None
        tests: list[PairTest] = []
        if best is not None:
            for other in conditions:
                if other == best:
                    continue
                test = wilcoxon_signed_rank(
                    [values[best][country][q] for q in shared], [values[other][country][q] for q in shared]
                )
                tests.append(PairTest(best=best, other=other, test=test))
        significant = bool(tests) and all(t.test is not None and t.test.pvalue < alpha for t in tests)
        columns.append(
            CountryColumn(
                country=country, means=means, n=len(shared), n_cells=len(union), best=best,
                tests=tuple(tests), significant=significant,
            )
        )
    n_overall = len(pooled[conditions[0]]) if conditions else 0
    overall = tuple(float(np.mean(pooled[c])) if n_overall else math.nan for c in conditions)
    return CountryTable(
        metric=metric, key=key, variant=variant, lower_is_better=lower, conditions=tuple(conditions),
        countries=tuple(columns), overall=overall, n_overall=n_overall, test=WILCOXON_METHOD, alpha=alpha,
    )


def country_tables(
    spec: Spec,
    item_rows: Sequence[ItemMetrics],
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
    warnings: list[Warning],
) -> list[CountryTable]:
    """One table per metric compared ``by country``: its conditions in the spec's order."""
    options = dict(metric_specs)
    by_metric: dict[str, set[str]] = {}
    for comparison in spec.analysis.comparisons:
        if comparison.by != "country":
            continue
        for metric in comparison.metrics:
            by_metric.setdefault(metric, set()).update((comparison.a, comparison.b))
    tables = []
    for metric, names in by_metric.items():
        if metric not in options:
            continue
        conditions = [c for c in spec.conditions if c in names]
        if len(conditions) < 2:
            continue
        table = country_table(
            item_rows, conditions, metric, HEADLINE_KEY.get(metric, metric),
            lower=lower_is_better(metric, options[metric]),
        )
        partial = [c for c in table.countries if c.n < c.n_cells]
        if partial:
            shown = ", ".join(f"{c.country} {c.n} of {c.n_cells}" for c in partial[:8])
            warnings.append(
                Warning(
                    kind="country_table_partial",
                    severity="high",
                    message=(
                        f"{metric} by country ({', '.join(conditions)}): a country's means cover only the "
                        f"questions every condition has a value for there ({shown}); the others are left out"
                    ),
                )
            )
        tables.append(table)
    return tables
