"""Cramér's V and the polychoric correlation against cases computed by hand or known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from silspec.analysis.association import cell_probabilities, cramers_v, polychoric, thresholds


def test_cramers_v_of_a_2x2_table_is_phi():
    a, b, c, d = 10, 5, 3, 12
    phi = abs(a * d - b * c) / math.sqrt((a + b) * (c + d) * (a + c) * (b + d))
    assert cramers_v([[a, b], [c, d]]) == pytest.approx(phi)
    assert cramers_v([[10, 0], [0, 10]]) == pytest.approx(1.0)
    assert cramers_v([[5, 5], [5, 5]]) == pytest.approx(0.0)


def test_cramers_v_of_shares_equals_that_of_the_counts():
    counts = np.array([[30, 10, 0], [10, 30, 10], [0, 10, 100]])
    assert cramers_v(counts / counts.sum()) == pytest.approx(cramers_v(counts))


def test_empty_rows_and_columns_are_dropped_and_a_single_code_is_undefined():
    assert cramers_v([[10, 0, 5], [0, 0, 0], [3, 0, 12]]) == pytest.approx(cramers_v([[10, 5], [3, 12]]))
    assert math.isnan(cramers_v([[4, 0], [6, 0]]))
    assert math.isnan(polychoric([[4, 3, 0]]))


def test_tetrachoric_of_median_splits_has_a_closed_form():
    # P(X > 0, Y > 0) = 1/4 + arcsin(rho) / (2 pi) for a standard bivariate normal (Sheppard)
    for rho in (-0.6, 0.0, 0.3, 0.85):
        p = 0.25 + math.asin(rho) / (2 * math.pi)
        assert polychoric([[p, 0.5 - p], [0.5 - p, p]]) == pytest.approx(rho, abs=1e-4)


def test_cell_probabilities_sum_to_one_and_match_independence_at_rho_zero():
    rows, cols = thresholds(np.array([1.0, 2.0, 1.0])), thresholds(np.array([3.0, 1.0]))
    cells = cell_probabilities(0.0, rows, cols)
    assert cells.sum() == pytest.approx(1.0)
    assert cells == pytest.approx(np.outer([0.25, 0.5, 0.25], [0.75, 0.25]), abs=1e-7)


@pytest.mark.parametrize("rho", [0.5, -0.3])
def test_polychoric_recovers_the_correlation_of_cut_bivariate_normal_data(rho):
    rng = np.random.default_rng(7)
    x = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=100_000)
    a = np.digitize(x[:, 0], [-1.0, 0.0, 0.8])  # 4 ordered codes
    b = np.digitize(x[:, 1], [-0.5, 0.3, 1.2, 2.0])  # 5 ordered codes, uneven margins
    table = np.zeros((4, 5))
    np.add.at(table, (a, b), 1)
    assert polychoric(table) == pytest.approx(rho, abs=0.015)


def test_the_vectorised_cramers_v_is_scipys_table_by_table():
    from silspec.analysis.association import cramers_v_rows

    rng = np.random.default_rng(3)
    tables = rng.integers(0, 6, size=(200, 3, 4)).astype(float)
    tables[0, 1, :] = 0  # an empty row: left out, as cramers_v drops it
    tables[1, :, 1:] = 0  # one non-empty column: undefined
    expected = np.array([cramers_v(t) for t in tables])
    got = cramers_v_rows(tables)
    assert np.array_equal(np.isnan(got), np.isnan(expected)) and math.isnan(got[1])
    assert got[~np.isnan(got)] == pytest.approx(expected[~np.isnan(expected)], abs=1e-12)
