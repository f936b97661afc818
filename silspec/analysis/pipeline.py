"""``analyse``: a checked spec and stored answers in, ``Results`` out (the analysis driver).

The order is the report's order of trust: read every stored answer's verdict (``scoring``:
scored again, never re-asked, only where the spec's parser definition changed since the run),
count compliance, build the simulated distributions (with defaults and on valid answers only),
normalise the benchmarks explicitly (``benchmarks``), compute metrics and bootstrap intervals
(``item_metrics``, ``replicates``), compare conditions (``compare``), calibrate
(``calibration``), and collect the warnings a reader must not miss (``report_warnings``).

The stored answers are read once, as a stream (``analyse_stream``): each verdict goes into its
cell's columns (``scoring.CellAnswers``, ~30 bytes an answer) and what the header and warnings
need (answer counts, provider models) is counted on the way; the tables are then built one cell
at a time. A million stored answers never sit in memory as records or objects.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Collection, Iterable, Iterator, Sequence

import attrs
from attrs import evolve, frozen

from silspec import __version__
from silspec.analysis.benchmarks import benchmark_for, benchmark_info
from silspec.analysis.calibration import calibrate_conditions
from silspec.analysis.compare import compare_conditions
from silspec.analysis.compliance import Compliance, compliance_table
from silspec.analysis.diversity import country_diversity
from silspec.analysis.country_tests import country_tables
from silspec.analysis.curves import spec_curves
from silspec.analysis.distributions import (
    VARIANTS, BenchmarkShares, ScoredAnswer, SimDistribution, Variant, build_distributions,
)
from silspec.analysis.item_metrics import item_metrics, spec_metrics
from silspec.analysis.joints import all_joint_rows, joint_items
from silspec.analysis.replicate_runs import ReplicateRuns
from silspec.analysis.replicates import replicate_distributions, with_replicate_spreads
from silspec.analysis.report_warnings import loud_first, reader_warnings, usage_warnings
from silspec.analysis.results import ConditionInfo, ItemMetrics, Results, StudyHeader, Warning
from silspec.analysis.scoring import CellAnswers, CellKey, Seen, StoredEntry, row_of, score_rows
from silspec.analysis.shapley import ablation_shapley
from silspec.analysis.subgroups import all_subgroup_rows, subgroup_items
from silspec.run.records import AnswerRecord
from silspec.spec.model import Spec


class UnknownBenchmarkError(ValueError):
    """``benchmark=`` names a benchmark that no item of the spec has (a usage error)."""


@frozen
class PlanCounts:
    """The current plan's size and the stored answers of superseded plans left out of it,
    per condition in storage order (read after the stream of current answers is consumed)."""

    n_plan: int
    superseded: tuple[tuple[str, int], ...] = ()


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
    entries: Iterator[StoredEntry] = ((row_of(record), record) for record in answers)
    if plan_ids is None:
        return analyse_stream(spec, entries, benchmark=benchmark)
    ids = plan_ids if isinstance(plan_ids, (set, frozenset)) else frozenset(plan_ids)
    superseded: dict[str, int] = defaultdict(int)

    def current() -> Iterator[StoredEntry]:
        for entry in entries:
            if entry[0].request_id in ids:
                yield entry
            else:
                superseded[entry[0].condition] += 1

    return analyse_stream(spec, current(), benchmark=benchmark,
                          plan_counts=lambda: PlanCounts(len(ids), tuple(superseded.items())))


def analyse_stream(
    spec: Spec,
    entries: Iterable[StoredEntry],
    *,
    benchmark: str | None = None,
    plan_counts: Callable[[], PlanCounts] | None = None,
    fetch: Callable[[str], AnswerRecord | None] | None = None,
) -> Results:
    """``analyse`` over a stream of the current plan's stored answers, read once.

    ``plan_counts`` (called once the stream is consumed) gives the plan's size and the
    superseded answers left out before the stream; ``fetch`` reads a whole record by request id
    for an answer whose verdict must be scored again (``scoring.score_rows``).
    """
    check_benchmark_name(spec, benchmark)
    warnings: list[Warning] = []
    cells, seen = score_rows(spec, entries, warnings, fetch)
    cells = dict(sorted(cells.items(), key=lambda kv: spec_order(spec, kv[0])))
    counts = plan_counts() if plan_counts is not None else None
    n_superseded = sum(n for _, n in counts.superseded) if counts else 0
    plan_warnings = _plan_warnings(seen.n_answers, counts) if counts else []
    codes_by_item = {item.id: item.scale.codes for item in spec.all_items()}
    kept_items = subgroup_items(spec) | joint_items(spec)
    runs = ReplicateRuns.of(spec)
    compliance, distributions, by_replicate, kept = _tables(cells, codes_by_item, kept_items, runs)
    metric_specs = spec_metrics(spec)

    benchmarks: dict[tuple[str, str, str | None], BenchmarkShares] = {}
    shares_of: dict[CellKey, BenchmarkShares] = {}
    cell_benchmarks: dict[CellKey, BenchmarkShares] = {}
    item_rows: list[ItemMetrics] = []
    compliance_of = {(c.condition, c.item, c.country): c for c in compliance}
    for cell, variants in distributions.items():
        condition_name, item_id, country = cell
        item = spec.item(item_id)
        shares = benchmark_for(spec, spec.conditions[condition_name], item, country, benchmark, warnings)
        if shares is None:
            item_rows += [unscored_row(variants[v], item, "no benchmark to score against (see the warnings)")
                          for v in VARIANTS]
            continue
        shares_of[cell] = shares
        benchmarks.setdefault((item_id, shares.name, country), shares)
        cell_benchmarks[cell] = shares
        replicates = by_replicate.get(cell, {})
        for variant in VARIANTS:
            row = item_metrics(spec, item, variants[variant], shares, metric_specs)
            if len(replicates) >= 2:
                row = with_replicate_spreads(spec, item, row, replicates, variant, shares, metric_specs)
            if row.probs is None:
                row = evolve(row, reason=_no_answers_reason(variant, compliance_of.get(cell)))
            item_rows.append(row)
    item_rows += _unasked_rows(spec, distributions, codes_by_item, benchmark)

    subgroups = all_subgroup_rows(spec, kept, metric_specs, warnings)
    joints = all_joint_rows(spec, kept, metric_specs)
    comparisons = compare_conditions(spec, item_rows, metric_specs, warnings)
    calibrations = calibrate_conditions(spec, item_rows, benchmarks, metric_specs, warnings)
    usage = seen.usage.rows(spec)
    header = _header(spec, seen, benchmark, metric_specs, n_superseded)
    replicate_runs = runs.aggregate(spec, shares_of, metric_specs, header) if runs is not None else None
    if replicate_runs is not None:
        warnings += [attrs.evolve(w, message=f"replicate runs: {w.message}") for w in replicate_runs.warnings]
    tables = country_tables(spec, item_rows, metric_specs, warnings)
    curves = spec_curves(spec, distributions, cell_benchmarks, metric_specs, warnings)
    shapley = ablation_shapley(spec, item_rows, metric_specs, warnings)
    warnings = plan_warnings + reader_warnings(spec, compliance, item_rows, benchmarks.values(), seen) + warnings
    warnings += usage_warnings(usage)
    # loud ones first in every report format
    warnings = loud_first(warnings)
    return Results(
        study=header,
        compliance=tuple(compliance),
        benchmarks=tuple(benchmark_info(b) for b in benchmarks.values()),
        items=tuple(item_rows),
        comparisons=tuple(comparisons),
        calibrations=tuple(calibrations),
        warnings=tuple(warnings),
        usage=tuple(usage),
        subgroups=tuple(subgroups),
        joints=tuple(joints),
        replicate_runs=replicate_runs,
        country_tables=tuple(tables),
        curves=tuple(curves),
        shapley=tuple(shapley),
        diversity=country_diversity(item_rows) if (spec.analysis.report or {}).get("diversity") else (),
    )


def spec_order(spec: Spec, cell: CellKey) -> tuple:
    """Where a condition x item x country cell stands in the spec (conditions, then each one's
    items and countries as declared): every table's rows follow the spec, not the order answers
    happened to be stored in (a sharded or resumed run stores them in another order)."""
    condition_name, item_id, country = cell
    names = list(spec.conditions)
    condition = spec.conditions.get(condition_name)
    rank = names.index(condition_name) if condition is not None else len(names)
    items = condition.items if condition is not None else ()
    countries = condition.countries if condition is not None else ()
    return (rank, condition_name,
            items.index(item_id) if item_id in items else len(items), item_id,
            countries.index(country) if country in countries else len(countries), country or "")


def _tables(cells: dict[CellKey, CellAnswers], codes_by_item: dict[str, tuple[int, ...]],
            kept_items: Collection[str] = frozenset(), runs: ReplicateRuns | None = None) -> tuple[
    list[Compliance], dict[CellKey, dict[Variant, SimDistribution]], dict[CellKey, dict[int, dict[str, SimDistribution]]],
    dict[CellKey, list[ScoredAnswer]],
]:
    """Compliance rows, distributions and per-replicate distributions, one cell at a time: only
    one cell's answers are ever objects, and each cell's columns go once its tables are built.
    The answers of ``kept_items`` (split by subgroup or crossed in a joint table) are kept, and
    ``runs`` (``replicates = N``) takes each cell's answers split by replicate run."""
    compliance: list[Compliance] = []
    distributions: dict[CellKey, dict[Variant, SimDistribution]] = {}
    by_replicate: dict[CellKey, dict[int, dict[str, SimDistribution]]] = {}
    kept: dict[CellKey, list[ScoredAnswer]] = {}
    for key in list(cells):
        answers = list(cells.pop(key))
        compliance.extend(compliance_table(answers))
        distributions.update(build_distributions(answers, codes_by_item))
        by_replicate.update(replicate_distributions(answers, codes_by_item))
        if key[1] in kept_items:
            kept[key] = answers
        if runs is not None:
            runs.add(key, answers, codes_by_item)
    return compliance, distributions, by_replicate, kept


def unscored_row(dist: SimDistribution, item: Any, reason: str) -> ItemMetrics:
    """A condition x item row without metrics, kept with its reason (never a missing row)."""
    return ItemMetrics(condition=dist.condition, item=item.id, code=item.code, variant=dist.variant,
                       answers=dist.answers, n=dist.n, codes=dist.codes, counts=dist.counts, probs=None,
                       benchmark="", benchmark_probs=(), country=dist.country, reason=reason)


def _no_answers_reason(variant: str, compliance: Compliance | None) -> str:
    """Why a cell's distribution is empty, with its stored outcomes."""
    if compliance is None or compliance.n == 0:
        return "no answers counted"
    what = "no valid answers" if variant == "valid_only" else "no answers counted (none coded, none filled in)"
    return (f"{what}: of {compliance.n} stored, {compliance.answered} answered, {compliance.invalid} invalid, "
            f"{compliance.refused} refused, {compliance.error} errors, {compliance.dropped} dropped")


def _unasked_rows(spec: Spec, distributions: dict, codes_by_item: dict[str, tuple[int, ...]],
                  benchmark: str | None) -> list[ItemMetrics]:
    """Rows for the condition x item cells the spec plans but the store has no answer for."""
    have = {(condition, item) for condition, item, _ in distributions}
    rows = []
    for name, condition in spec.conditions.items():
        for item_id in condition.items:
            if (name, item_id) in have:
                continue
            item = spec.item(item_id)
            chosen = item.benchmark(benchmark or condition.benchmark or spec.analysis.benchmark, None) or item.benchmark(None, None)
            codes = codes_by_item[item_id]
            for variant in VARIANTS:
                rows.append(ItemMetrics(
                    condition=name, item=item_id, code=item.code, variant=variant, answers=condition.answers, n=0,
                    codes=codes, counts=(0.0,) * len(codes), probs=None, benchmark=chosen.name if chosen else "",
                    benchmark_probs=(), reason="no stored answers (planned, not asked or not stored yet)"))
    return rows


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


def _plan_warnings(n_current: int, counts: PlanCounts) -> list[Warning]:
    """Loud: answers left out because a later run changed the spec or a ``--set``."""
    warnings = []
    n_superseded = sum(n for _, n in counts.superseded)
    if n_superseded:
        where = ", ".join(f"{name} {count}" for name, count in counts.superseded)
        total = n_current + n_superseded
        warnings.append(
            Warning(
                kind="superseded_answers",
                severity="high",
                message=f"{n_superseded} of {total} stored answers belong to a superseded plan "
                f"(an earlier run into this directory with another spec or --set) and were left out "
                f"({where}); scored: the {n_current} answers of the current plan. "
                "Use --fresh or another --out to keep runs apart",
            )
        )
    missing = counts.n_plan - n_current
    if missing > 0:
        warnings.append(
            Warning(
                kind="plan_incomplete",
                severity="medium",
                message=f"{missing} of the current plan's {counts.n_plan} requests have no stored "
                "answer yet (an interrupted run, --limit or --condition); run again to complete them",
            )
        )
    return warnings



# ----------------------------------------------------------------------------------- header


def _header(
    spec: Spec,
    seen: Seen,
    benchmark: str | None,
    metric_specs: Sequence[tuple[str, dict[str, Any]]],
    n_superseded: int = 0,
) -> StudyHeader:
    provider = seen.provider_models
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
        n_answers=seen.n_answers,
        n_superseded=n_superseded,
        silspec_version=__version__,
        seed=spec.study.seed,
    )
