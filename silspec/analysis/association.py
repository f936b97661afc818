"""Association in a two-way table: Cramér's V (scipy) and the polychoric correlation.

The polychoric correlation is the standard two-step maximum-likelihood estimator (Olsson 1979):
both items are read as cut versions of a standard bivariate normal pair; step one puts the
thresholds at the normal quantiles of each margin's cumulative shares, step two finds the
correlation rho that maximises sum(n_ij * log P_ij(rho)), where P_ij is the bivariate normal
probability of cell (i, j)'s rectangle between the thresholds. A code no answer used (an empty
row or column) carries no threshold information and is dropped first.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import chi2_contingency, multivariate_normal, norm
from scipy.stats.contingency import association

RHO_BOUND = 0.9999  # |rho| = 1 makes the bivariate normal degenerate
_INFINITY = 10.0  # a threshold beyond every standard normal draw that matters (P < 1e-23)


def _nonempty(table: np.ndarray) -> np.ndarray:
    table = np.asarray(table, dtype=float)
    return table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]


def cramers_v(table) -> float:
    """Cramér's V of a table of counts (or shares: V depends on proportions only), without
    Yates' correction; NaN when, after dropping empty rows and columns, either side has one code."""
    kept = _nonempty(table)
    if kept.ndim != 2 or min(kept.shape) < 2:
        return math.nan
    if np.all(kept == np.round(kept)):
        return float(association(kept.astype(np.int64), method="cramer", correction=False))
    # shares (a benchmark in percent): scipy's association takes counts only; V is the same
    # statistic from chi-square on the shares (it depends on proportions alone)
    statistic = chi2_contingency(kept, correction=False).statistic
    return float(math.sqrt(statistic / (kept.sum() * (min(kept.shape) - 1))))


def cramers_v_rows(tables: np.ndarray) -> np.ndarray:
    """Cramér's V of many tables at once, ``tables`` of shape (m, r, c): the bootstrap's form of
    ``cramers_v`` (the same statistic; a test pins them equal). Empty rows and columns of each
    table are left out of its degrees of freedom, as ``cramers_v`` drops them; NaN where a table
    has fewer than two non-empty rows or columns."""
    tables = np.asarray(tables, dtype=float)
    n = tables.sum(axis=(1, 2))
    rows, cols = tables.sum(axis=2), tables.sum(axis=1)
    expected = rows[:, :, None] * cols[:, None, :] / np.where(n > 0, n, 1.0)[:, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        cells = np.where(expected > 0, (tables - expected) ** 2 / expected, 0.0)
    chi2 = cells.sum(axis=(1, 2))
    k = np.minimum((rows > 0).sum(axis=1), (cols > 0).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.sqrt(chi2 / (n * (k - 1)))
    return np.where(k >= 2, v, np.nan)


def thresholds(margin: np.ndarray) -> np.ndarray:
    """Normal quantiles of a margin's cumulative shares, with -inf/+inf at the ends."""
    cumulative = np.cumsum(margin)[:-1] / margin.sum()
    return np.concatenate(([-np.inf], norm.ppf(cumulative), [np.inf]))


def cell_probabilities(rho: float, row_cuts: np.ndarray, col_cuts: np.ndarray) -> np.ndarray:
    """P_ij: the standard bivariate normal (correlation rho) mass of each threshold rectangle."""
    rows = np.clip(row_cuts, -_INFINITY, _INFINITY)
    cols = np.clip(col_cuts, -_INFINITY, _INFINITY)
    grid = np.array([[x, y] for x in rows for y in cols])
    cdf = multivariate_normal(mean=[0.0, 0.0], cov=[[1.0, rho], [rho, 1.0]]).cdf(grid)
    cdf = np.asarray(cdf, dtype=float).reshape(len(rows), len(cols))
    return cdf[1:, 1:] - cdf[:-1, 1:] - cdf[1:, :-1] + cdf[:-1, :-1]


def polychoric(table) -> float:
    """The two-step ML polychoric correlation of an ordinal two-way table (rows and columns in
    scale order). NaN when either side has fewer than two answered codes."""
    kept = _nonempty(table)
    if kept.ndim != 2 or min(kept.shape) < 2:
        return math.nan
    row_cuts = thresholds(kept.sum(axis=1))
    col_cuts = thresholds(kept.sum(axis=0))

    def negative_log_likelihood(rho: float) -> float:
        p = np.clip(cell_probabilities(rho, row_cuts, col_cuts), 1e-300, None)
        return -float((kept * np.log(p)).sum())

    fit = minimize_scalar(negative_log_likelihood, bounds=(-RHO_BOUND, RHO_BOUND), method="bounded",
                          options={"xatol": 1e-6})
    return float(fit.x)
