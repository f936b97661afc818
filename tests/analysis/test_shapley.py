"""Shapley values of descriptor items (the value-persona paper's Figure 7) against the
permutation definition computed by brute force, on a hand-made value function of 4 items."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from silspec.analysis.results import ItemMetrics
from silspec.analysis.shapley import exact_shapley, permutation_shapley, shapley_of
from silspec.spec.model import Ablation

ITEMS = ("god", "autonomy", "abortion", "pride")


def value(subset: frozenset) -> float:
    """Not additive: autonomy and abortion interact, pride only helps with god."""
    base = {"god": -0.05, "autonomy": -0.02, "abortion": 0.01, "pride": 0.0}
    v = 0.3 + sum(base[i] for i in subset)
    if {"autonomy", "abortion"} <= subset:
        v -= 0.04
    if {"god", "pride"} <= subset:
        v -= 0.03
    return v


def brute_force(items, v) -> dict[str, float]:
    """The definition: the mean over all n! orders of each item's marginal contribution."""
    totals = dict.fromkeys(items, 0.0)
    orders = list(itertools.permutations(items))
    for order in orders:
        seen: frozenset = frozenset()
        for item in order:
            totals[item] += v(seen | {item}) - v(seen)
            seen = seen | {item}
    return {item: total / len(orders) for item, total in totals.items()}


def test_exact_shapley_equals_the_permutation_definition_on_four_items():
    exact = exact_shapley(ITEMS, value)
    expected = brute_force(ITEMS, value)
    for item in ITEMS:
        assert exact[item] == pytest.approx(expected[item], abs=1e-15)
    # hand-checked: god −0.05 − 0.03/2, autonomy −0.02 − 0.04/2, abortion 0.01 − 0.04/2, pride −0.03/2
    assert exact["god"] == pytest.approx(-0.065) and exact["pride"] == pytest.approx(-0.015)
    assert exact["autonomy"] == pytest.approx(-0.04) and exact["abortion"] == pytest.approx(-0.01)


def test_efficiency_the_values_add_up_to_the_full_minus_the_empty_set():
    exact = exact_shapley(ITEMS, value)
    assert sum(exact.values()) == pytest.approx(value(frozenset(ITEMS)) - value(frozenset()), abs=1e-15)


def test_all_orders_give_the_exact_values_and_sampled_orders_estimate_them():
    every = list(itertools.permutations(ITEMS))
    by_orders = permutation_shapley(ITEMS, every, value)
    exact = exact_shapley(ITEMS, value)
    assert all(by_orders[i] == pytest.approx(exact[i], abs=1e-15) for i in ITEMS)
    rng = np.random.default_rng(1)
    sampled = [tuple(ITEMS[j] for j in rng.permutation(4)) for _ in range(5)]
    estimate = permutation_shapley(ITEMS, sampled, value)
    # efficiency holds for every order, so for any sample of them
    assert sum(estimate.values()) == pytest.approx(value(frozenset(ITEMS)) - value(frozenset()), abs=1e-15)
    with pytest.raises(ValueError, match="every item once"):
        permutation_shapley(ITEMS, [("god", "pride")], value)


def _rows(ablation: Ablation, countries=("JPN", "GHA"), drop: str | None = None) -> list[ItemMetrics]:
    rows = []
    for subset, name in ablation.subsets:
        if name == drop:
            continue
        for k, country in enumerate(countries):
            for q in ("Q1", "Q2"):
                mae = value(frozenset(subset)) * (1 + k) + (0.01 if q == "Q2" else 0.0)
                rows.append(ItemMetrics(
                    condition=name, item=f"s.{q}", code=q, variant="with_defaults", answers="option_probs", n=1,
                    codes=(1, 2), counts=(1.0, 0.0), probs=(1.0, 0.0), benchmark="main",
                    benchmark_probs=(0.5, 0.5), values={"mae": mae}, country=country,
                ))
    return rows


def _ablation() -> Ablation:
    subsets = [s for n in range(5) for s in itertools.combinations(ITEMS, n)]
    return Ablation(
        name="iw", condition="value_personas", items=ITEMS,
        subsets=tuple((s, "value_personas" if len(s) == 4 else f"iw__{''.join('1' if i in s else '0' for i in ITEMS)}")
                      for s in subsets),
    )


def test_shapley_of_an_ablation_per_country_and_over_countries():
    warnings: list = []
    result = shapley_of(_ablation(), _rows(_ablation()), warnings)
    assert warnings == [] and result.missing == () and result.n_subsets == 16
    jpn, gha, mean = result.rows
    expected = brute_force(ITEMS, value)
    assert jpn.country == "JPN" and mean.country is None
    assert jpn.values == pytest.approx(tuple(expected[i] for i in ITEMS), abs=1e-12)
    assert gha.values == pytest.approx(tuple(2 * expected[i] for i in ITEMS), abs=1e-12)  # v doubled
    assert mean.values == pytest.approx(tuple(1.5 * expected[i] for i in ITEMS), abs=1e-12)
    assert jpn.full == pytest.approx(value(frozenset(ITEMS)) + 0.005)
    assert sum(gha.values) == pytest.approx(gha.full - gha.empty, abs=1e-12)


def test_a_subset_without_answers_gives_no_values_and_a_loud_warning():
    warnings: list = []
    result = shapley_of(_ablation(), _rows(_ablation(), drop="iw__0110"), warnings)
    assert result.rows == () and result.missing == ("iw__0110",)
    (warning,) = warnings
    assert warning.severity == "high" and "iw__0110" in warning.message


def test_an_ablation_by_sampled_orders_uses_only_their_prefixes():
    orders = (("pride", "god", "abortion", "autonomy"), ("autonomy", "abortion", "pride", "god"))
    prefixes = sorted({tuple(sorted(o[:j], key=ITEMS.index)) for o in orders for j in range(5)}, key=len)
    ablation = Ablation(
        name="iw", condition="value_personas", items=ITEMS, method="permutations", permutations=2, seed=1,
        orders=orders,
        subsets=tuple((s, "value_personas" if len(s) == 4 else f"iw__{''.join('1' if i in s else '0' for i in ITEMS)}")
                      for s in prefixes),
    )
    result = shapley_of(ablation, _rows(ablation, countries=("JPN",)), [])
    assert result.method == "permutations" and result.n_subsets == len(prefixes) == 8
    expected = permutation_shapley(ITEMS, orders, value)
    (jpn, mean) = result.rows
    assert jpn.values == pytest.approx(tuple(expected[i] for i in ITEMS), abs=1e-12)
    assert mean.country is None and mean.values == jpn.values
