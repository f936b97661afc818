"""The first-token paper's metric forms: its "EMD" (scipy over probability *values*), country
diversity (mean 1 − JS distance between countries) and the report's diversity table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from silspec.analysis.diversity import country_diversity, diversity_means, mean_pairwise_similarity
from silspec.analysis.metrics import compute_metric, emd_values_paper, lower_is_better, wasserstein_ordinal
from silspec.analysis.results import ItemMetrics


@pytest.mark.parametrize("p, q", [
    ([0.7, 0.2, 0.1], [0.2, 0.3, 0.5]),
    ([0.25, 0.25, 0.25, 0.25], [0.9, 0.05, 0.03, 0.02]),
    ([0.5, 0.5], [0.1, 0.9]),
])
def test_emd_values_paper_is_scipy_over_the_probability_values(p, q):
    assert emd_values_paper(p, q) == pytest.approx(wasserstein_distance(p, q), abs=1e-15)


def test_emd_values_paper_by_hand_and_why_it_is_not_ordinal():
    # values {1, 0} vs {0.5, 0.5}: sorted pairs (0, .5), (1, .5) -> mean |diff| = 0.5
    assert emd_values_paper([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    # all mass on the first option vs all on the last: the same multiset of shares -> 0,
    # while the ordinal earth mover's distance is the largest there is
    assert emd_values_paper([1, 0, 0], [0, 0, 1]) == 0.0
    assert wasserstein_ordinal([1, 0, 0], [0, 0, 1]) == 1.0
    # percent in, percent out the same: inputs are normalised first
    assert emd_values_paper([60, 40], [50, 50]) == pytest.approx(0.1)


def test_emd_values_paper_through_compute_metric_is_lower_is_better():
    out = compute_metric("emd_values_paper", [0.7, 0.3], None, [0.4, 0.6], codes=[1, 2])
    assert out == {"emd_values_paper": pytest.approx(wasserstein_distance([0.7, 0.3], [0.4, 0.6]))}
    assert lower_is_better("emd_values_paper")


def test_mean_pairwise_similarity_is_one_minus_scipy_js_distance():
    a, b, c = [0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4]
    expected = np.mean([1 - jensenshannon(x, y) for x, y in ((a, b), (a, c), (b, c))])
    assert mean_pairwise_similarity([a, b, c]) == pytest.approx(expected, abs=1e-12)
    # disjoint supports: JS divergence ln 2, distance sqrt(ln 2)
    assert mean_pairwise_similarity([[1, 0], [0, 1]]) == pytest.approx(1 - math.sqrt(math.log(2)))
    assert mean_pairwise_similarity([[0.5, 0.5]] * 3) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least two"):
        mean_pairwise_similarity([[1.0]])


def _row(condition, item, country, probs, bench, variant="with_defaults"):
    return ItemMetrics(condition=condition, item=item, code=item.split(".")[-1], variant=variant, answers="option_probs",
                       n=1, codes=(1, 2), counts=(), probs=probs, benchmark="b", benchmark_probs=bench, country=country)


def test_country_diversity_per_item_and_condition_mean():
    rows = [
        _row("zs", "s.Q1", "AAA", (0.5, 0.5), (1.0, 0.0)),
        _row("zs", "s.Q1", "BBB", (0.5, 0.5), (0.0, 1.0)),
        _row("zs", "s.Q2", "AAA", (1.0, 0.0), (0.5, 0.5)),
        _row("zs", "s.Q2", "BBB", (0.0, 1.0), (0.5, 0.5)),
        _row("zs", "s.Q3", "AAA", (0.2, 0.8), (0.2, 0.8)),  # one country: no diversity to speak of
        _row("zs", "s.Q4", None, (0.2, 0.8), (0.2, 0.8)),  # not country-level
    ]
    out = {r.item: r for r in country_diversity(rows)}
    assert set(out) == {"s.Q1", "s.Q2"}
    low = 1 - math.sqrt(math.log(2))
    # Q1: the model says the same for both countries (1.0); the survey's countries are opposites
    assert (out["s.Q1"].model, out["s.Q1"].survey, out["s.Q1"].n_countries) == (pytest.approx(1.0), pytest.approx(low), 2)
    assert (out["s.Q2"].model, out["s.Q2"].survey) == (pytest.approx(low), pytest.approx(1.0))
    means = diversity_means(tuple(out.values()))
    assert means[("zs", "with_defaults")] == (pytest.approx((1 + low) / 2), pytest.approx((1 + low) / 2), 2)
