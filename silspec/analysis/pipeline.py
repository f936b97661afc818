"""``analyse``: a checked spec and stored answers in, ``Results`` out.

The order is the report's order of trust: read every stored answer's verdict (scored again,
never re-asked, only where the spec's parser definition changed since the run), count
compliance, build the simulated distributions (with defaults and on valid answers only),
normalise the benchmarks explicitly, compute metrics and bootstrap intervals, compare
conditions, calibrate, and collect the warnings a reader must not miss.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Collection, Iterable, Sequence

from silspec.analysis.compliance import Compliance, compliance_table
from silspec.analysis.distributions import (
    PROBABILITY_MODES,
    VARIANTS,
    BenchmarkShares,
    ScoredAnswer,
    SimDistribution,
    benchmark_shares,
    build_distributions,
)
from silspec.analysis.results import (
    BenchmarkInfo,
    CalibratedItem,
    CalibrationResult,
    ComparisonResult,
    ComparisonRow,
    ConditionInfo,
    Interval,
    AcrossRunsRow,
    ItemMetrics,
    ReplicateSpread,
    Results,
    RunInfo,
    RunsAggregate,
    StudyHeader,
    Warning,
)
from silspec.answers import Verdict, score, scorer_hash
from silspec.plan.compile import build_plan_item
from silspec.plan.model import PlanItem
from silspec.run.records import AnswerRecord, stored_reply, stored_verdict
from silspec.spec.model import Condition, Item, Parser, Spec

DEFAULT_METRICS = ("js", "ks", "chi2", "wasserstein", "accuracy")
ORDINAL_METRICS = frozenset({"ks", "wasserstein", "mae", "variance"})
# Metrics whose value depends only on the simulated proportions: these get bootstrap CIs and
# calibrated "after" values (KS p and chi-square need a sample size).
PROPORTION_METRICS = ("js", "wasserstein", "mae", "variance", "accuracy")

# Bootstrapped unless `bootstrap { metrics = [...] }` says otherwise: the vectorised ones.
BOOTSTRAP_DEFAULT = frozenset({"js", "wasserstein", "mae", "variance"})

DEFAULT_RATE_WARNING = 0.10
LOW_VALID_MASS = 0.5  # option_probs: below this, most of the probability went to other tokens
DEGENERATE_SHARE = 0.95
# Sampled/verbalised answers: above this share of invalid answers and refusals the model mostly
# did not answer the question. `report { invalid_warning = 0.3 }` overrides it where the
# checker accepts the key.
INVALID_WARNING = 0.20
FEW_VALID_ANSWERS = 30  # below this many valid answers a metric's bootstrap CI is wide
SEVERITY_ORDER = {"high": 0, "medium": 1, "info": 2}


class UnknownBenchmarkError(ValueError):
    """``benchmark=`` names a benchmark that no item of the spec has (a usage error)."""


def analyse(
    spec: Spec,
    answers: Iterable[AnswerRecord],
    *,
    benchmark: str | None = None,
    plan_ids: Collection[str] | None = None,
) -> Results:
    """Score every condition × item of ``spec`` from its stored answers.

    ``benchmark`` overrides the benchmark name for every item (``silspec report --benchmark``);
    an item without a benchmark of that name falls back to its default, with a warning, and a
    name that no item has raises ``UnknownBenchmarkError``.

    ``plan_ids`` are the request ids of the run directory's current plan: stored answers outside
    it were asked by an earlier run with another spec or ``--set`` (a superseded plan) and are
    left out, loudly. ``None`` scores every answer given.
    """
    check_benchmark_name(spec, benchmark)
    warnings: list[Warning] = []
    records = list(answers)
    n_superseded = 0
    plan_warnings: list[Warning] = []
    if plan_ids is not None:
        records, superseded = _split_by_plan(records, plan_ids)
        n_superseded = len(superseded)
        plan_warnings = _plan_warnings(records, superseded, plan_ids)
    scored = _score(spec, records, warnings)
    codes_by_item = {item.id: item.scale.codes for item in spec.all_items()}
    compliance = compliance_table(scored)
    distributions = build_distributions(scored, codes_by_item)
    metric_specs = _metric_specs(spec)

    by_replicate = _replicate_distributions(scored, codes_by_item)

    benchmarks: dict[tuple[str, str, str | None], BenchmarkShares] = {}
    item_rows: list[ItemMetrics] = []
    for cell, variants in distributions.items():
        condition_name, item_id, country = cell
        item = spec.item(item_id)
        shares = _benchmark_for(spec, spec.conditions[condition_name], item, country, benchmark, warnings)
        if shares is None:
            continue
        benchmarks.setdefault((item_id, shares.name, country), shares)
        replicates = by_replicate.get(cell, {})
        for variant in VARIANTS:
            row = _item_metrics(spec, item, variants[variant], shares, metric_specs)
            if len(replicates) >= 2:
                row = _with_replicate_spreads(spec, item, row, replicates, variant, shares, metric_specs)
            item_rows.append(row)

    comparisons = _comparisons(spec, item_rows, metric_specs, warnings)
    calibrations = _calibrations(spec, item_rows, benchmarks, metric_specs, warnings)
    warnings = (
        plan_warnings
        + _default_warnings(spec, compliance)
        + _invalid_warnings(spec, compliance, item_rows)
        + _valid_mass_warnings(spec, compliance)
        + _few_answers_warnings(item_rows)
        + _benchmark_warnings(benchmarks.values())
        + _degenerate_warnings(item_rows)
        + _provider_warnings(records)
        + warnings
    )
    warnings = _collapse_repeats(warnings)
    # loud ones first in every renderer (a stable sort keeps each severity's own order)
    warnings.sort(key=lambda w: SEVERITY_ORDER.get(w.severity, len(SEVERITY_ORDER)))
    return Results(
        study=_header(spec, records, benchmark, metric_specs, n_superseded),
        compliance=tuple(compliance),
        benchmarks=tuple(_benchmark_info(b) for b in benchmarks.values()),
        items=tuple(item_rows),
        comparisons=tuple(comparisons),
        calibrations=tuple(calibrations),
        warnings=tuple(warnings),
    )


def known_benchmarks(spec: Spec) -> tuple[str, ...]:
    """Every benchmark name some item of ``spec`` carries, sorted."""
    return tuple(sorted({b.name for item in spec.all_items() for b in item.benchmarks}))


def check_benchmark_name(spec: Spec, benchmark: str | None) -> None:
    """Raise ``UnknownBenchmarkError`` when ``benchmark`` is given and no item has it.

    A name some items lack still falls back per item (with a warning); a name no item has is a
    typo, and silently scoring the default would report the wrong benchmark.
    """
    if benchmark is None:
        return
    known = known_benchmarks(spec)
    if benchmark not in known:
        raise UnknownBenchmarkError(
            f"unknown benchmark {benchmark!r}; the spec's items have: {', '.join(known) or 'none'}"
        )


# ---------------------------------------------------------------------------- current plan


def _split_by_plan(
    records: Sequence[AnswerRecord], plan_ids: Collection[str]
) -> tuple[list[AnswerRecord], list[AnswerRecord]]:
    """(answers of the current plan, answers of a superseded one)."""
    ids = plan_ids if isinstance(plan_ids, (set, frozenset)) else frozenset(plan_ids)
    current, superseded = [], []
    for record in records:
        (current if record.request_id in ids else superseded).append(record)
    return current, superseded


def _plan_warnings(
    current: Sequence[AnswerRecord], superseded: Sequence[AnswerRecord], plan_ids: Collection[str]
) -> list[Warning]:
    """Loud: answers left out because a later run changed the spec or a ``--set``."""
    warnings = []
    if superseded:
        by_condition: dict[str, int] = defaultdict(int)
        for record in superseded:
            by_condition[record.condition] += 1
        where = ", ".join(f"{name} {count}" for name, count in by_condition.items())
        total = len(current) + len(superseded)
        warnings.append(
            Warning(
                kind="superseded_answers",
                severity="high",
                message=f"{len(superseded)} of {total} stored answers belong to a superseded plan "
                f"(an earlier run into this directory with another spec or --set) and were left out "
                f"({where}); scored: the {len(current)} answers of the current plan. "
                "Use --fresh or another --out to keep runs apart",
            )
        )
    missing = len(plan_ids) - len(current)
    if missing > 0:
        warnings.append(
            Warning(
                kind="plan_incomplete",
                severity="medium",
                message=f"{missing} of the current plan's {len(plan_ids)} requests have no stored "
                "answer yet (an interrupted run, --limit or --condition); run again to complete them",
            )
        )
    return warnings


# ---------------------------------------------------------------------------------- parsing


def _score(spec: Spec, records: Sequence[AnswerRecord], warnings: list[Warning]) -> list[ScoredAnswer]:
    """Every stored answer's verdict: as stored, or scored again where the definition changed."""
    scored: list[ScoredAnswer] = []
    unknown: dict[str, int] = defaultdict(int)
    plan_items: dict[str, PlanItem] = {}
    rescored: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # condition -> [re-scored, changed]
    unfilled: dict[str, int] = defaultdict(int)  # option_probs failures a midpoint policy cannot fill
    for record in records:
        condition = spec.conditions.get(record.condition)
        if condition is None or condition.parser not in spec.parsers:
            unknown[record.condition] += 1
            continue
        try:
            item = spec.item(record.item)
        except KeyError:
            unknown[f"{record.condition}: item {record.item}"] += 1
            continue
        plan_item = plan_items.get(item.id) or plan_items.setdefault(item.id, build_plan_item(item))
        parser = spec.parsers[condition.parser]
        verdict, how = verdict_of(record, parser, plan_item)
        if how == "rescored":
            counts = rescored[record.condition]
            counts[0] += 1
            counts[1] += verdict != stored_verdict(record)
        if record.answers == "option_probs" and verdict.outcome == "error" and parser.on_error == "midpoint":
            unfilled[record.condition] += 1
        scored.append(scored_answer(record, verdict))
    for name, count in unknown.items():
        warnings.append(
            Warning(
                kind="unknown_answers",
                severity="medium",
                message=f"{count} stored answers belong to {name!r}, which the spec does not define; ignored",
            )
        )
    warnings.extend(_rescored_warnings(rescored))
    for name, count in unfilled.items():
        warnings.append(
            Warning(
                kind="option_probs_unfilled",
                severity="medium",
                message=f"{name}: {count} option_probs answers have no probabilities (errors); the parser's "
                "midpoint policy does not fill them, because an item never mixes probability vectors "
                "with one-hot defaults: they are left out",
                condition=name,
            )
        )
    return scored


def verdict_of(record: AnswerRecord, parser: Parser, item: PlanItem) -> tuple[Verdict, str]:
    """(verdict, how): ``stored`` when the definition that decided it is the current one;
    ``rescored`` when it differs (another parser, another silspec); ``legacy`` for rows stored
    before verdicts were (schema 1), which have always been scored from their text.

    Scoring again calls the runner's own function (``silspec.answers.score``) on the stored reply.
    """
    tokens = record.meta.get("option_tokens") if record.meta else None
    tokens = tuple(tokens) if tokens else None
    if record.scorer is not None:
        current = scorer_hash(answers=record.answers, parser=parser, item=item, option_tokens=tokens)
        if record.scorer == current:
            return stored_verdict(record), "stored"
    verdict = score(stored_reply(record), answers=record.answers, parser=parser, item=item, option_tokens=tokens)
    return verdict, "legacy" if record.scorer is None else "rescored"


def scored_answer(record: AnswerRecord, verdict: Verdict) -> ScoredAnswer:
    """A stored answer and its verdict, as the distributions and the compliance table count it."""
    return ScoredAnswer(
        condition=record.condition,
        item=record.item,
        persona=record.persona,
        replicate=record.replicate,
        answers=record.answers,
        outcome=verdict.outcome,
        code=verdict.code,
        defaulted=verdict.defaulted,
        dropped=verdict.dropped,
        option_probs=dict(verdict.probs) if verdict.probs else None,
        valid_mass=record.valid_mass,
        country=record.country,
    )


def _rescored_warnings(rescored: dict[str, list[int]]) -> list[Warning]:
    """Say when stored verdicts were decided by another definition than the spec's now."""
    warnings = []
    for condition, (count, changed) in rescored.items():
        warnings.append(
            Warning(
                kind="rescored",
                severity="medium" if changed else "info",
                message=f"{condition}: {count} stored answers were decided by another parser definition "
                "than the current one (the spec's parser or silspec changed since the run) and were "
                f"scored again from their stored text; {changed} verdicts differ from the stored ones",
                condition=condition,
            )
        )
    return warnings


# ------------------------------------------------------------------------------- benchmarks


def _benchmark_for(
    spec: Spec,
    condition: Condition,
    item: Item,
    country: str | None,
    override: str | None,
    warnings: list[Warning],
) -> BenchmarkShares | None:
    """Override, then the condition's, then the analysis default, then the item's default."""
    wanted = override or condition.benchmark or spec.analysis.benchmark
    chosen = item.benchmark(wanted, country)
    if chosen is None and wanted is not None:
        chosen = item.benchmark(None, country)
        if chosen is not None:
            warnings.append(
                Warning(
                    kind="benchmark_missing",
                    severity="medium",
                    message=f"{item.code} has no benchmark {wanted!r}; used {chosen.name!r} instead",
                    condition=condition.name,
                    item=item.id,
                )
            )
    if chosen is None:
        known = sorted({b.name for b in item.benchmarks})
        warnings.append(
            Warning(
                kind="benchmark_missing",
                severity="high",
                message=f"{_cell_label(item.code, country)}: no benchmark"
                f"{' ' + repr(wanted) if wanted else ''} (item has {known or 'none'}); not scored",
                condition=condition.name,
                item=item.id,
            )
        )
        return None
    if chosen.n is None:
        survey_n = spec.surveys[item.survey].n if item.survey in spec.surveys else None
        if survey_n is not None:
            from attrs import evolve

            chosen = evolve(chosen, n=survey_n)
    labels = tuple(
        (item.benchmark_labels or {}).get(c.code, c.label) for c in item.scale.substantive
    )
    return benchmark_shares(item.id, chosen, item.scale.codes, labels=labels)


def _cell_label(code: str, country: str | None) -> str:
    """How an item reads in messages and comparison keys: ``CONFINAN``, or ``Q46/JPN`` per country."""
    return f"{code}/{country}" if country else code


def _benchmark_info(shares: BenchmarkShares) -> BenchmarkInfo:
    return BenchmarkInfo(
        item=shares.item,
        name=shares.name,
        codes=shares.codes,
        values=tuple(round(p * shares.total, 10) for p in shares.proportions),
        unit=shares.unit,
        total=shares.total,
        proportions=shares.proportions,
        renormalised=shares.renormalised,
        n=shares.n,
        missing_share=shares.missing_share,
        country=shares.country,
        labels=shares.labels,
    )


# ---------------------------------------------------------------------------------- metrics


def _metric_specs(spec: Spec) -> tuple[tuple[str, dict[str, Any]], ...]:
    if spec.analysis.metrics:
        return tuple((m.name, dict(m.options)) for m in spec.analysis.metrics)
    return tuple((name, {}) for name in DEFAULT_METRICS)


def _item_metrics(
    spec: Spec,
    item: Item,
    dist: SimDistribution,
    shares: BenchmarkShares,
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
    *,
    intervals: bool = True,
) -> ItemMetrics:
    from silspec.analysis.metrics import compute_metric

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


# ----------------------------------------------------------------------------- several runs


def aggregate_runs(results: Sequence[Results], names: Sequence[str] | None = None) -> RunsAggregate:
    """Mean, SD and n of every pooled metric over runs of one spec with different seeds.

    The runs must be of the same study; runs sharing a seed are flagged (they are the same
    draws, not independent replicates), and so is a metric that some runs lack.
    """
    from silspec.analysis.metrics import HEADLINE_KEY

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
    for index, result in enumerate(results):
        for row in result.items:
            label = _cell_label(row.code, row.country)
            for key, value in row.values.items():
                slot = cells.setdefault((row.condition, label, row.variant, key), [math.nan] * len(results))
                slot[index] = value
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
        runs=tuple(RunInfo(run=name, seed=r.study.seed, n_answers=r.study.n_answers) for name, r in zip(names, results)),
        rows=tuple(rows),
        warnings=tuple(warnings),
    )


# ------------------------------------------------------------------------------- replicates


def _replicate_distributions(
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


def _with_replicate_spreads(
    spec: Spec,
    item: Item,
    row: ItemMetrics,
    replicates: dict[int, dict[str, SimDistribution]],
    variant: str,
    shares: BenchmarkShares,
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
) -> ItemMetrics:
    """``row`` plus each metric per replicate and its mean ± SD (``aggregate_seeds``)."""
    from attrs import evolve

    indices = tuple(sorted(replicates))
    per_replicate = [
        _item_metrics(spec, item, replicates[r][variant], shares, metric_specs, intervals=False).values
        for r in indices
    ]
    keys = list(dict.fromkeys(k for values in per_replicate for k in values))
    spreads = {
        key: replicate_spread([values.get(key, math.nan) for values in per_replicate]) for key in keys
    }
    return evolve(row, replicates=indices, across_replicates=spreads)


def replicate_spread(values: Sequence[float]) -> ReplicateSpread:
    """Mean and sample SD over the finite values (NaN / n = 0 when none is finite)."""
    from silspec.analysis.bootstrap import aggregate_seeds

    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    kept = tuple(float(v) if v is not None else math.nan for v in values)
    if not finite:
        return ReplicateSpread(mean=math.nan, sd=math.nan, n=0, values=kept)
    aggregate = aggregate_seeds(finite)
    return ReplicateSpread(mean=aggregate.mean, sd=aggregate.sd, n=aggregate.n, values=kept)


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
    from silspec.analysis.bootstrap import bootstrap_distribution_ci

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
        for key, statistic in _statistics(name, options, shares, dist.codes).items():
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
    import numpy as np

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
    from silspec.analysis.bootstrap import bootstrap_share_intervals
    from silspec.spec.model import Bootstrap

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


def _statistics(name: str, options: dict[str, Any], shares: BenchmarkShares, codes: Sequence[int]):
    """Vectorised statistics for the bootstrap: (m, k) proportions → m values per result key.

    JS comes from ``bootstrap.js_statistic``; W1, MAE and the variance gap are the row-wise
    forms of ``metrics.wasserstein_ordinal`` / ``normalised_mae`` / ``normalised_variance``
    (a test pins them to those); anything else is computed row by row (slow, opt-in).
    """
    import numpy as np

    from silspec.analysis.metrics import HEADLINE_KEY, compute_metric

    bench = np.asarray(shares.proportions, dtype=float)
    values = np.asarray(codes, dtype=float)
    span = float(values[-1] - values[0]) if values.size > 1 else 0.0

    if name == "js" and options.get("form", "divergence") == "divergence":
        from silspec.analysis.bootstrap import js_statistic
        from silspec.analysis.metrics import _option_base

        return {"js": js_statistic(bench, _option_base(options))}
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


# ------------------------------------------------------------------------------ comparisons


def _headline(name: str) -> str:
    from silspec.analysis.metrics import HEADLINE_KEY

    return HEADLINE_KEY.get(name, name)


def _comparisons(
    spec: Spec,
    item_rows: Sequence[ItemMetrics],
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
    warnings: list[Warning],
) -> list[ComparisonResult]:
    from silspec.analysis.metrics import lower_is_better

    options_by_name = dict(metric_specs)
    results: list[ComparisonResult] = []
    for comparison in spec.analysis.comparisons:
        without = tuple(w.rpartition(".")[2] for w in comparison.without)
        for name in comparison.metrics:
            key = _headline(name)
            direction = lower_is_better(name, options_by_name.get(name, {}))
            for variant in VARIANTS:
                a = _values_by_item(item_rows, comparison.a, key, variant, comparison.by)
                b = _values_by_item(item_rows, comparison.b, key, variant, comparison.by)
                shared = [k for k in a if k in b]
                if not shared:
                    if variant == "with_defaults":
                        warnings.append(
                            Warning(
                                kind="comparison_empty",
                                severity="high",
                                message=f"compare {comparison.b} vs {comparison.a} on {name}: no item has a value in both",
                            )
                        )
                    continue
                results.append(
                    compare(
                        {k: a[k] for k in shared},
                        {k: b[k] for k in shared},
                        a_name=comparison.a,
                        b_name=comparison.b,
                        metric=name,
                        key=key,
                        variant=variant,
                        lower_is_better=direction,
                        without=without,
                        replicate_values=_paired_replicates(
                            item_rows, comparison.a, comparison.b, key, variant, comparison.by, shared
                        ),
                    )
                )
    return results


def _paired_replicates(
    rows: Sequence[ItemMetrics], a: str, b: str, key: str, variant: str, by: str | None, items: Sequence[str]
) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    """Per item: the metric of a and of b on the replicate indices both have (finite in both)."""
    def by_replicate(condition: str) -> dict[str, dict[int, float]]:
        found: dict[str, dict[int, float]] = {}
        for row in rows:
            spread = row.across_replicates.get(key)
            if row.condition != condition or row.variant != variant or spread is None:
                continue
            label = _cell_label(row.code, row.country if by == "country" else None)
            found[label] = dict(zip(row.replicates, spread.values))
        return found

    of_a, of_b = by_replicate(a), by_replicate(b)
    paired = {}
    for item in items:
        if item not in of_a or item not in of_b:
            continue
        shared = [
            r for r in of_a[item]
            if r in of_b[item] and math.isfinite(of_a[item][r]) and math.isfinite(of_b[item][r])
        ]
        if len(shared) >= 2:
            paired[item] = (tuple(of_a[item][r] for r in shared), tuple(of_b[item][r] for r in shared))
    return paired


def _values_by_item(
    rows: Sequence[ItemMetrics], condition: str, key: str, variant: str, by: str | None
) -> dict[str, float]:
    values: dict[str, float] = {}
    for row in rows:
        if row.condition != condition or row.variant != variant or key not in row.values:
            continue
        if not math.isfinite(row.values[key]):
            continue
        label = _cell_label(row.code, row.country if by == "country" else None)
        values[label] = row.values[key]
    return values


def compare(
    a: dict[str, float],
    b: dict[str, float],
    *,
    a_name: str,
    b_name: str,
    metric: str,
    key: str,
    variant: str,
    lower_is_better: bool,
    without: Sequence[str] = (),
    replicate_values: dict[str, tuple[Sequence[float], Sequence[float]]] | None = None,
) -> ComparisonResult:
    """Per-item values and the improvement of b over a, via ``silspec.analysis.compare``.

    The average improvement is the improvement of the averages (the KGSS paper's 26.5 %),
    not the mean of per-item improvements. Items of ``without`` that were not compared are
    ignored here (the spec may name an item a condition lacks). ``replicate_values`` maps an
    item to its (a, b) metric values per replicate, paired by replicate index: with at least 2
    pairs the row gets a paired t-test across replicates.
    """
    from silspec.analysis.compare import (
        PAIRED_REPLICATE_TEST,
        compare_items,
        paired_replicate_test,
        paired_test,
    )

    without = tuple(w for w in without if w in a)
    numeric = compare_items(a, b, lower_is_better=lower_is_better, without=without)
    replicate_values = replicate_values or {}
    rows = []
    for row in numeric.rows:
        test = None
        if row.item in replicate_values:
            test = paired_replicate_test(*replicate_values[row.item])
        rows.append(
            ComparisonRow(
                item=row.item,
                a=row.a,
                b=row.b,
                improvement=row.improvement,
                # equal up to float noise (same distribution, summed in another order) is a tie
                better=None if math.isclose(row.a, row.b, rel_tol=1e-9, abs_tol=1e-12) else bool(row.b_better),
                replicates=test.n if test else 0,
                replicate_statistic=test.statistic if test else None,
                replicate_pvalue=test.pvalue if test else None,
            )
        )
    rows = tuple(rows)
    paired = None
    if len(a) >= 3:
        try:
            paired = paired_test(list(a.values()), [b[k] for k in a])
        except ValueError:
            paired = None
    return ComparisonResult(
        a=a_name,
        b=b_name,
        metric=metric,
        key=key,
        variant=variant,
        lower_is_better=lower_is_better,
        rows=rows,
        n_improved=sum(1 for row in rows if row.better),
        mean_a=numeric.mean_a,
        mean_b=numeric.mean_b,
        improvement_of_means=numeric.improvement_of_means,
        without=without,
        mean_a_without=numeric.mean_a_without if without else None,
        mean_b_without=numeric.mean_b_without if without else None,
        improvement_without=numeric.improvement_of_means_without if without else None,
        paired_statistic=paired.statistic if paired else None,
        paired_pvalue=paired.pvalue if paired else None,
        paired_test=paired.method if paired else None,
        replicate_test=PAIRED_REPLICATE_TEST if any(row.replicates for row in rows) else None,
    )


# ------------------------------------------------------------------------------ calibration


def _calibrations(
    spec: Spec,
    item_rows: Sequence[ItemMetrics],
    benchmarks: dict,
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
    warnings: list[Warning],
) -> list[CalibrationResult]:
    if not spec.analysis.calibrations:
        return []
    from silspec.analysis import calibration as numeric

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
            if len(rows) < 2:
                warnings.append(
                    Warning(
                        kind="calibration_skipped",
                        severity="medium",
                        message=f"calibrate {use.condition}: leave-one-out needs at least 2 items",
                        condition=use.condition,
                    )
                )
                continue
            temperatures = numeric.fit_temperature_loo(
                [r.probs for r in rows],
                [r.benchmark_probs for r in rows],
                [r.codes for r in rows],
                method=method,
                target=settings.target,
            )
        else:
            temperatures = [settings.temperature if settings.temperature is not None else 1.0] * len(rows)
        items = []
        for row, temperature in zip(rows, temperatures):
            done = numeric.calibrate(row.probs, row.codes, float(temperature), method)
            after_probs = tuple(float(x) for x in done.after)
            before = _proportion_metrics(row.probs, row, metric_specs)
            after = _proportion_metrics(after_probs, row, metric_specs)
            beta = float(done.beta) if done.beta is not None and math.isfinite(done.beta) else None
            items.append(
                CalibratedItem(
                    item=row.code,
                    temperature=float(temperature),
                    beta=beta if method == "mean_preserving_tilt" else None,
                    probs_before=tuple(row.probs),
                    probs_after=after_probs,
                    before=before,
                    after=after,
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
                mean_before={k: sum(i.before[k] for i in items) / len(items) for k in keys},
                mean_after={k: sum(i.after[k] for i in items) / len(items) for k in keys},
            )
        )
    return results


def _proportion_metrics(
    probs: Sequence[float], row: ItemMetrics, metric_specs: Sequence[tuple[str, dict[str, Any]]]
) -> dict[str, float]:
    """The metrics computed from proportions alone: the ones calibration can move (before and after)."""
    from silspec.analysis.metrics import compute_metric

    values: dict[str, float] = {}
    for name, options in metric_specs:
        if name in PROPORTION_METRICS:
            values.update(compute_metric(name, probs, None, row.benchmark_probs, codes=row.codes, options=options))
    return values


# --------------------------------------------------------------------------------- warnings


def _default_warnings(spec: Spec, compliance: Sequence[Compliance]) -> list[Warning]:
    """Loud: a default rate above 10 % means the metric partly measures the parser's policy."""
    warnings = []
    for row in compliance:
        if row.n == 0 or row.default_share <= DEFAULT_RATE_WARNING:
            continue
        item = spec.item(row.item)
        cause = (
            "failed requests (errors, no text)"
            if row.defaulted_from_error == row.defaulted
            else f"{row.defaulted_from_error} failed requests and {row.defaulted - row.defaulted_from_error} unparseable answers"
        )
        code = f"code {row.default_code} (midpoint)" if row.default_code is not None else "a default"
        warnings.append(
            Warning(
                kind="defaults",
                severity="high",
                message=f"{row.condition} {item.code}: {row.default_share:.0%} of answers "
                f"({row.defaulted}/{row.n}) are {code} filled in for {cause}; "
                "'with defaults' metrics include them, 'valid only' do not",
                condition=row.condition,
                item=row.item,
            )
        )
    return warnings


def _invalid_threshold(spec: Spec) -> float:
    """``report { invalid_warning = x }`` when given (a share in (0, 1)), else ``INVALID_WARNING``."""
    value = (spec.analysis.report or {}).get("invalid_warning")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1:
        return float(value)
    return INVALID_WARNING


def _invalid_warnings(spec: Spec, compliance: Sequence[Compliance], rows: Sequence[ItemMetrics]) -> list[Warning]:
    """Loud: a model that often did not answer (unparseable text or a refusal) in a cell.

    Whatever the parser's policy made of those answers (a midpoint, a drop), the metric no
    longer describes what the model said; the warning gives the count and the metric's n.
    """
    threshold = _invalid_threshold(spec)
    metric_n = {(r.condition, r.item, r.country): r.n for r in rows if r.variant == "with_defaults"}
    warnings = []
    for row in compliance:
        if row.n == 0 or spec.conditions.get(row.condition) is None:
            continue
        if spec.conditions[row.condition].answers == "option_probs":
            continue
        failed = row.invalid + row.refused
        share = failed / row.n
        if share <= threshold:
            continue
        item = spec.item(row.item)
        parser = spec.parsers.get(spec.conditions[row.condition].parser)
        policy = parser.on_invalid if parser else "none"
        n = metric_n.get((row.condition, row.item, row.country))
        warnings.append(
            Warning(
                kind="invalid_answers",
                severity="high",
                message=f"{row.condition} {_cell_label(item.code, row.country)}: {share:.0%} of answers "
                f"({failed}/{row.n}: {row.invalid} invalid, {row.refused} refused) are not an answer "
                f"(> {threshold:.0%}; on_invalid={policy}); the metrics rest on n = "
                f"{'–' if n is None else n}",
                condition=row.condition,
                item=row.item,
            )
        )
    return warnings


def _few_answers_warnings(rows: Sequence[ItemMetrics]) -> list[Warning]:
    """One warning per condition naming the items whose metrics rest on < 30 valid answers."""
    few: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row.variant != "valid_only" or not row.probs or row.n >= FEW_VALID_ANSWERS:
            continue
        few[row.condition].append(f"{_cell_label(row.code, row.country)} (n = {row.n})")
    return [
        Warning(
            kind="few_answers",
            severity="high",
            message=f"{condition}: metrics of {', '.join(items)} rest on fewer than "
            f"{FEW_VALID_ANSWERS} valid answers; their confidence intervals are wide and "
            "small differences between conditions mean little",
            condition=condition,
        )
        for condition, items in few.items()
    ]


def _valid_mass_warnings(spec: Spec, compliance: Sequence[Compliance]) -> list[Warning]:
    """option_probs: a distribution renormalised from less than half the mass is mostly guesswork."""
    warnings = []
    for row in compliance:
        if row.mean_valid_mass is None or row.mean_valid_mass >= LOW_VALID_MASS:
            continue
        item = spec.item(row.item)
        warnings.append(
            Warning(
                kind="low_valid_mass",
                severity="high",
                message=f"{row.condition} {_cell_label(item.code, row.country)}: "
                f"mean probability on the valid answer tokens is {row.mean_valid_mass:.2f} (< {LOW_VALID_MASS}); "
                "the option distribution is renormalised from a minority of the model's mass",
                condition=row.condition,
                item=row.item,
            )
        )
    return warnings


def _benchmark_warnings(benchmarks: Iterable[BenchmarkShares]) -> list[Warning]:
    warnings = []
    for b in benchmarks:
        if not b.renormalised:
            continue
        where = f"{_cell_label(b.item.rpartition('.')[2], b.country)} benchmark {b.name!r}"
        if b.total_percent > 100.0:
            warnings.append(
                Warning(
                    kind="benchmark_renormalised",
                    severity="high",
                    message=f"{where} sums to {b.total_percent:.1f} % (> 100): renormalised to 100 % "
                    "over the substantive codes; check the source numbers",
                    item=b.item,
                )
            )
        else:
            missing = (
                f"declared non-substantive share {b.missing_share:g}{' %' if b.unit == 'percent' else ''}"
                if b.missing_share is not None
                else f"{b.dropped_percent:.1f} % not on substantive codes"
            )
            warnings.append(
                Warning(
                    kind="benchmark_renormalised",
                    severity="info",
                    message=f"{where} sums to {b.total_percent:.1f} % ({missing}): dropped, "
                    "the substantive codes renormalised to 100 %",
                    item=b.item,
                )
            )
    return warnings


def _degenerate_warnings(rows: Sequence[ItemMetrics]) -> list[Warning]:
    warnings = []
    for row in rows:
        if row.variant != "with_defaults" or not row.probs:
            continue
        top = max(row.probs)
        if top >= DEGENERATE_SHARE:
            code = row.codes[row.probs.index(top)]
            warnings.append(
                Warning(
                    kind="degenerate",
                    severity="high",
                    message=f"{row.condition} {_cell_label(row.code, row.country)}: "
                    f"{top:.0%} of the simulated mass on code {code} (n = {row.n}): the simulation "
                    "has almost no spread, so its metrics measure a point mass",
                    condition=row.condition,
                    item=row.item,
                )
            )
    return warnings


def _provider_warnings(records: Sequence[AnswerRecord]) -> list[Warning]:
    models: dict[str, set[str]] = defaultdict(set)
    prints: dict[str, set[str]] = defaultdict(set)
    for record in records:
        if record.provider_model:
            models[record.condition].add(record.provider_model)
        if record.system_fingerprint:
            prints[record.condition].add(record.system_fingerprint)
    warnings = []
    for condition, seen in models.items():
        if len(seen) > 1:
            warnings.append(
                Warning(
                    kind="provider_model_changed",
                    severity="high",
                    message=f"{condition}: the provider reported {len(seen)} different models "
                    f"within the run: {', '.join(sorted(seen))}",
                    condition=condition,
                )
            )
    for condition, seen in prints.items():
        if len(seen) > 1:
            warnings.append(
                Warning(
                    kind="system_fingerprint_changed",
                    severity="info",
                    message=f"{condition}: {len(seen)} different system fingerprints within the run",
                    condition=condition,
                )
            )
    return warnings


# ----------------------------------------------------------------------------------- header


def _header(
    spec: Spec,
    records: Sequence[AnswerRecord],
    benchmark: str | None,
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
    n_superseded: int = 0,
) -> StudyHeader:
    from silspec import __version__

    provider: dict[str, dict[str, None]] = defaultdict(dict)
    for record in records:
        if record.provider_model:
            provider[record.condition].setdefault(record.provider_model, None)
    conditions = []
    for condition in spec.conditions.values():
        model = spec.models.get(condition.model)
        parser = spec.parsers.get(condition.parser)
        conditions.append(
            ConditionInfo(
                name=condition.name,
                model=condition.model,
                model_id=model.model_id if model else "",
                answers=condition.answers,
                population=condition.population,
                parser=condition.parser,
                on_invalid=parser.on_invalid if parser else "none",
                on_error=parser.on_error if parser else "none",
                benchmark=condition.benchmark,
                provider_models=tuple(provider.get(condition.name, ())),
            )
        )
    settings = spec.analysis.bootstrap
    return StudyHeader(
        name=spec.study.name,
        title=spec.study.title,
        spec_path=spec.path,
        benchmark=benchmark,
        metrics=tuple(name for name, _ in metric_specs),
        metric_options={name: dict(options) for name, options in metric_specs},
        bootstrap=(
            {"resamples": settings.resamples, "level": settings.level, "seed": settings.seed}
            if settings
            else None
        ),
        conditions=tuple(conditions),
        n_answers=len(records),
        n_superseded=n_superseded,
        silspec_version=__version__,
        seed=spec.study.seed,
    )


# One warning per cell is right for six items; for a country-level design (65 countries × 30
# items) the same finding 600 times buries everything else. Past this many of one kind in one
# condition, they become one warning that counts them and names the worst few.
MAX_REPEATED_WARNINGS = 6


def _collapse_repeats(warnings: list[Warning]) -> list[Warning]:
    groups: dict[tuple[str, str | None], list[Warning]] = {}
    for w in warnings:
        groups.setdefault((w.kind, w.condition), []).append(w)
    out: list[Warning] = []
    emitted: set[tuple[str, str | None]] = set()
    for w in warnings:
        key = (w.kind, w.condition)
        group = groups[key]
        if len(group) <= MAX_REPEATED_WARNINGS:
            out.append(w)
            continue
        if key in emitted:
            continue
        emitted.add(key)
        examples = "; ".join(g.message for g in group[:3])
        out.append(Warning(
            kind=w.kind, severity=w.severity, condition=w.condition,
            message=(f"{w.condition or 'all conditions'}: {len(group)} cells raise `{w.kind}` "
                     f"(the compliance and per-item tables show each), e.g. {examples}"),
        ))
    return out

