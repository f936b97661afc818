"""Post-hoc calibration of a simulated distribution's spread (seed 003, section 4.4).

LLM answer distributions are usually narrower than a population's. Temperature scaling
p^(1/T) widens (T > 1) or sharpens (T < 1) them but also drags the expected answer toward the
scale's centre (or its mode). The mean-preserving exponential tilt
q ∝ p^(1/T) · exp(β·r) keeps the dispersion change and puts the mean back: β solves
E_q[r] = E_p[r], found by 1-D root finding (E_q[r] is increasing in β, its derivative being
Var_q(r) ≥ 0, so the root is unique). T may be fixed or fitted leave-one-out over questions (each question's countries held out
together) so that
the calibrated normalised variance matches the benchmark's.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np
from attrs import frozen

from silspec.analysis.cells import cell_label
from silspec.analysis.item_metrics import proportion_metrics
from silspec.analysis.metrics import (
    ArrayLike,
    codes_or_positions,
    js_divergence,
    mean_of,
    normalised_variance,
    to_proportions,
)
from silspec.analysis.results import CalibratedItem, CalibrationResult, ItemMetrics, Warning
from silspec.spec.model import Spec

Method = Literal["temperature", "mean_preserving_tilt"]
Target = Literal["benchmark_variance", "js"]


@frozen
class TiltResult:
    q: np.ndarray
    beta: float  # in units of 1 / code: q ∝ p^(1/T) · exp(beta · code)


@frozen
class CalibratedShares:
    """Before and after, so a report can show what calibration did to each item."""

    temperature: float
    beta: float
    before: np.ndarray
    after: np.ndarray
    mean_before: float
    mean_after: float
    normalised_variance_before: float
    normalised_variance_after: float


def _check_temperature(T: float) -> float:
    value = float(T)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"temperature must be a positive finite number, got {T!r}")
    return value


def _softmax_of_logs(log_weights: np.ndarray) -> np.ndarray:
    """Normalise exp(log_weights) without overflow; -inf entries become exact zeros."""
    finite = np.isfinite(log_weights)
    shifted = np.where(finite, log_weights - log_weights[finite].max(), -np.inf)
    weights = np.exp(shifted)
    return weights / weights.sum()


def temperature_scale(p: ArrayLike, T: float) -> np.ndarray:
    """p^(1/T), renormalised. Zero shares stay zero; T = 1 is the identity."""
    temperature = _check_temperature(T)
    shares = to_proportions(p)
    with np.errstate(divide="ignore"):
        log_shares = np.log(shares)
    return _softmax_of_logs(log_shares / temperature)


def mean_preserving_tilt(p: ArrayLike, codes: ArrayLike, T: float) -> TiltResult:
    """q ∝ p^(1/T) · exp(β·r) with β chosen so that E_q[r] = E_p[r].

    Codes with zero share stay at zero (p^(1/T) is 0 there). When the support has a single code
    there is no spread to change and no β to find: q = p, β = 0.
    """
    from scipy.optimize import brentq  # scipy costs ~1-2 s to import; only calibration needs it

    temperature = _check_temperature(T)
    shares = to_proportions(p)
    values = codes_or_positions(codes, shares.size)
    support = shares > 0
    if np.count_nonzero(support) <= 1:
        return TiltResult(q=shares.copy(), beta=0.0)

    # Work on codes rescaled to [0, 1] over the support so that β's bracket does not depend on
    # the scale's units; β is converted back at the end.
    low, high = values[support].min(), values[support].max()
    scaled = (values - low) / (high - low)
    target = float(np.dot(shares, scaled))
    log_base = np.where(support, np.log(np.where(support, shares, 1.0)) / temperature, -np.inf)

    def tilted(beta: float) -> np.ndarray:
        return _softmax_of_logs(log_base + beta * scaled)

    def mean_gap(beta: float) -> float:
        return float(np.dot(tilted(beta), scaled)) - target

    lower, upper = -1.0, 1.0
    while mean_gap(lower) > 0:
        lower *= 2.0
        if lower < -1e6:
            raise RuntimeError("could not bracket the tilt parameter (distribution too extreme)")
    while mean_gap(upper) < 0:
        upper *= 2.0
        if upper > 1e6:
            raise RuntimeError("could not bracket the tilt parameter (distribution too extreme)")
    beta_scaled = brentq(
        mean_gap, lower, upper, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500
    )
    return TiltResult(q=tilted(beta_scaled), beta=float(beta_scaled / (high - low)))


def calibrate(
    p: ArrayLike, codes: ArrayLike, T: float, method: Method = "mean_preserving_tilt"
) -> CalibratedShares:
    """Apply one calibration method at temperature T and record before/after moments."""
    shares = to_proportions(p)
    values = codes_or_positions(codes, shares.size)
    if method == "mean_preserving_tilt":
        result = mean_preserving_tilt(shares, values, T)
        after, beta = result.q, result.beta
    elif method == "temperature":
        after, beta = temperature_scale(shares, T), 0.0
    else:
        raise ValueError(
            f"calibration method must be temperature or mean_preserving_tilt, got {method!r}"
        )
    return CalibratedShares(
        temperature=float(T),
        beta=beta,
        before=shares,
        after=after,
        mean_before=mean_of(shares, values),
        mean_after=mean_of(after, values),
        normalised_variance_before=normalised_variance(shares, values),
        normalised_variance_after=normalised_variance(after, values),
    )


def default_grid() -> np.ndarray:
    """Temperatures from 1/4 to 8, log-spaced, with 1 (no change) exactly on the grid."""
    return np.unique(np.concatenate([np.geomspace(0.25, 8.0, 61), [1.0]]))


def _mismatch_matrix(
    sim_by_item: Sequence[ArrayLike],
    bench_by_item: Sequence[ArrayLike],
    codes_by_item: Sequence[ArrayLike],
    grid: np.ndarray,
    method: Method,
    target: Target,
) -> np.ndarray:
    """mismatch[t, i]: how far item i calibrated at grid[t] is from its benchmark."""
    if not (len(sim_by_item) == len(bench_by_item) == len(codes_by_item)):
        raise ValueError(
            f"need one simulated distribution, benchmark and code list per item; got"
            f" {len(sim_by_item)}, {len(bench_by_item)} and {len(codes_by_item)}"
        )
    if target not in ("benchmark_variance", "js"):
        raise ValueError(f"calibration target must be benchmark_variance or js, got {target!r}")
    mismatch = np.empty((grid.size, len(sim_by_item)))
    for i, (sim, bench, codes) in enumerate(zip(sim_by_item, bench_by_item, codes_by_item)):
        bench_nv = normalised_variance(bench, codes)
        for t, temperature in enumerate(grid):
            after = calibrate(sim, codes, temperature, method).after
            if target == "benchmark_variance":
                mismatch[t, i] = abs(normalised_variance(after, codes) - bench_nv)
            else:
                mismatch[t, i] = js_divergence(after, bench)
    return mismatch


def _best_temperature(grid: np.ndarray, loss: np.ndarray) -> float:
    """The grid temperature with the smallest loss; among ties, the one closest to T = 1."""
    closeness_to_identity = np.abs(np.log(grid))
    order = np.lexsort((closeness_to_identity, np.round(loss, 12)))
    return float(grid[order[0]])


def _grid_or_default(grid: ArrayLike | None) -> np.ndarray:
    values = default_grid() if grid is None else np.asarray(grid, dtype=float)
    usable = values.ndim == 1 and values.size > 0 and np.all(np.isfinite(values))
    if not (usable and np.all(values > 0)):
        raise ValueError("temperature grid must be a non-empty list of positive numbers")
    return values


def fit_temperature(
    sim_by_item: Sequence[ArrayLike],
    bench_by_item: Sequence[ArrayLike],
    codes_by_item: Sequence[ArrayLike],
    *,
    grid: ArrayLike | None = None,
    method: Method = "mean_preserving_tilt",
    target: Target = "benchmark_variance",
) -> float:
    """One T for all items: the grid value minimising the mean mismatch over every item."""
    if len(sim_by_item) == 0:
        raise ValueError("need at least one item to fit a temperature")
    temperatures = _grid_or_default(grid)
    mismatch = _mismatch_matrix(
        sim_by_item, bench_by_item, codes_by_item, temperatures, method, target
    )
    return _best_temperature(temperatures, mismatch.mean(axis=1))


def fit_temperature_loo(
    sim_by_item: Sequence[ArrayLike],
    bench_by_item: Sequence[ArrayLike],
    codes_by_item: Sequence[ArrayLike],
    *,
    groups: Sequence[Hashable] | None = None,
    grid: ArrayLike | None = None,
    method: Method = "mean_preserving_tilt",
    target: Target = "benchmark_variance",
) -> list[float]:
    """Leave-one-out temperatures: T for row i is fitted on every row *outside i's group*.

    ``groups[i]`` names the question of row i; with rows per (question, country), passing the
    question as the group holds out the whole question -- all its countries -- as the
    value-persona paper fits T "on all remaining questions". Holding out one (question, country)
    row instead would fit on the same question's other countries, which share its wording and
    usually its spread: the question leaks into its own fit. Without ``groups`` each row is its
    own group (one country). The fit is the mean mismatch over the rows left in.
    """
    keys = list(range(len(sim_by_item))) if groups is None else list(groups)
    if len(keys) != len(sim_by_item):
        raise ValueError(f"need one group per row; got {len(keys)} groups for {len(sim_by_item)} rows")
    if len(set(keys)) < 2:
        raise ValueError("leave-one-out fitting needs at least two questions")
    temperatures = _grid_or_default(grid)
    mismatch = _mismatch_matrix(
        sim_by_item, bench_by_item, codes_by_item, temperatures, method, target
    )
    fitted: dict[Hashable, float] = {}
    for key in keys:
        if key not in fitted:
            kept = np.array([other != key for other in keys])
            fitted[key] = _best_temperature(temperatures, mismatch[:, kept].mean(axis=1))
    return [fitted[key] for key in keys]


def grid_edge(temperature: float, grid: ArrayLike | None = None) -> str | None:
    """``"low"`` or ``"high"`` when a fitted T is the grid's smallest or largest value (the best
    T may lie beyond it, so the calibrated figures are a bound, not a fit); else None."""
    temperatures = _grid_or_default(grid)
    if math.isclose(temperature, float(temperatures.min()), rel_tol=1e-12):
        return "low"
    if math.isclose(temperature, float(temperatures.max()), rel_tol=1e-12):
        return "high"
    return None


# ------------------------------------------------------ the spec's `calibrate` lines over the item rows


def calibrate_conditions(
    spec: Spec,
    item_rows: Sequence[ItemMetrics],
    benchmarks: dict,
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
    warnings: list[Warning],
) -> list[CalibrationResult]:
    if not spec.analysis.calibrations:
        return []
    results = []
    for use in spec.analysis.calibrations:
        settings = spec.calibrations.get(use.calibration)
        rows = [
            r for r in item_rows if r.condition == use.condition and r.variant == "with_defaults" and r.probs
        ]
        if settings is None or not rows:
            warnings.append(
                Warning(
                    kind="calibration_skipped",
                    severity="medium",
                    message=f"calibrate {use.condition} with {use.calibration}: "
                    + ("no such calibration" if settings is None else "no scored items"),
                    condition=use.condition,
                )
            )
            continue
        method = settings.method
        if settings.fit == "leave_one_out":
            if len({r.item for r in rows}) < 2:
                warnings.append(
                    Warning(
                        kind="calibration_skipped",
                        severity="medium",
                        message=f"calibrate {use.condition}: leave-one-out needs at least 2 questions",
                        condition=use.condition,
                    )
                )
                continue
            # the held-out unit is the question: all its countries leave the fit together
            temperatures = fit_temperature_loo(
                [r.probs for r in rows],
                [r.benchmark_probs for r in rows],
                [r.codes for r in rows],
                groups=[r.item for r in rows],
                method=method,
                target=settings.target,
            )
        else:
            temperatures = [settings.temperature if settings.temperature is not None else 1.0] * len(rows)
        items = []
        for row, temperature in zip(rows, temperatures):
            done = calibrate(row.probs, row.codes, float(temperature), method)
            after_probs = tuple(float(x) for x in done.after)
            before = proportion_metrics(row.probs, row, metric_specs)
            after = proportion_metrics(after_probs, row, metric_specs)
            beta = float(done.beta) if done.beta is not None and math.isfinite(done.beta) else None
            edge = grid_edge(float(temperature)) if settings.fit == "leave_one_out" else None
            items.append(
                CalibratedItem(
                    item=row.code,
                    temperature=float(temperature),
                    beta=beta if method == "mean_preserving_tilt" else None,
                    probs_before=tuple(row.probs),
                    probs_after=after_probs,
                    before=before,
                    after=after,
                    country=row.country,
                    grid_edge=edge,
                )
            )
        at_edge = [i for i in items if i.grid_edge]
        if at_edge:
            grid = default_grid()
            cells = ", ".join(
                f"{cell_label(i.item, i.country)} (T = {i.temperature:.3g})" for i in at_edge[:8]
            ) + (f" and {len(at_edge) - 8} more" if len(at_edge) > 8 else "")
            warnings.append(
                Warning(
                    kind="calibration_grid_edge",
                    severity="high",
                    message=(
                        f"calibrate {use.condition} with {use.calibration}: the fitted temperature sits at the edge of "
                        f"its grid [{grid.min():g}, {grid.max():g}] for {len(at_edge)} of {len(items)} rows: {cells}; "
                        "the best T may lie beyond it, so these calibrated figures are a bound, not a fit"
                    ),
                    condition=use.condition,
                )
            )
        keys = items[0].before.keys() if items else ()
        results.append(
            CalibrationResult(
                condition=use.condition,
                calibration=use.calibration,
                method=method,
                fit=settings.fit,
                items=tuple(items),
                held_out="question" if settings.fit == "leave_one_out" else None,
                mean_before={k: sum(i.before[k] for i in items) / len(items) for k in keys},
                mean_after={k: sum(i.after[k] for i in items) / len(items) for k in keys},
            )
        )
    return results
