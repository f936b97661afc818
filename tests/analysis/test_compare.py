"""b-vs-a comparisons: improvement of the averages, per-item rows, paired test."""

import math

import pytest
from scipy.stats import wilcoxon

from silspec.analysis.compare import compare_items, improvement, paired_test

GPT = {"CONFINAN": 0.062, "CONLEGIS": 0.134, "KRPROUD": 0.113, "NORTHWHO": 0.125, "UNIFI": 0.267, "PARTYLR": 0.038}
CLOVA = {"CONFINAN": 0.062, "CONLEGIS": 0.083, "KRPROUD": 0.134, "NORTHWHO": 0.084, "UNIFI": 0.115, "PARTYLR": 0.065}


def test_improvement_sign_follows_the_metric_direction():
    assert improvement(0.2, 0.15) == pytest.approx(0.25)
    assert improvement(0.2, 0.25) == pytest.approx(-0.25)
    assert improvement(0.5, 0.6, lower_is_better=False) == pytest.approx(0.2)
    assert math.isnan(improvement(0.0, 0.1))


def test_paper_average_improvement_is_the_improvement_of_the_averages():
    result = compare_items(GPT, CLOVA, without=["UNIFI"])
    assert result.improvement_of_means == pytest.approx(0.265, abs=0.0005)
    assert result.improvement_of_means_without == pytest.approx(0.093, abs=0.0005)
    mean_of_improvements = sum(row.improvement for row in result.rows) / len(result.rows)
    assert abs(mean_of_improvements - result.improvement_of_means) > 0.05  # not the same thing
    assert result.n_items == 6 and result.n_items_without == 5
    assert result.mean_a == pytest.approx(0.739 / 6)
    assert result.mean_b == pytest.approx(0.543 / 6)


def test_rows_keep_item_order_and_say_which_is_better():
    result = compare_items(GPT, CLOVA)
    assert [row.item for row in result.rows] == list(GPT)
    better = {row.item: row.b_better for row in result.rows}
    assert better == {
        "CONFINAN": False,  # a tie is not an improvement
        "CONLEGIS": True,
        "KRPROUD": False,
        "NORTHWHO": True,
        "UNIFI": True,
        "PARTYLR": False,
    }
    assert result.n_improved == 3
    assert math.isnan(result.improvement_of_means_without)


def test_higher_is_better_metrics_flip_the_comparison():
    result = compare_items({"x": 0.5, "y": 1.0}, {"x": 0.75, "y": 0.5}, lower_is_better=False)
    assert [row.b_better for row in result.rows] == [True, False]
    assert result.improvement_of_means == pytest.approx((0.625 - 0.75) / 0.75)


def test_mismatched_items_and_unknown_without_are_refused():
    with pytest.raises(ValueError, match="only in a: \\['UNIFI'\\]"):
        compare_items(GPT, {k: v for k, v in CLOVA.items() if k != "UNIFI"})
    with pytest.raises(ValueError, match="not compared.*SATFIN"):
        compare_items(GPT, CLOVA, without=["SATFIN"])
    with pytest.raises(ValueError, match="no items"):
        compare_items({}, {})


def test_paired_test_is_wilcoxon_and_needs_two_pairs():
    a, b = list(GPT.values()), list(CLOVA.values())
    result = paired_test(a, b)
    expected = wilcoxon(a, b)
    assert result.pvalue == pytest.approx(expected.pvalue)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.n == 6
    assert paired_test([0.1], [0.2]) is None
    assert paired_test([0.1, 0.2], [0.1, 0.2]).pvalue == 1.0
    with pytest.raises(ValueError, match="equal-length"):
        paired_test([0.1, 0.2], [0.1])
