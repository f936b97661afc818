"""Bootstrap over personas: agrees with a naive loop in distribution, vectorised, validated."""

import math

import numpy as np
import pytest

from silspec.analysis.bootstrap import (
    CI,
    aggregate_seeds,
    bootstrap_distribution_ci,
    bootstrap_mean_ci,
    js_statistic,
)
from silspec.analysis.metrics import js_divergence

CODES = np.array([1, 2, 3, 4])
BENCH = np.array([9.8, 41.0, 37.1, 11.5])


def naive_percentile_ci(persona_codes, bench, resamples, level, seed):
    """The textbook loop: draw persona indices, histogram, compute JS; the reference."""
    rng = np.random.default_rng(seed)
    n = len(persona_codes)
    values = []
    for _ in range(resamples):
        drawn = persona_codes[rng.integers(0, n, n)]
        counts = np.array([(drawn == c).sum() for c in CODES])
        values.append(js_divergence(counts, bench))
    tail = (1 - level) / 2
    return np.quantile(values, [tail, 1 - tail])


def test_estimate_is_the_statistic_on_the_full_sample():
    answers = np.repeat(CODES, [10, 50, 30, 10])
    ci = bootstrap_distribution_ci(answers, None, CODES, js_statistic(BENCH), resamples=200, seed=1)
    assert isinstance(ci, CI)
    assert ci.estimate == pytest.approx(js_divergence([10, 50, 30, 10], BENCH))
    assert ci.low <= ci.estimate <= ci.high
    assert ci.resamples == 200 and ci.level == 0.95


def test_interval_agrees_with_a_naive_persona_loop():
    rng = np.random.default_rng(0)
    answers = rng.choice(CODES, size=100, p=[0.05, 0.6, 0.3, 0.05])
    ci = bootstrap_distribution_ci(answers, None, CODES, js_statistic(BENCH), resamples=4000, seed=5)
    low, high = naive_percentile_ci(answers, BENCH, 4000, 0.95, seed=6)
    # Different random streams: agreement up to Monte-Carlo error of the percentiles.
    assert ci.low == pytest.approx(low, abs=0.01)
    assert ci.high == pytest.approx(high, abs=0.01)


def test_same_seed_same_interval_and_wider_level_wider_interval():
    answers = np.repeat(CODES, [5, 60, 30, 5])
    first = bootstrap_distribution_ci(answers, None, CODES, js_statistic(BENCH), seed=3)
    again = bootstrap_distribution_ci(answers, None, CODES, js_statistic(BENCH), seed=3)
    assert (first.low, first.high) == (again.low, again.high)
    wide = bootstrap_distribution_ci(answers, None, CODES, js_statistic(BENCH), level=0.99, seed=3)
    assert wide.high - wide.low > first.high - first.low


def test_all_personas_on_one_code_gives_a_degenerate_interval():
    answers = np.full(100, 2)
    ci = bootstrap_distribution_ci(answers, None, CODES, js_statistic(BENCH), seed=1)
    assert ci.low == pytest.approx(ci.high) == pytest.approx(ci.estimate)


def test_option_probability_mode_resamples_persona_rows():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet([1, 5, 3, 1], size=80)
    ci = bootstrap_distribution_ci(None, probs, CODES, js_statistic(BENCH), resamples=3000, seed=4)
    assert ci.estimate == pytest.approx(js_divergence(probs.mean(axis=0), BENCH))
    # naive loop over persona index draws
    draws = np.random.default_rng(9).integers(0, 80, size=(3000, 80))
    naive = [js_divergence(probs[idx].mean(axis=0), BENCH) for idx in draws]
    low, high = np.quantile(naive, [0.025, 0.975])
    assert ci.low == pytest.approx(low, abs=0.003)
    assert ci.high == pytest.approx(high, abs=0.003)
    assert ci.low < ci.estimate < ci.high


def test_option_probability_mode_is_chunked_for_large_pools(monkeypatch):
    import silspec.analysis.bootstrap as bootstrap

    probs = np.random.default_rng(2).dirichlet([1, 1, 1, 1], size=30)
    whole = bootstrap_distribution_ci(None, probs, CODES, js_statistic(BENCH), resamples=50, seed=4)
    monkeypatch.setattr(bootstrap, "_MAX_CELLS_PER_CHUNK", 100)  # 3 resamples per chunk
    chunked = bootstrap_distribution_ci(None, probs, CODES, js_statistic(BENCH), resamples=50, seed=4)
    # Row-by-row multinomial draws use the random stream the same way in one call or many.
    assert (chunked.low, chunked.high) == pytest.approx((whole.low, whole.high), rel=1e-12)
    assert chunked.low < chunked.high


def test_identity_statistic_gives_share_intervals_near_the_binomial_ones():
    answers = np.repeat(CODES, [10, 50, 30, 10])
    ci = bootstrap_distribution_ci(
        answers, None, CODES, lambda shares: shares[:, 1], resamples=20000, seed=8
    )
    half_width = 1.96 * math.sqrt(0.5 * 0.5 / 100)
    assert ci.low == pytest.approx(0.5 - half_width, abs=0.015)
    assert ci.high == pytest.approx(0.5 + half_width, abs=0.015)


def test_bad_inputs_are_refused_clearly():
    answers = np.repeat(CODES, [10, 50, 30, 10])
    statistic = js_statistic(BENCH)
    with pytest.raises(ValueError, match="exactly one"):
        bootstrap_distribution_ci(None, None, CODES, statistic)
    with pytest.raises(ValueError, match="exactly one"):
        bootstrap_distribution_ci(answers, np.ones((4, 4)), CODES, statistic)
    with pytest.raises(ValueError, match="outside the codes.*9"):
        bootstrap_distribution_ci(np.array([1, 2, 9]), None, CODES, statistic)
    with pytest.raises(ValueError, match="level"):
        bootstrap_distribution_ci(answers, None, CODES, statistic, level=95)
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_distribution_ci(answers, None, CODES, statistic, resamples=0)
    with pytest.raises(ValueError, match="columns"):
        bootstrap_distribution_ci(None, np.ones((5, 3)), CODES, statistic)
    with pytest.raises(ValueError, match=r"\(10,\) values"):
        bootstrap_distribution_ci(answers, None, CODES, lambda m: m, resamples=10)
    with pytest.raises(ValueError, match="codes"):
        js_statistic([1, 1, 1])(np.ones((2, 4)) / 4)


def test_bootstrap_mean_ci_over_items():
    values = np.array([0.062, 0.083, 0.134, 0.084, 0.115, 0.065])
    ci = bootstrap_mean_ci(values, resamples=2000, seed=1)
    assert ci.estimate == pytest.approx(values.mean())
    assert values.min() < ci.low < ci.estimate < ci.high < values.max()


def test_aggregate_seeds():
    aggregate = aggregate_seeds([0.10, 0.12, 0.14])
    assert aggregate.mean == pytest.approx(0.12)
    assert aggregate.sd == pytest.approx(0.02)
    assert aggregate.n == 3
    single = aggregate_seeds([0.3])
    assert single.mean == 0.3 and math.isnan(single.sd) and single.n == 1
    with pytest.raises(ValueError, match="at least one"):
        aggregate_seeds([])
    with pytest.raises(ValueError, match="finite"):
        aggregate_seeds([0.1, float("nan")])


def test_share_intervals_match_the_binomial_width_and_reject_bad_input():
    from silspec.analysis.bootstrap import bootstrap_share_intervals

    codes = np.array([1] * 200 + [2] * 200)
    lows, highs = bootstrap_share_intervals(codes, None, [1, 2], resamples=4000, level=0.95, seed=0)
    assert highs - lows == pytest.approx([2 * 1.96 * np.sqrt(0.25 / 400)] * 2, abs=0.01)
    probs = np.tile([0.2, 0.8], (50, 1))  # every persona identical: no spread at all
    lows, highs = bootstrap_share_intervals(None, probs, [1, 2], resamples=200, seed=0)
    assert lows == pytest.approx([0.2, 0.8]) and highs == pytest.approx([0.2, 0.8])
    with pytest.raises(ValueError, match="exactly one"):
        bootstrap_share_intervals(codes, probs, [1, 2])


@pytest.mark.parametrize("form", ["divergence", "distance", "one_minus_divergence", "one_minus_distance"])
@pytest.mark.parametrize("log", ["e", 2])
def test_js_statistic_fast_path_equals_compute_metric_for_every_form(form, log):
    """The bootstrap's vectorised JS is the same number compute_metric gives, per form and base."""
    from silspec.analysis.metrics import compute_metric, js_log_base

    rng = np.random.default_rng(5)
    bench = rng.dirichlet(np.ones(4))
    rows = rng.dirichlet(np.ones(4), size=6)
    fast = js_statistic(bench, js_log_base({"log": log}), form)(rows)
    slow = [compute_metric("js", row, None, bench, codes=[1, 2, 3, 4], options={"log": log, "form": form})["js"] for row in rows]
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-14)
