"""Per-item metrics: each condition × item × variant against its benchmark, with bootstrap
intervals over personas for the metrics that depend on proportions alone.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from silspec.analysis.bootstrap import bootstrap_distribution_ci, bootstrap_share_intervals, js_statistic
from silspec.analysis.distributions import PROBABILITY_MODES, BenchmarkShares, SimDistribution
from silspec.analysis.metrics import HEADLINE_KEY, compute_metric, js_form, option_base
from silspec.analysis.results import Interval, ItemMetrics
from silspec.spec.model import Bootstrap, Item, Spec

DEFAULT_METRICS = ("js", "ks", "chi2", "wasserstein", "accuracy")
ORDINAL_METRICS = frozenset({"ks", "wasserstein", "mae", "variance"})
# Metrics whose value depends only on the simulated proportions: these get bootstrap CIs and
# calibrated "after" values (KS p and chi-square need a sample size).
PROPORTION_METRICS = ("js", "wasserstein", "mae", "variance", "accuracy", "emd_values_paper")

# Bootstrapped unless `bootstrap { metrics = [...] }` says otherwise: the vectorised ones.
BOOTSTRAP_DEFAULT = frozenset({"js", "wasserstein", "mae", "variance"})


def spec_metrics(spec: Spec) -> tuple[tuple[str, dict[str, Any]], ...]:
    if spec.analysis.metrics:
        return tuple((m.name, dict(m.options)) for m in spec.analysis.metrics)
    return tuple((name, {}) for name in DEFAULT_METRICS)


def item_metrics(
    spec: Spec,
    item: Item,
    dist: SimDistribution,
    shares: BenchmarkShares,
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
    *,
    intervals: bool = True,
) -> ItemMetrics:
    probs = dist.probs
    values: dict[str, float] = {}
    if probs is not None:
        counts = None if dist.answers in PROBABILITY_MODES else dist.integer_counts
        for name, options in metric_specs:
            if name in ORDINAL_METRICS and not item.scale.ordered:
                continue
            values.update(
                compute_metric(
                    name, probs, counts, shares.proportions, codes=dist.codes, bench_n=shares.n, options=options
                )
            )
        share_intervals = _share_intervals(spec, dist) if intervals else ()
        intervals = _intervals(spec, dist, shares, metric_specs, item.scale.ordered) if intervals else {}
    else:
        intervals, share_intervals = {}, ()
    return ItemMetrics(
        condition=dist.condition,
        item=item.id,
        code=item.code,
        variant=dist.variant,
        answers=dist.answers,
        n=dist.n,
        codes=dist.codes,
        counts=dist.counts,
        probs=probs,
        benchmark=shares.name,
        benchmark_probs=shares.proportions,
        values=values,
        intervals=intervals,
        country=dist.country,
        share_intervals=share_intervals,
    )


def _intervals(
    spec: Spec,
    dist: SimDistribution,
    shares: BenchmarkShares,
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
    ordered: bool,
) -> dict[str, Interval]:
    """Percentile bootstrap over personas for the proportion-only metrics."""
    settings = spec.analysis.bootstrap
    if settings is None or not dist.persona_shares:
        return {}
    seed = settings.seed if settings.seed is not None else spec.study.seed
    persona_codes, rows = _persona_inputs(dist)
    one_hot = persona_codes is not None
    intervals: dict[str, Interval] = {}
    for name, options in metric_specs:
        wanted = name in settings.metrics if settings.metrics else name in BOOTSTRAP_DEFAULT
        if not wanted or name not in PROPORTION_METRICS:
            continue
        if name in ORDINAL_METRICS and not ordered:
            continue
        for key, statistic in bootstrap_statistics(name, options, shares, dist.codes).items():
            ci = bootstrap_distribution_ci(
                persona_codes,
                None if one_hot else rows,
                dist.codes,
                statistic,
                resamples=settings.resamples,
                level=settings.level,
                seed=seed,
            )
            intervals[key] = Interval(ci.estimate, ci.low, ci.high, ci.level, ci.resamples)
    return intervals


def _persona_inputs(dist: SimDistribution):
    """(persona codes, None) when every persona gave one code, else (None, persona shares):
    the two inputs of the persona bootstrap (a multinomial draw is exact for the first)."""
    rows = np.asarray(dist.persona_shares, dtype=float)
    one_hot = dist.answers not in PROBABILITY_MODES and np.all((rows == 0) | (rows == 1))
    if one_hot:
        return np.asarray(dist.codes)[rows.argmax(axis=1)], rows
    return None, rows


def _share_intervals(spec: Spec, dist: SimDistribution) -> tuple[tuple[float, float], ...]:
    """Each code's share, bootstrapped over personas: the spec's bootstrap settings, or the
    defaults (1,000 resamples, 95 %, the study seed) since error bars need no opt-in."""
    if not dist.persona_shares:
        return ()
    settings = spec.analysis.bootstrap or Bootstrap()
    seed = settings.seed if settings.seed is not None else spec.study.seed
    persona_codes, rows = _persona_inputs(dist)
    lows, highs = bootstrap_share_intervals(
        persona_codes,
        None if persona_codes is not None else rows,
        dist.codes,
        resamples=settings.resamples,
        level=settings.level,
        seed=seed,
    )
    return tuple((float(low), float(high)) for low, high in zip(lows, highs))


def bootstrap_statistics(name: str, options: dict[str, Any], shares: BenchmarkShares, codes: Sequence[int]):
    """Vectorised statistics for the bootstrap: (m, k) proportions → m values per result key.

    JS comes from ``bootstrap.js_statistic``; W1, MAE and the variance gap are the row-wise
    forms of ``metrics.wasserstein_ordinal`` / ``normalised_mae`` / ``normalised_variance``
    (a test pins them to those); anything else is computed row by row (slow, opt-in).
    """
    bench = np.asarray(shares.proportions, dtype=float)
    values = np.asarray(codes, dtype=float)
    span = float(values[-1] - values[0]) if values.size > 1 else 0.0

    if name == "js":
        return {"js": js_statistic(bench, option_base(options), js_form(options))}
    if name == "wasserstein":

        def wasserstein_rows(rows: np.ndarray) -> np.ndarray:
            if span == 0:
                return np.zeros(len(rows))
            gaps = np.abs(np.cumsum(rows, axis=1) - np.cumsum(bench))[:, :-1]
            return gaps @ np.diff(values) / span

        return {"wasserstein": wasserstein_rows}
    if name == "mae":

        def mae_rows(rows: np.ndarray) -> np.ndarray:
            if span == 0:
                return np.zeros(len(rows))
            return np.abs(rows @ values - bench @ values) / span

        return {"mae": mae_rows}
    if name == "variance":

        def normalised_variances(rows: np.ndarray) -> np.ndarray:
            if span == 0:
                return np.zeros(len(rows))
            means = rows @ values
            return (rows @ values**2 - means**2) / (span**2 / 4.0)

        bench_nv = float(normalised_variances(bench[np.newaxis, :])[0])
        return {"variance_gap": lambda rows: np.abs(normalised_variances(rows) - bench_nv)}
    key = HEADLINE_KEY[name]

    def row_wise(proportions: np.ndarray) -> np.ndarray:
        return np.array(
            [
                compute_metric(name, row, None, bench, codes=codes, options=options)[key]
                for row in np.atleast_2d(proportions)
            ]
        )

    return {key: row_wise}


def proportion_metrics(
    probs: Sequence[float], row: ItemMetrics, metric_specs: Sequence[tuple[str, dict[str, Any]]]
) -> dict[str, float]:
    """The metrics computed from proportions alone: the ones calibration can move (before and after)."""
    values: dict[str, float] = {}
    for name, options in metric_specs:
        if name in PROPORTION_METRICS:
            values.update(compute_metric(name, probs, None, row.benchmark_probs, codes=row.codes, options=options))
    return values
