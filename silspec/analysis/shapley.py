"""Shapley values of descriptor items (the value-persona paper's Figure 7).

An ``ablation`` asks its condition again once per subset S of the descriptor items (persona
texts built from S only). The value of a subset is the metric of that subset's condition,
averaged over the questions (per country): v(S) = mean_q MAE(S, q). Item i's Shapley value is
its marginal contribution averaged over every order in which items can be added:

    φ_i = Σ_{S ⊆ N \\ {i}} |S|! (n − |S| − 1)! / n! · (v(S ∪ {i}) − v(S))

computed exactly from all 2^n subsets, or, for a declared ``permutations = N``, as the mean
marginal contribution over the N sampled orders (whose prefixes are the subsets asked). The
values add up to v(N) − v(∅) (efficiency). With an error metric a negative value means that
including the item lowers the error, the paper's sign convention.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from silspec.analysis.metrics import HEADLINE_KEY
from silspec.analysis.results import ItemMetrics, ShapleyResult, ShapleyRow, Warning
from silspec.spec.model import Ablation, Spec


def exact_shapley(items: Sequence[Hashable], value: Callable[[frozenset], float]) -> dict[Hashable, float]:
    """Every item's Shapley value from all 2^n subsets (the subset-weight formula)."""
    n = len(items)
    weights = [math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n) for size in range(n)]
    cache: dict[frozenset, float] = {}

    def v(subset: frozenset) -> float:
        if subset not in cache:
            cache[subset] = float(value(subset))
        return cache[subset]

    result = {}
    for item in items:
        others = [other for other in items if other != item]
        total = 0.0
        for mask in range(1 << len(others)):
            subset = frozenset(others[j] for j in range(len(others)) if mask >> j & 1)
            total += weights[len(subset)] * (v(subset | {item}) - v(subset))
        result[item] = total
    return result


def permutation_shapley(
    items: Sequence[Hashable], orders: Sequence[Sequence[Hashable]], value: Callable[[frozenset], float]
) -> dict[Hashable, float]:
    """The mean marginal contribution of each item over the given orders (an estimate; exact
    when ``orders`` are all n! permutations)."""
    if not orders:
        raise ValueError("permutation Shapley values need at least one order")
    totals = {item: 0.0 for item in items}
    for order in orders:
        if sorted(map(str, order)) != sorted(map(str, items)):
            raise ValueError(f"an order must list every item once: {list(order)}")
        previous, subset = float(value(frozenset())), frozenset()
        for item in order:
            subset = subset | {item}
            current = float(value(subset))
            totals[item] += current - previous
            previous = current
    return {item: total / len(orders) for item, total in totals.items()}


def _values_by_country(
    rows: Sequence[ItemMetrics], condition: str, key: str, variant: str
) -> dict[str, dict[str, float]]:
    """country ("" without one) -> question -> finite value of ``key``."""
    found: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.condition == condition and row.variant == variant:
            value = row.values.get(key)
            if value is not None and math.isfinite(value):
                found.setdefault(row.country or "", {})[row.code] = float(value)
    return found


def ablation_shapley(
    spec: Spec,
    item_rows: Sequence[ItemMetrics],
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
    warnings: list[Warning],
    variant: str = "with_defaults",
) -> list[ShapleyResult]:
    declared = dict(metric_specs)
    return [
        shapley_of(ablation, item_rows, warnings, variant)
        for ablation in spec.ablations.values()
        if ablation.metric in declared
    ]


def shapley_of(
    ablation: Ablation, item_rows: Sequence[ItemMetrics], warnings: list[Warning], variant: str = "with_defaults"
) -> ShapleyResult:
    """Per country and over countries: each item's Shapley value of the ablation's metric,
    v(S) the mean over the questions *every* subset condition has in that country."""
    key = HEADLINE_KEY.get(ablation.metric, ablation.metric)
    by_subset = {frozenset(subset): name for subset, name in ablation.subsets}
    generated = tuple(name for name in by_subset.values() if name != ablation.condition)
    values = {name: _values_by_country(item_rows, name, key, variant) for name in by_subset.values()}
    missing = tuple(name for name, found in values.items() if not found)
    result = ShapleyResult(
        ablation=ablation.name, condition=ablation.condition, metric=ablation.metric, key=key, variant=variant,
        items=ablation.items, method=ablation.method, n_subsets=len(ablation.subsets),
        permutations=ablation.permutations, seed=ablation.seed, missing=missing, conditions=generated,
    )
    if missing:
        warnings.append(
            Warning(
                kind="shapley_incomplete",
                severity="high",
                message=(
                    f"ablation {ablation.name}: {len(missing)} of {len(by_subset)} subset conditions have no "
                    f"{ablation.metric} value (not run yet?), so no Shapley values: {', '.join(missing[:5])}"
                    + (" ..." if len(missing) > 5 else "")
                ),
                condition=ablation.condition,
            )
        )
        return result
    countries = list(dict.fromkeys(c for found in values.values() for c in found))
    per_country: dict[str, dict[frozenset, float]] = {}
    for country in countries:
        question_sets = [set(values[name].get(country, {})) for name in by_subset.values()]
        shared = set.intersection(*question_sets)
        union = set.union(*question_sets)
        if not shared:
            continue
        if shared != union:
            warnings.append(
                Warning(
                    kind="shapley_partial",
                    severity="high",
                    message=(
                        f"ablation {ablation.name}, {country or 'all'}: v(S) averages the {len(shared)} questions "
                        f"every subset condition has a value for; {len(union - shared)} left out "
                        f"({', '.join(sorted(union - shared)[:6])})"
                    ),
                    condition=ablation.condition,
                )
            )
        per_country[country] = {
            subset: float(np.mean([values[name][country][q] for q in sorted(shared)]))
            for subset, name in by_subset.items()
        }
    rows = [_row(ablation, country or None, table) for country, table in per_country.items()]
    if len(per_country) > 1:
        average = {s: float(np.mean([t[s] for t in per_country.values()])) for s in by_subset}
        rows.append(_row(ablation, None, average))
    elif rows and rows[0].country is not None:
        rows.append(ShapleyRow(country=None, values=rows[0].values, full=rows[0].full, empty=rows[0].empty))
    return ShapleyResult(
        ablation=ablation.name, condition=ablation.condition, metric=ablation.metric, key=key, variant=variant,
        items=ablation.items, method=ablation.method, n_subsets=len(ablation.subsets),
        permutations=ablation.permutations, seed=ablation.seed, rows=tuple(rows), conditions=generated,
    )


def _row(ablation: Ablation, country: str | None, table: Mapping[frozenset, float]) -> ShapleyRow:
    def value(subset: frozenset) -> float:
        return table[subset]

    if ablation.method == "exact":
        phi = exact_shapley(ablation.items, value)
    else:
        phi = permutation_shapley(ablation.items, ablation.orders, value)
    return ShapleyRow(
        country=country,
        values=tuple(phi[item] for item in ablation.items),
        full=table[frozenset(ablation.items)],
        empty=table[frozenset()],
    )
