"""Distances between a simulated and a benchmark answer distribution, defined once.

Every metric takes distributions over the *same ordered substantive codes* (position i of the
simulated vector is position i of the benchmark). Inputs may be counts, percents or proportions:
`to_proportions` turns each into shares, so a benchmark in percent and a simulation in counts meet
on the same footing. Formulas, log bases and directions are in `docs/metrics.md`.

numpy only at import time; scipy is imported inside the functions that need it so that
`silspec lint` does not pay for `scipy.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from attrs import frozen

ArrayLike = Sequence[float] | np.ndarray

# Direction of each metric's headline value (see `HEADLINE_KEY`): True where smaller means the
# simulation is closer to the benchmark. Comparisons read this to compute improvement signs.
LOWER_IS_BETTER: dict[str, bool] = {
    "js": True,
    "ks": True,
    "chi2": True,
    "wasserstein": True,
    "mae": True,
    "variance": True,
    "accuracy": False,
    "emd_values_paper": True,
}

# The key of `compute_metric`'s result that a table shows as "the" value of a metric.
HEADLINE_KEY: dict[str, str] = {
    "js": "js",
    "ks": "ks_statistic",
    "chi2": "chi2_statistic",
    "wasserstein": "wasserstein",
    "mae": "mae",
    "variance": "variance_gap",
    "accuracy": "accuracy",
    "emd_values_paper": "emd_values_paper",
}

METRIC_NAMES: tuple[str, ...] = tuple(LOWER_IS_BETTER)


# ------------------------------------------------------------------------------ proportions


def to_proportions(x: ArrayLike, *, name: str = "distribution") -> np.ndarray:
    """Counts, percents or proportions -> proportions that sum to 1.

    All three forms are the same distribution up to a positive factor, so one normalisation
    serves them all; what cannot be a distribution is refused with a message naming `name`.
    """
    values = np.asarray(x, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector of shares, got shape {values.shape}")
    if values.size == 0:
        raise ValueError(f"{name} is empty: a distribution needs at least one code")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or infinite values: {values.tolist()}")
    if np.any(values < 0):
        raise ValueError(f"{name} contains negative values: {values.tolist()}")
    total = values.sum()
    if total <= 0:
        raise ValueError(f"{name} is all zeros: no answers to form a distribution from")
    return values / total


def _pair(p: ArrayLike, q: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both as proportions, refusing vectors over different numbers of codes."""
    p_shares = to_proportions(p, name="simulated distribution")
    q_shares = to_proportions(q, name="benchmark distribution")
    if p_shares.shape != q_shares.shape:
        raise ValueError(
            f"distributions have different numbers of codes ({p_shares.size} vs {q_shares.size}):"
            " both must cover the same ordered substantive codes"
        )
    return p_shares, q_shares


def codes_or_positions(codes: ArrayLike | None, k: int) -> np.ndarray:
    """The numeric value of each code; positions 1..k when the caller has none."""
    if codes is None:
        return np.arange(1, k + 1, dtype=float)
    values = np.asarray(codes, dtype=float)
    if values.shape != (k,):
        raise ValueError(f"codes has {values.size} values but the distribution has {k} codes")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"codes must be finite numbers, got {values.tolist()}")
    if values.size > 1 and not np.all(np.diff(values) > 0):
        raise ValueError(f"codes must be strictly increasing (scale order), got {values.tolist()}")
    return values


def pseudo_counts(shares: ArrayLike, n: int) -> np.ndarray:
    """Integer counts summing exactly to `n` whose shares are closest to `shares`.

    Largest-remainder (Hamilton) rounding: floor every share x n, then hand the leftover units to
    the largest fractional parts (earlier codes first on ties, so the result is deterministic).
    Used to turn a published benchmark (shares of a survey of known N) into a sample for KS.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    proportions = to_proportions(shares, name="shares")
    exact = proportions * n
    counts = np.floor(exact).astype(np.int64)
    leftover = int(n - counts.sum())
    if leftover > 0:
        # Rounded so that remainders equal up to float noise tie, and ties go to earlier codes.
        remainders = np.round(exact - counts, 9)
        order = np.argsort(-remainders, kind="stable")
        counts[order[:leftover]] += 1
    return counts


# ----------------------------------------------------------------------------- Jensen-Shannon


def _log_base_factor(base: float) -> float:
    if not (base > 0 and base != 1 and math.isfinite(base)):
        raise ValueError(f"log base must be positive, finite and not 1, got {base!r}")
    return math.log(base)


def js_divergence_rows(p_rows: np.ndarray, q: np.ndarray, *, base: float = math.e) -> np.ndarray:
    """JS divergence of every row of `p_rows` (proportions) from one vector `q` (proportions).

    The vectorised core shared by `js_divergence` and the bootstrap: rows are assumed to be
    valid proportions already (no checks, for speed). Terms with a zero share contribute 0
    (the limit of x log x), so zeros on either side are fine.
    """
    p_rows = np.atleast_2d(p_rows)
    m = 0.5 * (p_rows + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_terms = np.where(p_rows > 0, p_rows * np.log(p_rows / m), 0.0)
        q_terms = np.where(q > 0, q * np.log(q / m), 0.0)
    divergence = 0.5 * (p_terms.sum(axis=1) + q_terms.sum(axis=1))
    return np.clip(divergence, 0.0, None) / _log_base_factor(base)


def js_divergence(p: ArrayLike, q: ArrayLike, *, base: float = math.e) -> float:
    """Jensen-Shannon divergence, natural log by default (bounded by ln 2; by 1 in base 2)."""
    p_shares, q_shares = _pair(p, q)
    return float(js_divergence_rows(p_shares, q_shares, base=base)[0])


def js_distance(p: ArrayLike, q: ArrayLike, *, base: float = math.e) -> float:
    """Square root of the JS divergence: a metric (triangle inequality); what scipy returns."""
    return math.sqrt(js_divergence(p, q, base=base))


# The forms a `metric js { form = ... }` block may ask for, each honouring `log`. The one_minus_*
# forms are what papers print as "1 - JSD": the first-token fine-tuning paper's code computes
# 1 - scipy.spatial.distance.jensenshannon (a *distance*, natural log), a different number from
# 1 - divergence, so each has its own explicit name (docs/metrics.md).
JS_FORMS: tuple[str, ...] = ("divergence", "distance", "one_minus_divergence", "one_minus_distance")
JS_HIGHER_IS_BETTER = frozenset({"one_minus_divergence", "one_minus_distance"})


def js_form_of_divergence(divergence: np.ndarray | float, form: str) -> np.ndarray | float:
    """Turn JS divergence values (any log base) into the named form; shared by the bootstrap."""
    if form == "divergence":
        return divergence
    if form == "distance":
        return np.sqrt(divergence)
    if form == "one_minus_divergence":
        return 1.0 - divergence
    if form == "one_minus_distance":
        return 1.0 - np.sqrt(divergence)
    hint = " (removed: say one_minus_divergence or one_minus_distance)" if form == "similarity" else ""
    raise ValueError(f"js form must be one of {', '.join(JS_FORMS)}, got {form!r}{hint}")


# ------------------------------------------------------------------------------------- KS


@frozen
class KSResult:
    statistic: float
    pvalue: float


def _as_counts(x: ArrayLike, name: str) -> np.ndarray:
    values = np.asarray(x, dtype=float)
    to_proportions(values, name=name)  # shape, sign, NaN and all-zero checks
    if not np.all(values == np.round(values)):
        raise ValueError(f"{name} must be whole-number counts, got {values.tolist()}")
    return values.astype(np.int64)


def ks_test(sim_counts: ArrayLike, bench_counts: ArrayLike) -> KSResult:
    """Two-sample Kolmogorov-Smirnov on answers expanded from counts over positions 1..k.

    Caveat: KS assumes continuous data. On a handful of ordinal codes the samples are full of
    ties, the statistic can only take few values and the p-value (scipy's, exact or asymptotic)
    is conservative. Read it as a rough screen, not an exact test; JS and W1 are the measures.
    """
    from scipy.stats import ks_2samp  # scipy.stats costs ~2 s to import (importtime); JS/W1 need none

    sim = _as_counts(sim_counts, "simulated counts")
    bench = _as_counts(bench_counts, "benchmark counts")
    if sim.shape != bench.shape:
        raise ValueError(
            f"count vectors have different numbers of codes ({sim.size} vs {bench.size})"
        )
    positions = np.arange(1, sim.size + 1)
    result = ks_2samp(np.repeat(positions, sim), np.repeat(positions, bench))
    return KSResult(statistic=float(result.statistic), pvalue=float(result.pvalue))


def ks_statistic_of(p: ArrayLike, q: ArrayLike) -> float:
    """max |CDF_p - CDF_q|: the KS statistic of two distributions, needing no sample sizes."""
    p_shares, q_shares = _pair(p, q)
    return float(np.max(np.abs(np.cumsum(p_shares) - np.cumsum(q_shares))))


# ------------------------------------------------------------------------------------- chi2


@frozen
class ChiSquareResult:
    statistic: float
    pvalue: float
    dof: int
    dropped_codes: tuple[int, ...] = ()  # positions (1-based) left out: zero expected, zero seen
    note: str = ""


def chi_square(
    sim_counts: ArrayLike, bench_shares: ArrayLike, *, bench_n: int | None = None
) -> ChiSquareResult:
    """Pearson chi-square of the simulated counts against the benchmark.

    Without `bench_n`: goodness of fit, the benchmark taken as the population (expected =
    shares x n_sim). With `bench_n`: the benchmark is itself a sample of that size, so the test
    is homogeneity of two samples (2 x k table of simulated counts and the benchmark's
    largest-remainder pseudo-counts) -- the benchmark's own sampling noise is then counted too.

    Zero expected cells: a code the benchmark never has and the simulation never produced is
    dropped (it carries no information; `note` says so). A code the benchmark never has but the
    simulation did produce makes chi-square infinite/undefined: ValueError, use JS or W1 there.
    """
    from scipy.stats import chi2 as chi2_distribution  # as above

    observed = _as_counts(sim_counts, "simulated counts").astype(float)
    expected_shares = to_proportions(bench_shares, name="benchmark shares")
    if observed.shape != expected_shares.shape:
        raise ValueError(
            f"simulated counts and benchmark shares have different numbers of codes"
            f" ({observed.size} vs {expected_shares.size})"
        )
    if bench_n is None:
        reference = expected_shares
    else:
        reference = pseudo_counts(expected_shares, bench_n).astype(float)
        if reference.sum() == 0:
            raise ValueError("bench_n must be positive for the two-sample chi-square")

    empty = reference == 0
    impossible = empty & (observed > 0)
    if np.any(impossible):
        positions = (np.flatnonzero(impossible) + 1).tolist()
        raise ValueError(
            f"chi-square is undefined: the benchmark has share 0 at code position(s) {positions}"
            " but the simulation produced answers there; use js or wasserstein for this item"
        )
    dropped = tuple(int(i) + 1 for i in np.flatnonzero(empty))
    keep = ~empty
    note = (
        f"dropped code position(s) {list(dropped)}: zero expected and zero observed"
        if dropped
        else ""
    )
    observed, reference = observed[keep], reference[keep]
    dof = int(observed.size - 1)
    if dof == 0:
        return ChiSquareResult(0.0, math.nan, 0, dropped, note or "one code: nothing to test")

    if bench_n is None:
        expected = reference * observed.sum()
        statistic = float(np.sum((observed - expected) ** 2 / expected))
    else:
        table = np.vstack([observed, reference])
        expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
        statistic = float(np.sum((table - expected) ** 2 / expected))
    pvalue = float(chi2_distribution.sf(statistic, dof))
    return ChiSquareResult(statistic, pvalue, dof, dropped, note)


# -------------------------------------------------------------------------------- Wasserstein


def wasserstein_ordinal(p: ArrayLike, q: ArrayLike, *, codes: ArrayLike | None = None) -> float:
    """Wasserstein-1 between two distributions over ordinal codes, divided by the scale range.

    W1 = sum_i |CDF_p(i) - CDF_q(i)| x (code_{i+1} - code_i); the codes are the *positions* and
    the probabilities the *weights*. Dividing by (max code - min code) puts it in [0, 1]:
    1 = all mass at opposite ends. (Passing the probability vectors to scipy as values, as
    SimLLMCultureDist does, measures something else entirely -- see the tests.)
    """
    p_shares, q_shares = _pair(p, q)
    values = codes_or_positions(codes, p_shares.size)
    if values.size == 1:
        return 0.0
    gaps = np.diff(values)
    cdf_gap = np.abs(np.cumsum(p_shares) - np.cumsum(q_shares))[:-1]
    return float(np.sum(cdf_gap * gaps) / (values[-1] - values[0]))


def emd_values_paper(p: ArrayLike, q: ArrayLike) -> float:
    """The first-token paper's "EMD": scipy's ``wasserstein_distance(p, q)`` on the two vectors.

    NOT an ordinal distance. SimLLMCultureDist passes the probability vectors as the *values* of
    two samples (no positions, no weights), so the number compares the multisets of shares and
    ignores which option carries which share: all mass on the first option vs all on the last
    gives 0. It exists, under this explicit name, only so a replication can print the paper's
    number beside the paper; `wasserstein_ordinal` is the earth mover's distance over the scale.
    """
    from scipy.stats import wasserstein_distance  # as for KS: scipy.stats is slow to import

    p_shares, q_shares = _pair(p, q)
    return float(wasserstein_distance(p_shares, q_shares))


# --------------------------------------------------------------------------- moments & mode


def mean_of(p: ArrayLike, codes: ArrayLike) -> float:
    """Expected code under the distribution."""
    shares = to_proportions(p)
    return float(np.dot(shares, codes_or_positions(codes, shares.size)))


def variance_of(p: ArrayLike, codes: ArrayLike) -> float:
    """Variance of the code under the distribution (population variance, no n - 1)."""
    shares = to_proportions(p)
    values = codes_or_positions(codes, shares.size)
    mean = float(np.dot(shares, values))
    return float(np.dot(shares, (values - mean) ** 2))


def normalised_variance(p: ArrayLike, codes: ArrayLike) -> float:
    """Variance / the largest variance possible on the range, (max - min)^2 / 4: in [0, 1].

    Seed 003's diversity measure: 1 = half the mass at each end, 0 = one code. A single-code
    scale has no spread to speak of: 0.
    """
    shares = to_proportions(p)
    values = codes_or_positions(codes, shares.size)
    span = values[-1] - values[0]
    if span == 0:
        return 0.0
    return variance_of(shares, values) / (span**2 / 4.0)


def normalised_mae(
    sim_means: ArrayLike, bench_means: ArrayLike, *, low: float, high: float
) -> float:
    """Mean |simulated mean - benchmark mean| over items, / (high - low) (seed 003's MAE)."""
    sim = np.asarray(sim_means, dtype=float)
    bench = np.asarray(bench_means, dtype=float)
    if sim.shape != bench.shape or sim.ndim != 1 or sim.size == 0:
        raise ValueError(
            f"need two equal-length, non-empty vectors of means, got {sim.shape} and {bench.shape}"
        )
    if not high > low:
        raise ValueError(f"high must exceed low, got low={low}, high={high}")
    return float(np.mean(np.abs(sim - bench)) / (high - low))


def modal_match(p: ArrayLike, q: ArrayLike) -> bool:
    """Whether the simulation's most frequent code is the benchmark's.

    Ties count as a match when the two sets of modal codes share a code (a tie cannot be
    broken without an arbitrary rule, and either reading of it is right).
    """
    p_shares, q_shares = _pair(p, q)
    p_modes = np.isclose(p_shares, p_shares.max(), rtol=0, atol=1e-12)
    q_modes = np.isclose(q_shares, q_shares.max(), rtol=0, atol=1e-12)
    return bool(np.any(p_modes & q_modes))


# ------------------------------------------------------------------------- pipeline facade


def option_base(options: Mapping[str, Any]) -> float:
    raw = options.get("log", options.get("base", "e"))
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in {"e", "ln", "natural"}:
            return math.e
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"js log must be e or a number such as 2, got {raw!r}") from None
    return float(raw)


def js_form(options: Mapping[str, Any]) -> str:
    """The JS form a block asks for (divergence by default); an unknown form is a ValueError."""
    form = str(options.get("form", "divergence"))
    js_form_of_divergence(0.0, form)  # validates, with the hint for the removed `similarity`
    return form


def js_log_base(options: Mapping[str, Any]) -> float:
    """The log base a `metric js { log = ... }` block asks for (e by default)."""
    return option_base(options)


def lower_is_better(name: str, options: Mapping[str, Any] | None = None) -> bool:
    """Direction of the headline value, taking options into account (JS one_minus_* flip it)."""
    if name not in LOWER_IS_BETTER:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRIC_NAMES)}")
    if name == "js":
        return js_form(options or {}) not in JS_HIGHER_IS_BETTER
    return LOWER_IS_BETTER[name]


def compute_metric(
    name: str,
    sim_probs: ArrayLike,
    sim_counts: ArrayLike | None,
    bench_probs: ArrayLike,
    *,
    codes: ArrayLike,
    bench_n: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """One metric of one item, as named values (the headline under `HEADLINE_KEY[name]`).

    `sim_counts` is None in option-probability mode: then KS gives its statistic from the CDFs
    with a NaN p-value, and chi-square is NaN (both need a simulated sample size).
    """
    options = dict(options or {})
    sim, bench = _pair(sim_probs, bench_probs)
    values = codes_or_positions(codes, sim.size)

    if name == "js":
        divergence = js_divergence(sim, bench, base=option_base(options))
        return {"js": float(js_form_of_divergence(divergence, js_form(options)))}

    if name == "ks":
        if sim_counts is None or bench_n is None:
            return {"ks_statistic": ks_statistic_of(sim, bench), "ks_pvalue": math.nan}
        result = ks_test(sim_counts, pseudo_counts(bench, bench_n))
        return {"ks_statistic": result.statistic, "ks_pvalue": result.pvalue}

    if name == "chi2":
        if sim_counts is None:
            return {"chi2_statistic": math.nan, "chi2_pvalue": math.nan, "chi2_dof": math.nan}
        two_sample = options.get("benchmark", "population") == "sample"
        try:
            result = chi_square(sim_counts, bench, bench_n=bench_n if two_sample else None)
        except ValueError as error:
            if "undefined" not in str(error):
                raise
            return {"chi2_statistic": math.inf, "chi2_pvalue": 0.0, "chi2_dof": float(sim.size - 1)}
        return {
            "chi2_statistic": result.statistic,
            "chi2_pvalue": result.pvalue,
            "chi2_dof": float(result.dof),
        }

    if name == "wasserstein":
        return {"wasserstein": wasserstein_ordinal(sim, bench, codes=values)}

    if name == "emd_values_paper":
        return {"emd_values_paper": emd_values_paper(sim, bench)}

    if name == "mae":
        low, high = float(values[0]), float(values[-1])
        if high == low:
            return {"mae": 0.0}
        mae = normalised_mae([mean_of(sim, values)], [mean_of(bench, values)], low=low, high=high)
        return {"mae": mae}

    if name == "variance":
        sim_nv = normalised_variance(sim, values)
        bench_nv = normalised_variance(bench, values)
        ratio = sim_nv / bench_nv if bench_nv > 0 else math.nan
        return {
            "variance_gap": abs(sim_nv - bench_nv),
            "variance_ratio": ratio,
            "variance_sim": sim_nv,
            "variance_bench": bench_nv,
        }

    if name == "accuracy":
        return {"accuracy": 1.0 if modal_match(sim, bench) else 0.0}

    raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRIC_NAMES)}")
