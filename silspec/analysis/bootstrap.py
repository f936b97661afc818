"""Uncertainty of a metric from the personas that produced it, and across repeated seeds.

The bootstrap resamples *personas* with replacement (the unit the simulation draws), recomputes
the simulated distribution of every resample at once, and reads a percentile interval off the
statistic. It is vectorised: a resample of personas' answered codes is a multinomial draw of
counts, and a resample of personas' option probabilities is a weight vector over personas, so
10,000 resamples are a few array operations, not 10,000 Python iterations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from attrs import frozen

from silspec.analysis.metrics import ArrayLike, js_divergence_rows, js_form_of_divergence, to_proportions

Statistic = Callable[[np.ndarray], np.ndarray]

# Resampled weight matrices are built in chunks of at most this many cells (resamples x personas)
# so that a large persona pool does not allocate gigabytes at once.
_MAX_CELLS_PER_CHUNK = 4_000_000


@frozen
class CI:
    estimate: float  # the statistic on the full (not resampled) distribution
    low: float
    high: float
    resamples: int
    level: float


@frozen
class SeedAggregate:
    mean: float
    sd: float  # sample SD (n - 1); NaN for a single seed
    n: int


def js_statistic(bench_probs: ArrayLike, base: float = math.e, form: str = "divergence") -> Statistic:
    """A vectorised statistic: JS of each resampled distribution from the benchmark, in ``form``
    (``metrics.JS_FORMS``) and log ``base`` — the same numbers ``compute_metric`` gives."""
    js_form_of_divergence(0.0, form)  # an unknown form fails here, not inside the resampling
    bench = to_proportions(bench_probs, name="benchmark distribution")

    def statistic(proportions: np.ndarray) -> np.ndarray:
        if proportions.shape[-1] != bench.size:
            raise ValueError(
                f"resampled distributions have {proportions.shape[-1]} codes,"
                f" the benchmark {bench.size}"
            )
        return js_form_of_divergence(js_divergence_rows(proportions, bench, base=base), form)

    return statistic


def _validate(resamples: int, level: float) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")


def _resampled_from_codes(
    persona_codes: np.ndarray, codes: np.ndarray, resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Full-sample proportions and (resamples, k) resampled proportions from answered codes.

    Drawing n personas with replacement and histogramming their codes is exactly a
    Multinomial(n, observed shares) draw, so one `rng.multinomial` call does every resample.
    """
    answers = np.asarray(persona_codes)
    if answers.ndim != 1 or answers.size == 0:
        raise ValueError(f"persona_codes must be a non-empty 1-D array, got shape {answers.shape}")
    positions = np.searchsorted(codes, answers)
    inside = (positions < codes.size) & (codes[np.minimum(positions, codes.size - 1)] == answers)
    if not np.all(inside):
        strays = sorted(set(np.asarray(answers)[~inside].tolist()))
        raise ValueError(
            f"persona_codes contains values outside the codes {codes.tolist()}: {strays};"
            " drop invalid answers (or apply the default policy) before bootstrapping"
        )
    counts = np.bincount(positions, minlength=codes.size)
    shares = counts / answers.size
    draws = rng.multinomial(answers.size, shares, size=resamples)
    return shares, draws / answers.size


def _resampled_from_probs(
    persona_probs: np.ndarray, codes: np.ndarray, resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Full-sample mean distribution and (resamples, k) resampled means of personas' rows.

    A resample is a vector of how often each persona was drawn (Multinomial(n, 1/n)); its mean
    distribution is that vector times the persona matrix / n, done chunk by chunk.
    """
    probs = np.asarray(persona_probs, dtype=float)
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f"persona_probs must be a non-empty (n, k) matrix, got {probs.shape}")
    if probs.shape[1] != codes.size:
        raise ValueError(
            f"persona_probs has {probs.shape[1]} columns but there are {codes.size} codes"
        )
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise ValueError("persona_probs must be finite and non-negative")
    row_sums = probs.sum(axis=1, keepdims=True)
    if np.any(row_sums <= 0):
        raise ValueError("every persona's option probabilities must have positive mass")
    rows = probs / row_sums
    n = rows.shape[0]
    chunk = max(1, _MAX_CELLS_PER_CHUNK // n)
    uniform = np.full(n, 1.0 / n)
    resampled = np.empty((resamples, codes.size))
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        weights = rng.multinomial(n, uniform, size=stop - start)
        resampled[start:stop] = weights @ rows / n
    return rows.mean(axis=0), resampled


def _resampled(
    persona_codes: np.ndarray | None,
    persona_probs: np.ndarray | None,
    codes: ArrayLike,
    resamples: int,
    level: float,
    seed: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(full-sample shares, (resamples, k) resampled shares) after validating the inputs."""
    _validate(resamples, level)
    if (persona_codes is None) == (persona_probs is None):
        raise ValueError(
            "give exactly one of persona_codes (sampled) or persona_probs (option_probs)"
        )
    code_values = np.asarray(codes)
    if code_values.ndim != 1 or code_values.size == 0:
        raise ValueError("codes must be a non-empty 1-D sequence")
    if code_values.size > 1 and not np.all(np.diff(code_values) > 0):
        raise ValueError(f"codes must be strictly increasing, got {code_values.tolist()}")
    rng = np.random.default_rng(seed)
    if persona_codes is not None:
        return _resampled_from_codes(persona_codes, code_values, resamples, rng)
    return _resampled_from_probs(persona_probs, code_values, resamples, rng)


def bootstrap_share_intervals(
    persona_codes: np.ndarray | None,
    persona_probs: np.ndarray | None,
    codes: ArrayLike,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of each code's share over personas resampled with replacement.

    The same resampling as ``bootstrap_distribution_ci`` (give exactly one of the two inputs);
    returns (lows, highs), one value per code: the error bars of a simulated bar chart.
    """
    _, resampled = _resampled(persona_codes, persona_probs, codes, resamples, level, seed)
    tail = (1.0 - level) / 2.0
    lows, highs = np.quantile(resampled, [tail, 1.0 - tail], axis=0)
    return lows, highs


def bootstrap_distribution_ci(
    persona_codes: np.ndarray | None,
    persona_probs: np.ndarray | None,
    codes: ArrayLike,
    statistic: Statistic,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int | None = None,
) -> CI:
    """Percentile bootstrap CI of `statistic` over personas resampled with replacement.

    Give exactly one of `persona_codes` (shape (n,), each persona's answered code: sampled mode)
    or `persona_probs` (shape (n, k), each persona's option probabilities: option_probs mode).
    `statistic` maps a (m, k) matrix of proportions to m values.
    """
    full, resampled = _resampled(persona_codes, persona_probs, codes, resamples, level, seed)
    values = np.asarray(statistic(resampled), dtype=float)
    if values.shape != (resamples,):
        raise ValueError(
            f"statistic must map ({resamples}, k) proportions to ({resamples},) values,"
            f" got shape {values.shape}"
        )
    estimate = float(np.asarray(statistic(full[np.newaxis, :]), dtype=float).reshape(-1)[0])
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return CI(estimate=estimate, low=float(low), high=float(high), resamples=resamples, level=level)


def bootstrap_mean_ci(
    values: ArrayLike, *, resamples: int = 1000, level: float = 0.95, seed: int | None = None
) -> CI:
    """Percentile CI of a mean by resampling its units (items, when a condition has no personas)."""
    _validate(resamples, level)
    data = np.asarray(values, dtype=float)
    if data.ndim != 1 or data.size == 0 or not np.all(np.isfinite(data)):
        raise ValueError("values must be a non-empty 1-D vector of finite numbers")
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(data.size, np.full(data.size, 1.0 / data.size), size=resamples)
    means = weights @ data / data.size
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return CI(float(data.mean()), float(low), float(high), resamples, level)


def aggregate_seeds(values: Sequence[float]) -> SeedAggregate:
    """Mean and sample SD of one metric over repeated runs with different seeds."""
    data = np.asarray(values, dtype=float)
    if data.ndim != 1 or data.size == 0:
        raise ValueError("need at least one value to aggregate over seeds")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"seed values must be finite numbers, got {data.tolist()}")
    sd = float(np.std(data, ddof=1)) if data.size > 1 else math.nan
    return SeedAggregate(mean=float(data.mean()), sd=sd, n=int(data.size))
