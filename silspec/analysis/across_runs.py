"""Several runs of one spec with different seeds: each pooled metric's mean, SD and n over runs."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Sequence

from silspec.analysis.cells import cell_label
from silspec.analysis.metrics import HEADLINE_KEY
from silspec.analysis.replicates import mean_interval, replicate_spread, seed_percentile_ci
from silspec.analysis.results import AcrossRunsRow, Results, RunInfo, RunsAggregate, Warning


def aggregate_runs(results: Sequence[Results], names: Sequence[str] | None = None, *,
                   with_usage: bool = False) -> RunsAggregate:
    """Mean, SD and n of every pooled metric over runs of one spec with different seeds.

    The runs must be of the same study; runs sharing a seed are flagged (they are the same
    draws, not independent replicates), and so is a metric that some runs lack. ``with_usage``:
    keep each run's tokens and cost (runs read from disk; the replicate runs inside one report
    have that report's ``usage``).
    """
    if len(results) < 2:
        raise ValueError(f"aggregating over runs needs at least 2 runs, got {len(results)}")
    names = list(names) if names is not None else [f"run {i + 1}" for i in range(len(results))]
    if len(names) != len(results):
        raise ValueError(f"{len(results)} runs but {len(names)} names")
    studies = {r.study.name for r in results}
    if len(studies) > 1:
        raise ValueError(f"runs of different studies cannot be aggregated: {', '.join(sorted(studies))}")
    warnings: list[Warning] = []
    by_seed: dict[int | None, list[str]] = defaultdict(list)
    for name, result in zip(names, results):
        by_seed[result.study.seed].append(name)
        for warning in result.warnings:
            if warning.severity == "high":
                warnings.append(Warning(warning.kind, "high", f"{name}: {warning.message}", warning.condition, warning.item))
    for seed, same in by_seed.items():
        if len(same) > 1:
            warnings.append(
                Warning(
                    kind="same_seed",
                    severity="high",
                    message=f"{', '.join(same)} share seed {seed}: they are not independent replicates",
                )
            )
    metric_of_key = {HEADLINE_KEY.get(m, m): m for r in results for m in r.study.metrics}
    cells: dict[tuple[str, str, str, str], list[float]] = {}
    persona_intervals: dict[tuple[str, str, str, str], list] = {}
    for index, result in enumerate(results):
        for row in result.items:
            label = cell_label(row.code, row.country)
            for key, value in row.values.items():
                slot = cells.setdefault((row.condition, label, row.variant, key), [math.nan] * len(results))
                slot[index] = value
                persona_intervals.setdefault((row.condition, label, row.variant, key), []).append(row.intervals.get(key))
    level, seed = _seed_bootstrap_settings(results)
    rows = []
    for (condition, label, variant, key), values in cells.items():
        spread = replicate_spread(values)
        rows.append(
            AcrossRunsRow(
                condition=condition,
                item=label,
                variant=variant,
                metric=metric_of_key.get(key, key.partition("_")[0]),
                key=key,
                spread=spread,
                seed_ci=seed_percentile_ci(values, level=level, seed=seed),
                persona_ci=mean_interval(persona_intervals[(condition, label, variant, key)]),
            )
        )
        missing = sum(1 for v in values if not math.isfinite(v))
        if missing and variant == "with_defaults" and key == HEADLINE_KEY.get(metric_of_key.get(key, key), key):
            absent = [names[i] for i, v in enumerate(values) if not math.isfinite(v)]
            warnings.append(
                Warning(
                    kind="runs_incomplete",
                    severity="medium",
                    message=f"{condition} {label} {key}: no value in {', '.join(absent)}; aggregated over {spread.n} runs",
                    condition=condition,
                )
            )
    return RunsAggregate(
        study=results[0].study,
        runs=tuple(RunInfo(run=name, seed=r.study.seed, n_answers=r.study.n_answers,
                           usage=tuple(r.usage) if with_usage else ())
                   for name, r in zip(names, results)),
        rows=tuple(rows),
        warnings=tuple(warnings),
    )


def _seed_bootstrap_settings(results: Sequence[Results]) -> tuple[float, int]:
    """(level, seed) of the across-seed bootstrap: the spec's ``bootstrap`` level and seed (so
    both intervals share a level), else 0.95 and seed 0; the draws are fixed either way."""
    settings = results[0].study.bootstrap or {}
    level = settings.get("level") or 0.95
    seed = settings.get("seed")
    return float(level), int(seed) if seed is not None else 0
