"""Per-country means and the value-persona paper's Wilcoxon signed-rank tests (its Figure 11):
checked against scipy.stats.wilcoxon directly on hand-built values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import wilcoxon

from silspec.analysis.country_tests import country_comparisons, country_table, wilcoxon_signed_rank
from silspec.analysis.results import ItemMetrics


def _row(condition: str, code: str, country: str, mae: float, variant: str = "with_defaults") -> ItemMetrics:
    return ItemMetrics(
        condition=condition, item=f"s.{code}", code=code, variant=variant, answers="option_probs", n=1,
        codes=(1, 2), counts=(1.0, 0.0), probs=(1.0, 0.0), benchmark="main", benchmark_probs=(0.5, 0.5),
        values={"mae": mae}, country=country,
    )


A = [0.10, 0.20, 0.15, 0.30, 0.25, 0.12, 0.40, 0.22]
B = [0.05, 0.11, 0.14, 0.10, 0.20, 0.12, 0.21, 0.02]  # one tie (question 6)


def test_signed_rank_matches_scipy_and_counts_the_tied_pairs_it_dropped():
    test = wilcoxon_signed_rank(A, B)
    expected = wilcoxon(A, B, zero_method="wilcox", alternative="two-sided")
    assert test.statistic == pytest.approx(float(expected.statistic), abs=0)
    assert test.pvalue == pytest.approx(float(expected.pvalue), rel=1e-12)
    assert (test.n, test.n_zero) == (8, 1)
    # the tie is dropped, not ranked: the same as testing the 7 untied pairs
    untied = [i for i in range(8) if A[i] != B[i]]
    alone = wilcoxon([A[i] for i in untied], [B[i] for i in untied])
    assert test.pvalue == pytest.approx(float(alone.pvalue), rel=1e-12)


def test_signed_rank_edge_cases():
    assert wilcoxon_signed_rank([0.1], [0.2]) is None
    same = wilcoxon_signed_rank([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    assert (same.statistic, same.pvalue, same.n_zero) == (0.0, 1.0, 3)
    with pytest.raises(ValueError, match="finite"):
        wilcoxon_signed_rank([0.1, math.nan], [0.2, 0.3])
    with pytest.raises(ValueError, match="equal-length"):
        wilcoxon_signed_rank([0.1, 0.2], [0.2])


def _rows() -> list[ItemMetrics]:
    rows = []
    for i, (a, b) in enumerate(zip(A, B)):
        q = f"Q{i + 1}"
        rows += [_row("country", q, "JPN", a), _row("persona", q, "JPN", b), _row("generic", q, "JPN", a + 0.1)]
        # GHA: persona is worse on every question but one
        rows += [_row("country", q, "GHA", b), _row("persona", q, "GHA", a), _row("generic", q, "GHA", a + 0.2)]
    rows.append(_row("generic", "Q99", "GHA", 0.5))  # only one condition has it: left out of the means
    rows.append(_row("persona", "Q1", "JPN", 0.9, variant="valid_only"))  # the other variant: ignored
    return rows


def test_country_comparisons_pair_questions_within_each_country():
    (jpn, gha) = country_comparisons(_rows(), "country", "persona", "mae", "with_defaults")
    assert (jpn.country, jpn.n, gha.country) == ("JPN", 8, "GHA")
    assert jpn.mean_a == pytest.approx(np.mean(A)) and jpn.mean_b == pytest.approx(np.mean(B))
    assert jpn.test.pvalue == pytest.approx(float(wilcoxon(A, B).pvalue), rel=1e-12)
    assert gha.test.pvalue == pytest.approx(float(wilcoxon(B, A).pvalue), rel=1e-12)


def test_country_table_means_best_and_tests_over_the_shared_questions():
    table = country_table(_rows(), ["generic", "country", "persona"], "mae", "mae", lower=True)
    jpn, gha = table.countries
    assert jpn.country == "JPN" and jpn.n == 8 and jpn.n_cells == 8
    assert gha.n == 8 and gha.n_cells == 9  # Q99: only `generic` has it
    assert jpn.means == pytest.approx((np.mean(A) + 0.1, np.mean(A), np.mean(B)))
    assert jpn.best == "persona" and gha.best == "country"
    tests = {t.other: t.test for t in jpn.tests}
    assert set(tests) == {"generic", "country"}
    assert tests["country"].pvalue == pytest.approx(float(wilcoxon(B, A).pvalue), rel=1e-12)
    generic = [a + 0.1 for a in A]
    assert tests["generic"].pvalue == pytest.approx(float(wilcoxon(B, generic).pvalue), rel=1e-12)
    # significant only when the best beats every other condition with p < 0.05
    assert jpn.significant == all(t.pvalue < 0.05 for t in tests.values())
    assert table.n_overall == 16
    assert table.overall[2] == pytest.approx(np.mean(B + A))


def test_a_tie_for_best_names_no_best_and_runs_no_test():
    rows = [_row("x", "Q1", "JPN", 0.1), _row("y", "Q1", "JPN", 0.1), _row("x", "Q2", "JPN", 0.2),
            _row("y", "Q2", "JPN", 0.2)]
    (column,) = country_table(rows, ["x", "y"], "mae", "mae", lower=True).countries
    assert column.best is None and column.tests == () and not column.significant
