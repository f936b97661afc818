"""The across-seed percentile bootstrap (``replicates.seed_percentile_ci``), checked against
independent computations: the same draws by hand, and the exact bootstrap distribution."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from silspec.analysis.replicates import SEED_RESAMPLES, mean_interval, seed_percentile_ci
from silspec.analysis.results import Interval

FIVE_SEEDS = [0.062, 0.081, 0.113, 0.070, 0.125]  # one item's JS over 5 runs


def test_the_same_draws_by_hand_give_the_same_interval():
    """The KGSS authors' loop: 10,000 times draw k seed values with replacement, take the mean."""
    rng = np.random.default_rng(42)
    data = np.array(FIVE_SEEDS)
    means = [data[rng.integers(0, data.size, size=data.size)].mean() for _ in range(10_000)]
    low, high = np.percentile(means, [2.5, 97.5])
    ci = seed_percentile_ci(FIVE_SEEDS, seed=42)
    assert SEED_RESAMPLES == 10_000 and ci.resamples == 10_000 and ci.level == 0.95
    assert (ci.low, ci.high) == pytest.approx((low, high), abs=1e-15)
    assert ci.estimate == pytest.approx(np.mean(FIVE_SEEDS))


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_the_interval_matches_the_exact_bootstrap_distribution(seed):
    """All 5^5 equally likely resamples enumerated: their means' percentiles are the interval
    10,000 random draws estimate."""
    data = np.array(FIVE_SEEDS)
    exact = np.array([data[list(pick)].mean() for pick in itertools.product(range(5), repeat=5)])
    low, high = np.quantile(exact, [0.025, 0.975])
    ci = seed_percentile_ci(FIVE_SEEDS, seed=seed)
    assert ci.low == pytest.approx(low, abs=0.002) and ci.high == pytest.approx(high, abs=0.002)


def test_with_few_seeds_the_interval_is_never_wider_than_the_values():
    rng = np.random.default_rng(0)
    for _ in range(50):
        values = rng.gamma(2.0, 0.05, size=5)
        ci = seed_percentile_ci(values, seed=int(rng.integers(1000)))
        assert values.min() - 1e-12 <= ci.low <= ci.high <= values.max() + 1e-12


def test_missing_runs_are_left_out_and_one_value_has_no_interval():
    assert seed_percentile_ci([0.1, math.nan]) is None
    assert seed_percentile_ci([]) is None
    with_gap = seed_percentile_ci([0.1, math.nan, 0.2, 0.3], seed=3)
    assert with_gap == seed_percentile_ci([0.1, 0.2, 0.3], seed=3)
    assert seed_percentile_ci(FIVE_SEEDS, level=0.9, seed=1).high <= seed_percentile_ci(FIVE_SEEDS, level=0.95, seed=1).high


def test_the_persona_interval_over_runs_averages_each_end():
    a, b = Interval(0.1, 0.05, 0.15, 0.95, 1000), Interval(0.2, 0.1, 0.3, 0.95, 1000)
    assert mean_interval([a, None, b]) == Interval(pytest.approx(0.15), pytest.approx(0.075), pytest.approx(0.225), 0.95, 1000)
    assert mean_interval([None]) is None
    assert mean_interval([a, Interval(0.2, 0.1, 0.3, 0.9, 1000)]) is None  # different levels do not average
