"""Replicates (``samples > 1``): replicate r of a cell is every persona's r-th answer, one full
simulated survey; each metric per replicate and its mean ± SD.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Sequence

import attrs
import numpy as np

from silspec.analysis.bootstrap import aggregate_seeds
from silspec.analysis.distributions import BenchmarkShares, ScoredAnswer, SimDistribution, build_distributions
from silspec.analysis.item_metrics import item_metrics
from silspec.analysis.results import Interval, ItemMetrics, ReplicateSpread
from silspec.spec.model import Item, Spec


def replicate_distributions(
    scored: Sequence[ScoredAnswer], codes_by_item: dict[str, tuple[int, ...]]
) -> dict[tuple[str, str, str | None], dict[int, dict[str, SimDistribution]]]:
    """cell → replicate index → variant → distribution, for cells with at least 2 replicates.

    Replicate r of a cell is every persona's r-th answer: one full simulated survey, so its
    metric is what a single run with ``samples = 1`` would have reported.
    """
    replicates_of: dict[tuple[str, str, str | None], set[int]] = defaultdict(set)
    for answer in scored:
        replicates_of[(answer.condition, answer.item, answer.country)].add(answer.replicate)
    wanted = {cell for cell, seen in replicates_of.items() if len(seen) >= 2}
    if not wanted:
        return {}
    grouped: dict[int, list[ScoredAnswer]] = defaultdict(list)
    for answer in scored:
        if (answer.condition, answer.item, answer.country) in wanted:
            grouped[answer.replicate].append(answer)
    out: dict[tuple[str, str, str | None], dict[int, dict[str, SimDistribution]]] = defaultdict(dict)
    for replicate in sorted(grouped):
        for cell, variants in build_distributions(grouped[replicate], codes_by_item).items():
            out[cell][replicate] = variants
    return dict(out)


def with_replicate_spreads(
    spec: Spec,
    item: Item,
    row: ItemMetrics,
    replicates: dict[int, dict[str, SimDistribution]],
    variant: str,
    shares: BenchmarkShares,
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
) -> ItemMetrics:
    """``row`` plus each metric per replicate and its mean ± SD (``aggregate_seeds``)."""
    indices = tuple(sorted(replicates))
    per_replicate = [
        item_metrics(spec, item, replicates[r][variant], shares, metric_specs, intervals=False).values
        for r in indices
    ]
    keys = list(dict.fromkeys(k for values in per_replicate for k in values))
    settings = spec.analysis.bootstrap
    level = settings.level if settings is not None else 0.95
    seed = settings.seed if settings is not None and settings.seed is not None else 0
    spreads = {}
    for key in keys:
        values = [values.get(key, math.nan) for values in per_replicate]
        spreads[key] = attrs.evolve(replicate_spread(values), seed_ci=seed_percentile_ci(values, level=level, seed=seed))
    return attrs.evolve(row, replicates=indices, across_replicates=spreads)


def replicate_spread(values: Sequence[float]) -> ReplicateSpread:
    """Mean and sample SD over the finite values (NaN / n = 0 when none is finite)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    kept = tuple(float(v) if v is not None else math.nan for v in values)
    if not finite:
        return ReplicateSpread(mean=math.nan, sd=math.nan, n=0, values=kept)
    aggregate = aggregate_seeds(finite)
    return ReplicateSpread(mean=aggregate.mean, sd=aggregate.sd, n=aggregate.n, values=kept)


SEED_RESAMPLES = 10_000  # the KGSS authors' across-seed bootstrap


def seed_percentile_ci(values: Sequence[float], *, resamples: int = SEED_RESAMPLES, level: float = 0.95,
                       seed: int | None = 0) -> Interval | None:
    """Percentile bootstrap CI of the mean of seed-level values (NaN values left out).

    What the KGSS authors computed over their repeated runs: resample the k run values with
    replacement ``resamples`` times, take each resample's mean, read the percentiles. It says
    how much the *mean over these k seeds* would move with other seeds like them; with k = 5 it
    can never be wider than the 5 values' range (a resample's mean lies between their minimum
    and maximum), so few seeds understate the spread. ``seed`` fixes the draws (reproducible).
    None with fewer than 2 finite values.
    """
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if data.size < 2:
        return None
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Interval(estimate=float(data.mean()), low=float(low), high=float(high), level=level, resamples=resamples)


def mean_interval(intervals: Sequence[Interval | None]) -> Interval | None:
    """The runs' persona intervals, each end averaged over the runs that have one (same level)."""
    present = [i for i in intervals if i is not None and math.isfinite(i.low) and math.isfinite(i.high)]
    if not present or len({i.level for i in present}) != 1:
        return None
    return Interval(estimate=float(np.mean([i.estimate for i in present])), low=float(np.mean([i.low for i in present])),
                    high=float(np.mean([i.high for i in present])), level=present[0].level,
                    resamples=present[0].resamples)
