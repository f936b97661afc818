"""Metrics against independent computations (scipy) and hand-worked values."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chisquare, ks_2samp, wasserstein_distance

from silspec.analysis.metrics import (
    HEADLINE_KEY,
    LOWER_IS_BETTER,
    chi_square,
    compute_metric,
    js_distance,
    js_divergence,
    ks_statistic_of,
    ks_test,
    lower_is_better,
    mean_of,
    modal_match,
    normalised_mae,
    normalised_variance,
    pseudo_counts,
    to_proportions,
    variance_of,
    wasserstein_ordinal,
)

shares_strategy = st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=10).filter(
    lambda xs: sum(xs) > 1e-6
)


def random_pair(rng, k):
    return rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))


# ------------------------------------------------------------------- to_proportions


def test_counts_percents_and_proportions_give_the_same_shares():
    expected = np.array([0.2, 0.5, 0.3])
    for form in ([2, 5, 3], [20.0, 50.0, 30.0], [0.2, 0.5, 0.3]):
        np.testing.assert_allclose(to_proportions(form), expected)


@pytest.mark.parametrize(
    "bad, message",
    [
        ([], "empty"),
        ([0, 0, 0], "all zeros"),
        ([1, -1, 2], "negative"),
        ([1, float("nan")], "NaN"),
        ([1, float("inf")], "NaN or infinite"),
        ([[1, 2], [3, 4]], "1-D"),
    ],
)
def test_to_proportions_refuses_what_is_not_a_distribution(bad, message):
    with pytest.raises(ValueError, match=message):
        to_proportions(bad)


# ---------------------------------------------------------------------- Jensen-Shannon


def test_js_matches_scipy_squared_distance_on_hand_made_vectors():
    p, q = [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]
    assert js_divergence(p, q) == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-12)
    assert js_divergence(p, q, base=2) == pytest.approx(jensenshannon(p, q, base=2) ** 2, rel=1e-12)
    assert js_distance(p, q) == pytest.approx(jensenshannon(p, q), rel=1e-12)


def test_js_matches_scipy_on_random_distributions_with_zeros():
    rng = np.random.default_rng(7)
    for k in (2, 3, 5, 11):
        for _ in range(30):
            p, q = random_pair(rng, k)
            p[rng.integers(k)] = 0.0
            assert js_divergence(p, q) == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-10, abs=1e-15)


def test_js_is_bounded_by_ln2_and_reached_for_disjoint_supports():
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(math.log(2))
    assert js_divergence([1, 0], [0, 1], base=2) == pytest.approx(1.0)
    disjoint = compute_metric("js", [1, 0], None, [0, 1], codes=[1, 2], options={"log": 2, "form": "one_minus_divergence"})
    assert disjoint["js"] == pytest.approx(0.0)
    same = compute_metric("js", [1, 3], None, [2, 6], codes=[1, 2], options={"form": "one_minus_distance"})
    assert same["js"] == pytest.approx(1.0)


@pytest.mark.parametrize("log, base", [("e", None), (2, 2.0), (10, 10.0)])
def test_every_js_form_equals_scipy_jensenshannon(log, base):
    """Each named form against scipy: distance = jensenshannon, divergence = its square, the
    one_minus_* forms 1 minus those; every form in the log base the block names."""
    rng = np.random.default_rng(11)
    for _ in range(20):
        p, q = random_pair(rng, 5)
        scipy_distance = float(jensenshannon(p, q) if base is None else jensenshannon(p, q, base=base))
        expected = {
            "divergence": scipy_distance**2,
            "distance": scipy_distance,
            "one_minus_divergence": 1 - scipy_distance**2,
            "one_minus_distance": 1 - scipy_distance,
        }
        for form, value in expected.items():
            got = compute_metric("js", p, None, q, codes=[1, 2, 3, 4, 5], options={"log": log, "form": form})
            assert got["js"] == pytest.approx(value, rel=1e-10, abs=1e-12), form


def test_first_token_paper_1_minus_jsd_is_one_minus_the_scipy_distance():
    """The paper's "1-JSD" on one pair: 1 - jensenshannon (natural log) = 0.7097, while
    1 - divergence in base 2 (the removed `similarity`) = 0.8784: different numbers."""
    p, q = [0.7, 0.2, 0.1], [0.3, 0.4, 0.3]
    paper = compute_metric("js", p, None, q, codes=[1, 2, 3], options={"form": "one_minus_distance"})
    assert paper["js"] == pytest.approx(1 - jensenshannon(p, q), abs=1e-12)
    assert paper["js"] == pytest.approx(0.7097, abs=5e-5)
    bits = compute_metric("js", p, None, q, codes=[1, 2, 3], options={"log": 2, "form": "one_minus_divergence"})
    assert bits["js"] == pytest.approx(0.8784, abs=5e-5)


def test_similarity_form_is_refused_with_the_new_names():
    with pytest.raises(ValueError, match="one_minus_divergence or one_minus_distance"):
        compute_metric("js", [1, 1], None, [1, 2], codes=[1, 2], options={"form": "similarity"})
    with pytest.raises(ValueError, match="removed"):
        lower_is_better("js", {"form": "similarity"})


def test_js_of_a_single_code_is_zero():
    assert js_divergence([5], [100]) == 0.0


def test_js_percent_benchmark_equals_proportion_benchmark():
    assert js_divergence([0, 77, 23], [17.3, 65.4, 20.3]) == pytest.approx(
        js_divergence([0, 0.77, 0.23], np.array([17.3, 65.4, 20.3]) / 103.0)
    )


def test_js_refuses_unequal_lengths_with_a_clear_message():
    with pytest.raises(ValueError, match="different numbers of codes"):
        js_divergence([1, 2, 3], [1, 2])


def test_js_refuses_an_invalid_base():
    with pytest.raises(ValueError, match="log base"):
        js_divergence([1, 2], [2, 1], base=1)


@settings(max_examples=60, deadline=None)
@given(shares_strategy, st.data())
def test_js_is_symmetric_nonnegative_and_bounded(p, data):
    same_length = st.lists(st.floats(0, 100, allow_nan=False), min_size=len(p), max_size=len(p))
    q = data.draw(same_length.filter(lambda xs: sum(xs) > 1e-6))
    value = js_divergence(p, q)
    assert 0.0 <= value <= math.log(2) + 1e-12
    assert value == pytest.approx(js_divergence(q, p), abs=1e-12)


# ---------------------------------------------------------------------- pseudo counts


def test_pseudo_counts_use_largest_remainder_and_sum_to_n():
    # KRPROUD's shares sum to 99.2: renormalised x 1230 = 229.39, 827.03, 171.11, 2.48;
    # floors sum to 1229 and the one leftover unit goes to the largest remainder (code 4).
    counts = pseudo_counts([18.5, 66.7, 13.8, 0.2], 1230)
    np.testing.assert_array_equal(counts, [229, 827, 171, 3])
    assert counts.dtype.kind == "i"


def test_pseudo_counts_hand_example():
    # 1/3 each of 10: floors 3,3,3 and one leftover to the first on the tie
    np.testing.assert_array_equal(pseudo_counts([1, 1, 1], 10), [4, 3, 3])
    # remainders 0.6, 0.3, 0.1 of 1: the largest remainder wins
    np.testing.assert_array_equal(pseudo_counts([0.6, 0.3, 0.1], 1), [1, 0, 0])
    np.testing.assert_array_equal(pseudo_counts([0.16, 0.44, 0.4], 10), [2, 4, 4])
    # remainders that tie up to float noise (0.5 and 0.5) go to the earlier code
    np.testing.assert_array_equal(pseudo_counts([0.15, 0.45, 0.4], 10), [2, 4, 4])
    np.testing.assert_array_equal(pseudo_counts([0.45, 0.15, 0.4], 10), [5, 1, 4])


@pytest.mark.parametrize("n", [-1, 2.5, True])
def test_pseudo_counts_refuses_a_bad_n(n):
    with pytest.raises(ValueError, match="non-negative integer"):
        pseudo_counts([1, 2], n)


# --------------------------------------------------------------------------------- KS


def test_ks_matches_scipy_on_expanded_samples():
    sim, bench = [0, 78, 22], [207, 781, 242]
    expected = ks_2samp(np.repeat([1, 2, 3], sim), np.repeat([1, 2, 3], bench))
    result = ks_test(sim, bench)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.pvalue == pytest.approx(expected.pvalue)
    assert result.statistic == pytest.approx(ks_statistic_of(sim, bench))


def test_ks_of_identical_distributions_does_not_reject():
    result = ks_test([10, 20, 30], [100, 200, 300])
    assert result.statistic == pytest.approx(0.0)
    assert result.pvalue == pytest.approx(1.0)


def test_ks_refuses_fractional_counts_and_unequal_lengths():
    with pytest.raises(ValueError, match="whole-number counts"):
        ks_test([0.2, 0.8], [10, 10])
    with pytest.raises(ValueError, match="different numbers of codes"):
        ks_test([1, 2, 3], [1, 2])


# -------------------------------------------------------------------------------- chi2


def test_chi_square_goodness_of_fit_matches_scipy():
    rng = np.random.default_rng(3)
    for k in (2, 4, 6):
        shares = rng.dirichlet(np.ones(k))
        counts = rng.multinomial(200, rng.dirichlet(np.ones(k)))
        expected = chisquare(counts, f_exp=shares * counts.sum())
        result = chi_square(counts, shares * 100)  # benchmark in percent
        assert result.statistic == pytest.approx(expected.statistic, rel=1e-10)
        assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-8)
        assert result.dof == k - 1


def test_chi_square_with_bench_n_is_the_two_sample_homogeneity_test():
    from scipy.stats import chi2_contingency

    counts, shares = np.array([0, 78, 22]), [17.3, 65.4, 20.3]
    reference = pseudo_counts(shares, 1230)
    expected = chi2_contingency(np.vstack([counts, reference]), correction=False)
    result = chi_square(counts, shares, bench_n=1230)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.pvalue == pytest.approx(expected.pvalue)
    assert result.dof == 2


def test_chi_square_drops_a_code_nobody_has_and_says_so():
    result = chi_square([30, 70, 0], [0.4, 0.6, 0.0])
    expected = chisquare([30, 70], f_exp=[40, 60])
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.dof == 1
    assert result.dropped_codes == (3,)
    assert "dropped" in result.note


def test_chi_square_refuses_answers_on_a_code_the_benchmark_excludes():
    with pytest.raises(ValueError, match="undefined.*position"):
        chi_square([30, 60, 10], [0.4, 0.6, 0.0])


def test_chi_square_on_a_single_code_has_nothing_to_test():
    result = chi_square([10], [1.0])
    assert result.dof == 0 and result.statistic == 0.0 and math.isnan(result.pvalue)


# ------------------------------------------------------------------------- Wasserstein


def test_wasserstein_equals_scipy_with_positions_as_values_and_probabilities_as_weights():
    rng = np.random.default_rng(11)
    for k in (2, 4, 5, 10):
        positions = np.arange(1, k + 1)
        for _ in range(20):
            p, q = random_pair(rng, k)
            expected = wasserstein_distance(positions, positions, p, q) / (k - 1)
            assert wasserstein_ordinal(p, q) == pytest.approx(expected, abs=1e-12)
            assert wasserstein_ordinal(p, q, codes=positions) == pytest.approx(expected, abs=1e-12)


def test_wasserstein_with_uneven_codes_uses_their_gaps():
    codes = np.array([0, 1, 5])
    p, q = [0.2, 0.3, 0.5], [0.5, 0.4, 0.1]
    expected = wasserstein_distance(codes, codes, p, q) / 5
    assert wasserstein_ordinal(p, q, codes=codes) == pytest.approx(expected)


def test_wasserstein_is_one_for_opposite_ends_and_zero_for_equal():
    assert wasserstein_ordinal([1, 0, 0, 0], [0, 0, 0, 1]) == pytest.approx(1.0)
    assert wasserstein_ordinal([1, 2, 3], [10, 20, 30]) == pytest.approx(0.0)
    assert wasserstein_ordinal([1], [1]) == 0.0


def test_wasserstein_differs_from_scipy_called_with_the_probability_vectors_as_values():
    """SimLLMCultureDist's bug: scipy(p, q) compares the *sets of probability values*.

    A distribution and its mirror image have the same multiset of probabilities, so the buggy
    call says they are identical; they are in fact far apart on the scale.
    """
    p = np.array([0.7, 0.2, 0.1, 0.0])
    mirrored = p[::-1]
    assert wasserstein_distance(p, mirrored) == pytest.approx(0.0)  # the bug
    assert wasserstein_ordinal(p, mirrored) == pytest.approx(
        wasserstein_distance(np.arange(4), np.arange(4), p, mirrored) / 3
    )
    assert wasserstein_ordinal(p, mirrored) > 0.5


def test_wasserstein_refuses_bad_codes():
    with pytest.raises(ValueError, match="strictly increasing"):
        wasserstein_ordinal([1, 2, 3], [3, 2, 1], codes=[1, 3, 2])
    with pytest.raises(ValueError, match="codes has 2 values"):
        wasserstein_ordinal([1, 2, 3], [3, 2, 1], codes=[1, 2])


# ------------------------------------------------------------------- moments and mode


def test_mean_and_variance_match_numpy_on_an_expanded_sample():
    counts, codes = np.array([3, 5, 2]), np.array([1, 2, 3])
    sample = np.repeat(codes, counts)
    assert mean_of(counts, codes) == pytest.approx(sample.mean())
    assert variance_of(counts, codes) == pytest.approx(sample.var())


def test_normalised_variance_is_one_at_the_extremes_and_zero_on_one_code():
    assert normalised_variance([0.5, 0, 0, 0, 0.5], [1, 2, 3, 4, 5]) == pytest.approx(1.0)
    assert normalised_variance([0, 1, 0], [1, 2, 3]) == 0.0
    assert normalised_variance([1], [7]) == 0.0
    uniform = normalised_variance([1, 1, 1, 1, 1], [1, 2, 3, 4, 5])
    assert uniform == pytest.approx(2.0 / 4.0)  # var of 1..5 = 2, max = 16/4 = 4


def test_normalised_mae_divides_the_mean_absolute_gap_by_the_range():
    assert normalised_mae([2.0, 3.0], [1.0, 3.5], low=1, high=5) == pytest.approx(0.75 / 4)
    with pytest.raises(ValueError, match="equal-length"):
        normalised_mae([1.0], [1.0, 2.0], low=1, high=5)
    with pytest.raises(ValueError, match="high must exceed low"):
        normalised_mae([1.0], [1.0], low=5, high=5)


def test_modal_match():
    assert modal_match([1, 5, 2], [10, 60, 30])
    assert not modal_match([5, 1, 2], [10, 60, 30])
    assert modal_match([5, 5, 0], [10, 60, 30])  # tie that includes the benchmark's mode


# ----------------------------------------------------------------------- compute_metric


def test_compute_metric_headlines_and_directions():
    sim, bench, codes = [0.0, 0.78, 0.22], [17.3, 65.4, 20.3], [1, 2, 3]
    counts = [0, 78, 22]
    for name in LOWER_IS_BETTER:
        values = compute_metric(name, sim, counts, bench, codes=codes, bench_n=1230, options={})
        assert HEADLINE_KEY[name] in values
        assert all(isinstance(v, float) for v in values.values())
    js = compute_metric("js", sim, counts, bench, codes=codes, options={"log": 2})
    assert js["js"] == pytest.approx(js_divergence(sim, bench, base=2))
    js_e = compute_metric("js", sim, counts, bench, codes=codes, options={"log": "e"})
    assert js_e["js"] == pytest.approx(0.0622, abs=5e-5)
    distance = compute_metric("js", sim, counts, bench, codes=codes, options={"form": "distance"})
    assert distance["js"] == pytest.approx(math.sqrt(js_e["js"]))
    assert lower_is_better("js", {"form": "one_minus_distance"}) is False
    assert lower_is_better("js", {"form": "one_minus_divergence"}) is False
    assert lower_is_better("js", {"form": "distance"}) is True
    assert lower_is_better("accuracy") is False
    ks = compute_metric("ks", sim, counts, bench, codes=codes, bench_n=1230, options={})
    assert ks["ks_pvalue"] == pytest.approx(0.00926, rel=1e-2)
    mae = compute_metric("mae", sim, counts, bench, codes=codes, options={})
    assert mae["mae"] == pytest.approx(abs(mean_of(sim, codes) - mean_of(bench, codes)) / 2)
    variance = compute_metric("variance", sim, counts, bench, codes=codes, options={})
    assert variance["variance_ratio"] == pytest.approx(variance["variance_sim"] / variance["variance_bench"])


def test_compute_metric_in_option_probability_mode_has_no_sample_based_pvalues():
    values = compute_metric("ks", [0.2, 0.8], None, [0.5, 0.5], codes=[1, 2], bench_n=1230, options={})
    assert values["ks_statistic"] == pytest.approx(0.3)
    assert math.isnan(values["ks_pvalue"])
    assert math.isnan(compute_metric("chi2", [0.2, 0.8], None, [0.5, 0.5], codes=[1, 2])["chi2_statistic"])


def test_compute_metric_refuses_unknown_names_and_options():
    with pytest.raises(ValueError, match="unknown metric 'kl'"):
        compute_metric("kl", [1, 1], None, [1, 1], codes=[1, 2])
    with pytest.raises(ValueError, match="form must be"):
        compute_metric("js", [1, 1], None, [1, 1], codes=[1, 2], options={"form": "angle"})
    with pytest.raises(ValueError, match="js log must be"):
        compute_metric("js", [1, 1], None, [1, 1], codes=[1, 2], options={"log": "ten"})


@pytest.mark.parametrize("log, base", [("e", math.e), ("ln", math.e), (2, 2.0), ("2", 2.0), (10, 10.0)])
def test_js_log_base_reads_the_spec_option(log, base):
    from silspec.analysis.metrics import js_log_base

    assert js_log_base({"log": log}) == pytest.approx(base)
    assert js_log_base({}) == math.e


def test_compute_metric_chi2_population_and_sample_readings():
    counts, bench = [0, 78, 22], [17.3, 65.4, 20.3]
    population = compute_metric("chi2", counts, counts, bench, codes=[1, 2, 3], bench_n=1230)
    sample = compute_metric(
        "chi2", counts, counts, bench, codes=[1, 2, 3], bench_n=1230, options={"benchmark": "sample"}
    )
    assert population["chi2_statistic"] == pytest.approx(chi_square(counts, bench).statistic)
    assert sample["chi2_statistic"] == pytest.approx(chi_square(counts, bench, bench_n=1230).statistic)
    assert sample["chi2_statistic"] < population["chi2_statistic"]  # benchmark noise counted
    impossible = compute_metric("chi2", [1, 9], [1, 9], [0, 1], codes=[1, 2])
    assert impossible["chi2_statistic"] == math.inf and impossible["chi2_pvalue"] == 0.0
