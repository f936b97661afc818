"""Replicates (``samples > 1``): replicate r of a cell is every persona's r-th answer, one full
simulated survey; each metric per replicate and its mean ± SD.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Sequence

import attrs

from silspec.analysis.bootstrap import aggregate_seeds
from silspec.analysis.distributions import BenchmarkShares, ScoredAnswer, SimDistribution, build_distributions
from silspec.analysis.item_metrics import item_metrics
from silspec.analysis.results import ItemMetrics, ReplicateSpread
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
    spreads = {
        key: replicate_spread([values.get(key, math.nan) for values in per_replicate]) for key in keys
    }
    return attrs.evolve(row, replicates=indices, across_replicates=spreads)


def replicate_spread(values: Sequence[float]) -> ReplicateSpread:
    """Mean and sample SD over the finite values (NaN / n = 0 when none is finite)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    kept = tuple(float(v) if v is not None else math.nan for v in values)
    if not finite:
        return ReplicateSpread(mean=math.nan, sd=math.nan, n=0, values=kept)
    aggregate = aggregate_seeds(finite)
    return ReplicateSpread(mean=aggregate.mean, sd=aggregate.sd, n=aggregate.n, values=kept)
