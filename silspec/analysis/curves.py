"""A metric against the number of personas (the value-persona paper's Figure 3), from stored answers.

For each size m and each country, m of the condition's personas are drawn without replacement
(the same personas for every question: a persona is one respondent), the simulated distribution
of each question is the mean of those personas' own distributions, and the metric is averaged
over the questions. ``draws`` such draws give the mean and a percentile band (``level``; 1 = the
full range over draws, as the paper shades "the range across repeated random samples"). The
series "all countries" averages the countries draw by draw. Nothing is asked again: only the
stored answers are read, so the curve costs no requests.

Draws come from one ``numpy`` generator per (seed, condition, country), so the same spec and
stored answers give the same curve byte for byte. A size equal to every persona a country has
is drawn once (there is nothing left to vary); sizes above what the smallest country has are
left out and named.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from silspec.analysis.distributions import BenchmarkShares, SimDistribution
from silspec.analysis.metrics import HEADLINE_KEY, compute_metric, mean_of
from silspec.analysis.results import CurvePoint, CurveSeries, PersonaCurve, Warning
from silspec.spec.model import Curve, Spec

CellKey = tuple[str, str, "str | None"]


def _rng(seed: int, condition: str, country: str | None) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(condition.encode()), zlib.crc32((country or "").encode())])


class _CountryCells:
    """One country's questions as matrices: persona × code shares per question, aligned on one
    persona list (a persona without an answer to a question is NaN there and left out of its mean)."""

    def __init__(self, cells: Sequence[tuple[SimDistribution, BenchmarkShares]]):
        personas = list(dict.fromkeys(p for dist, _ in cells for p in dist.persona_ids))
        self.personas = personas
        index = {p: i for i, p in enumerate(personas)}
        self.questions = []
        for dist, bench in cells:
            shares = np.full((len(personas), len(dist.codes)), np.nan)
            for persona, row in zip(dist.persona_ids, dist.persona_shares):
                shares[index[persona]] = row
            self.questions.append((dist, bench, shares))
        # MAE reads only each question's mean, and the mean of a mixture is the mean of its
        # personas' means: one persona x question matrix serves every draw
        means, bench_means, ranges = [], [], []
        for dist, bench, shares in self.questions:
            codes = np.asarray(dist.codes, dtype=float)
            means.append(shares @ codes)
            bench_means.append(mean_of(bench.proportions, codes))
            ranges.append(codes[-1] - codes[0])
        self.persona_means = np.array(means).reshape(len(self.questions), len(personas))
        self.bench_means = np.array(bench_means)
        self.ranges = np.array(ranges)

    def value(self, chosen: np.ndarray, metric: str, key: str, options: Mapping[str, Any]) -> float:
        """The metric averaged over the questions, the simulated shares being the mean of ``chosen``."""
        if metric == "mae":
            return self._mae(chosen)
        values = []
        for dist, bench, shares in self.questions:
            rows = shares[chosen]
            rows = rows[~np.isnan(rows[:, 0])]
            if rows.shape[0] == 0:
                continue
            sim = rows.mean(axis=0)
            values.append(compute_metric(metric, sim, None, bench.proportions, codes=dist.codes, options=options)[key])
        finite = [v for v in values if math.isfinite(v)]
        return float(np.mean(finite)) if finite else math.nan

    def _mae(self, chosen: np.ndarray) -> float:
        picked = self.persona_means[:, chosen]
        answered = ~np.isnan(picked)
        counts = answered.sum(axis=1)
        kept = counts > 0
        if not kept.any():
            return math.nan
        sim = np.where(answered, picked, 0.0).sum(axis=1)[kept] / counts[kept]
        ranges = self.ranges[kept]
        errors = np.where(ranges > 0, np.abs(sim - self.bench_means[kept]) / np.where(ranges > 0, ranges, 1.0), 0.0)
        return float(errors.mean())


def persona_curve(
    curve: Curve,
    cells: Mapping[str | None, Sequence[tuple[SimDistribution, BenchmarkShares]]],
    *,
    seed: int,
    options: Mapping[str, Any] | None = None,
    variant: str = "with_defaults",
) -> PersonaCurve:
    """The curve over ``cells`` (country -> that country's (distribution, benchmark) per question)."""
    key = HEADLINE_KEY.get(curve.metric, curve.metric)
    options = dict(options or {})
    countries = {country: _CountryCells(found) for country, found in cells.items() if found}
    available = min((len(c.personas) for c in countries.values()), default=0)
    sizes = tuple(size for size in curve.sizes if size <= available)
    dropped = tuple(size for size in curve.sizes if size > available)
    tail = (1 - curve.level) / 2
    series = []
    per_draw: dict[int, list[np.ndarray]] = {size: [] for size in sizes}
    for country, table in countries.items():
        rng = _rng(seed, curve.condition, country)
        points = []
        for size in sizes:
            draws = 1 if size == len(table.personas) else curve.draws
            values = np.array([
                table.value(np.sort(rng.choice(len(table.personas), size=size, replace=False)), curve.metric, key, options)
                for _ in range(draws)
            ])
            per_draw[size].append(np.resize(values, curve.draws))  # a single draw stands for every draw
            points.append(_point(size, values, tail))
        series.append(CurveSeries(country=country, points=tuple(points), available=len(table.personas)))
    if len(countries) > 1:
        points = []
        for size in sizes:
            averaged = np.nanmean(np.vstack(per_draw[size]), axis=0)
            draws = 1 if all(size == len(t.personas) for t in countries.values()) else curve.draws
            points.append(_point(size, averaged[:draws], tail))
        series.insert(0, CurveSeries(country=None, points=tuple(points), available=available))
    n_items = max((len(t.questions) for t in countries.values()), default=0)
    return PersonaCurve(
        condition=curve.condition, metric=curve.metric, key=key, variant=variant, sizes=sizes,
        dropped_sizes=dropped, draws=curve.draws, level=curve.level, seed=seed, series=tuple(series),
        n_items=n_items,
    )


def _point(size: int, values: np.ndarray, tail: float) -> CurvePoint:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return CurvePoint(size=size, mean=math.nan, low=math.nan, high=math.nan, draws=int(values.size))
    return CurvePoint(
        size=size,
        mean=float(finite.mean()),
        low=float(np.quantile(finite, tail)),
        high=float(np.quantile(finite, 1 - tail)),
        draws=int(values.size),
    )


def spec_curves(
    spec: Spec,
    distributions: Mapping[CellKey, Mapping[str, SimDistribution]],
    cell_benchmarks: Mapping[CellKey, BenchmarkShares],
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
    warnings: list[Warning],
) -> list[PersonaCurve]:
    """Every ``curve`` of the analysis block over the run's stored answers."""
    options = dict(metric_specs)
    curves = []
    for curve in spec.analysis.curves:
        if curve.metric not in options:
            continue
        cells: dict[str | None, list[tuple[SimDistribution, BenchmarkShares]]] = {}
        for cell, variants in distributions.items():
            condition, _, country = cell
            if condition != curve.condition or cell not in cell_benchmarks:
                continue
            dist = variants["with_defaults"]
            if dist.persona_ids:
                cells.setdefault(country, []).append((dist, cell_benchmarks[cell]))
        if not cells:
            warnings.append(
                Warning(kind="curve_empty", severity="high", condition=curve.condition,
                        message=f"curve {curve.condition}: no scored answers with a benchmark, so no curve")
            )
            continue
        seed = curve.seed if curve.seed is not None else (spec.study.seed or 0)
        result = persona_curve(curve, cells, seed=seed, options=options[curve.metric])
        if result.dropped_sizes:
            smallest = min(s.available for s in result.series)
            warnings.append(
                Warning(
                    kind="curve_sizes_dropped",
                    severity="medium",
                    condition=curve.condition,
                    message=(
                        f"curve {curve.condition}: sizes {', '.join(map(str, result.dropped_sizes))} exceed the "
                        f"{smallest} personas the smallest country has and were left out"
                    ),
                )
            )
        curves.append(result)
    return curves
