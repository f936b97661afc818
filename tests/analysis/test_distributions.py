"""Distributions: both variants, option probabilities, persona rows, benchmark normalisation."""

import pytest

from silspec.analysis.distributions import (
    ScoredAnswer,
    benchmark_shares,
    build_distributions,
    largest_remainder,
)
from silspec.spec.model import Benchmark

CODES = {"s.Q": (1, 2, 3)}


def answer(persona, code, outcome="answered", defaulted=False, **kw):
    return ScoredAnswer(
        condition="c", item="s.Q", persona=persona, replicate=kw.pop("replicate", 0),
        answers=kw.pop("answers", "sampled"), outcome=outcome, code=code, defaulted=defaulted, **kw
    )


def test_with_defaults_counts_fills_and_valid_only_does_not():
    answers = [answer("P1", 1), answer("P2", 3), answer("P3", 2, outcome="error", defaulted=True)]
    cell = build_distributions(answers, CODES)[("c", "s.Q", None)]
    assert cell["with_defaults"].counts == (1, 1, 1) and cell["with_defaults"].n == 3
    assert cell["valid_only"].counts == (1, 0, 1) and cell["valid_only"].n == 2
    assert cell["valid_only"].probs == pytest.approx((0.5, 0, 0.5))


def test_missing_and_dropped_answers_count_in_neither_variant():
    answers = [answer("P1", 2), answer("P2", None, outcome="invalid"), answer("P3", None, outcome="invalid", dropped=True)]
    cell = build_distributions(answers, CODES)[("c", "s.Q", None)]
    assert cell["with_defaults"].n == 1 and cell["valid_only"].n == 1


def test_empty_variant_has_no_probs():
    cell = build_distributions([answer("P1", 2, outcome="error", defaulted=True)], CODES)[("c", "s.Q", None)]
    assert cell["valid_only"].probs is None and cell["valid_only"].n == 0
    assert cell["with_defaults"].probs == (0.0, 1.0, 0.0)


def test_replicates_average_into_one_persona_row():
    answers = [answer("P1", 1, replicate=0), answer("P1", 3, replicate=1), answer("P2", 2)]
    dist = build_distributions(answers, CODES)[("c", "s.Q", None)]["with_defaults"]
    assert dist.persona_ids == ("P1", "P2")
    assert dist.persona_shares == ((0.5, 0.0, 0.5), (0.0, 1.0, 0.0))


def test_option_probs_renormalised_per_persona_then_averaged():
    answers = [
        answer("P1", None, answers="option_probs", option_probs={1: 0.4, 2: 0.4, 3: 0.0}),  # mass 0.8
        answer("P2", None, answers="option_probs", option_probs={1: 0.0, 2: 0.0, 3: 1.0}),
    ]
    dist = build_distributions(answers, CODES)[("c", "s.Q", None)]["with_defaults"]
    assert dist.probs == pytest.approx((0.25, 0.25, 0.5))
    assert dist.answers == "option_probs" and dist.integer_counts == (1, 0, 1)


def test_country_is_part_of_the_key():
    answers = [answer("JPN", 1, country="JPN"), answer("KOR", 2, country="KOR")]
    assert set(build_distributions(answers, CODES)) == {("c", "s.Q", "JPN"), ("c", "s.Q", "KOR")}


def test_unknown_item_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown item"):
        build_distributions([answer("P1", 1)], {"s.OTHER": (1, 2)})


def test_benchmark_percent_and_proportion_give_the_same_shares():
    percent = benchmark_shares("s.Q", Benchmark("b", (20.0, 30.0, 50.0), unit="percent"), (1, 2, 3))
    proportion = benchmark_shares("s.Q", Benchmark("b", (0.2, 0.3, 0.5)), (1, 2, 3))
    assert percent.proportions == pytest.approx(proportion.proportions)
    assert not percent.renormalised and not proportion.renormalised


def test_benchmark_over_100_is_renormalised_and_says_so():
    shares = benchmark_shares("s.Q", Benchmark("paper", (17.3, 65.4, 20.3), unit="percent"), (1, 2, 3))
    assert shares.renormalised and shares.total_percent == pytest.approx(103.0)
    assert shares.proportions == pytest.approx((17.3 / 103, 65.4 / 103, 20.3 / 103))
    assert shares.dropped_percent == pytest.approx(-3.0)


def test_benchmark_with_missing_share_drops_it():
    shares = benchmark_shares("s.Q", Benchmark("cb", (5.0, 27.5, 63.8), unit="percent", missing_share=3.7), (1, 2, 3))
    assert shares.renormalised and shares.dropped_percent == pytest.approx(3.7)
    assert sum(shares.proportions) == pytest.approx(1.0)


def test_benchmark_length_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="has 2 values but the scale has 3"):
        benchmark_shares("s.Q", Benchmark("b", (0.5, 0.5)), (1, 2, 3))


def test_benchmark_negative_or_zero_is_refused():
    with pytest.raises(ValueError, match="negative"):
        benchmark_shares("s.Q", Benchmark("b", (0.5, -0.1, 0.6)), (1, 2, 3))
    with pytest.raises(ValueError, match="zero"):
        benchmark_shares("s.Q", Benchmark("b", (0.0, 0.0, 0.0)), (1, 2, 3))


def test_largest_remainder_sums_to_n():
    counts = largest_remainder((0.168, 0.635, 0.197), 1230)
    assert sum(counts) == 1230 and counts == (207, 781, 242)


def test_an_option_probs_item_never_mixes_probability_vectors_with_one_hot_answers():
    answers = [
        answer("P1", None, answers="option_probs", option_probs={1: 0.5, 2: 0.5, 3: 0.0}),
        answer("P2", 2, answers="option_probs", outcome="error", defaulted=True),  # a midpoint fill
    ]
    with pytest.raises(ValueError, match="1 answers are option probabilities and 1 are single codes"):
        build_distributions(answers, CODES)
