"""The analysis result: one plain, frozen object the report writes and JSON carries.

Everything a report shows is here, already computed, so the report writers only format. ``to_dict`` /
``from_dict`` go through cattrs; NaN and infinity become ``null`` in JSON (strict JSON has
neither). The JSON schema is documented in ``docs/report.md``; bump ``SCHEMA_VERSION`` on any
change a reader could notice.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from attrs import field, frozen

from silspec.analysis.compliance import Compliance
from silspec.analysis.usage import Usage

SCHEMA_VERSION = 7  # 7: runs[].usage of the report over runs (each run's tokens and cost); 6: usage (tokens and cost per condition, the price's source), items[].reason, subgroup rows (`subgroups`), joint tables of item pairs (`joints`), the replicate runs' aggregate (`replicate_runs`), per-country Wilcoxon tests of `compare ... by country` (by_country), country tables (the value-persona paper's Figure 11), metric-vs-personas curves (its Figure 3), Shapley values of descriptor items (its Figure 7), country diversity (`diversity`, the first-token paper); 5: across-runs rows carry the across-seed percentile bootstrap CI (seed_ci) and the runs' mean persona interval (persona_ci), replicate spreads their seed_ci; 4: compliance counts the stored outcomes (answered, invalid, refused, error), comparison coverage (n_cells, uncovered, unit), calibration country and grid edge; 3: share_intervals, n_superseded; 2: replicate spreads, seed, multi-run aggregates

Severity = Literal["high", "medium", "info"]


@frozen
class ConditionInfo:
    name: str
    model: str
    model_id: str
    answers: str
    population: str | None = None
    parser: str | None = None
    on_invalid: str = "none"
    on_error: str = "none"
    benchmark: str | None = None  # benchmark name asked for this condition (None = item default)
    provider_models: tuple[str, ...] = ()  # what the provider said it ran, distinct values


@frozen
class StudyHeader:
    name: str
    title: str = ""
    spec_path: str = ""
    benchmark: str | None = None  # --benchmark override, if any
    metrics: tuple[str, ...] = ()  # metric names, in report order
    metric_options: dict[str, dict[str, Any]] = field(factory=dict)
    bootstrap: dict[str, Any] | None = None  # resamples, level, seed
    conditions: tuple[ConditionInfo, ...] = ()
    n_answers: int = 0  # answers scored (the current plan's, when the run directory says which)
    n_superseded: int = 0  # stored answers of a superseded plan, left out
    silspec_version: str = ""
    seed: int | None = None  # study.seed of the run (runs with different seeds aggregate)


@frozen
class BenchmarkInfo:
    """The benchmark an item was scored against, and how it was normalised."""

    item: str
    name: str
    codes: tuple[int, ...]
    values: tuple[float, ...]  # as written
    unit: str
    total: float  # sum as written (unit as written)
    proportions: tuple[float, ...]  # what the metrics used
    renormalised: bool
    n: int | None = None
    missing_share: float | None = None
    country: str | None = None
    labels: tuple[str, ...] = ()


@frozen
class Interval:
    estimate: float
    low: float
    high: float
    level: float
    resamples: int


@frozen
class ReplicateSpread:
    """One metric over replicates (or runs): mean and sample SD of the finite values."""

    mean: float
    sd: float  # n - 1 in the denominator; NaN with fewer than 2 values
    n: int  # values that were finite
    values: tuple[float, ...] = ()  # per replicate in ``ItemMetrics.replicates`` order (NaN: not computed)
    # samples > 1: the across-seed percentile bootstrap of the replicate values (each replicate is
    # a full simulated survey under its own seed); across runs it is ``AcrossRunsRow.seed_ci``
    seed_ci: Interval | None = None


@frozen
class ItemMetrics:
    """Metrics of one condition × item (× country) for one variant."""

    condition: str
    item: str  # qualified "survey.ITEM"
    code: str  # "ITEM"
    variant: str  # with_defaults | valid_only
    answers: str
    n: int  # answers that contributed
    codes: tuple[int, ...]
    counts: tuple[float, ...]
    probs: tuple[float, ...] | None
    benchmark: str
    benchmark_probs: tuple[float, ...]
    values: dict[str, float] = field(factory=dict)  # compute_metric keys: js, ks_pvalue, ...
    intervals: dict[str, Interval] = field(factory=dict)  # keyed like ``values``
    country: str | None = None
    # samples > 1: each metric per replicate (replicate r = every persona's r-th answer)
    replicates: tuple[int, ...] = ()  # replicate indices, when at least 2
    across_replicates: dict[str, ReplicateSpread] = field(factory=dict)  # keyed like ``values``
    # bootstrap percentile interval of each code's simulated share over personas, aligned with
    # ``codes`` (the error bars of the HTML plots); () when there are no personas to resample
    share_intervals: tuple[tuple[float, float], ...] = ()
    # why ``values`` is empty (no valid answers, no stored answers, no benchmark): the row is kept
    # so that every planned condition x item is in every export, never a missing row
    reason: str | None = None


@frozen
class ComparisonRow:
    item: str
    a: float
    b: float
    improvement: float  # (a - b) / a for lower-is-better metrics
    better: bool | None  # b better than a; None when equal or undefined
    replicates: int = 0  # replicate pairs behind the paired test (0: no test)
    replicate_statistic: float | None = None
    replicate_pvalue: float | None = None


@frozen
class UncoveredCell:
    """An item (or item/country) the comparison is about that one side (or both) lacks: shown as
    n/a with the reason and left out of every average."""

    item: str
    a: float | None  # the value a side has, None where it has none
    b: float | None
    reason: str


@frozen
class ComparisonResult:
    a: str
    b: str
    metric: str  # metric name
    key: str  # value key (headline)
    variant: str
    lower_is_better: bool
    rows: tuple[ComparisonRow, ...]
    n_improved: int
    mean_a: float
    mean_b: float
    improvement_of_means: float
    without: tuple[str, ...] = ()
    mean_a_without: float | None = None
    mean_b_without: float | None = None
    improvement_without: float | None = None
    paired_statistic: float | None = None
    paired_pvalue: float | None = None
    paired_test: str | None = None
    replicate_test: str | None = None  # per-item test across replicates, when both have k >= 2
    # Coverage: the cells the two conditions were asked about (the union of their designs) and
    # those left out of the averages; ``len(rows)`` of ``n_cells`` are compared. 0 = not recorded.
    n_cells: int = 0
    uncovered: tuple[UncoveredCell, ...] = ()
    unit: str = "items"  # what a cell is: "items" or "item-country pairs" (by country)
    # `by country`: each country's mean of a and b over its questions and the Wilcoxon
    # signed-rank test of a against b across those questions (``country_test`` names it)
    by_country: tuple["CountryComparison", ...] = ()
    country_test: str | None = None

    @property
    def covers_all(self) -> bool:
        return not self.uncovered


@frozen
class WilcoxonTest:
    """A paired Wilcoxon signed-rank test (``analysis.country_tests.wilcoxon_signed_rank``)."""

    statistic: float
    pvalue: float
    n: int  # pairs given
    n_zero: int  # pairs with equal values: dropped before ranking (zero_method = "wilcox")


@frozen
class CountryComparison:
    """One country of a ``compare ... by country``: the two means over the questions both
    conditions have there, and the paired test across those questions."""

    country: str
    n: int  # questions compared in this country
    mean_a: float
    mean_b: float
    test: WilcoxonTest | None = None  # None with fewer than 2 questions


@frozen
class PairTest:
    """The best condition of a country column against another one."""

    best: str
    other: str
    test: WilcoxonTest | None


@frozen
class CountryColumn:
    country: str
    means: tuple[float, ...]  # aligned with ``CountryTable.conditions``: mean over ``n`` questions
    n: int  # questions every condition of the table has a value for in this country
    n_cells: int  # questions any condition has a value for here (n < n_cells: some left out)
    best: str | None  # the condition with the best mean (None: no questions, or a tie)
    tests: tuple[PairTest, ...] = ()  # best vs each other condition, across the n questions
    significant: bool = False  # best beats every other condition with p < alpha


@frozen
class CountryTable:
    """One metric's mean per condition and country (the value-persona paper's Figure 11):
    the conditions of every ``compare ... by country`` line on that metric."""

    metric: str
    key: str
    variant: str
    lower_is_better: bool
    conditions: tuple[str, ...]
    countries: tuple[CountryColumn, ...]
    overall: tuple[float, ...]  # mean over every (question, country) pair all conditions have
    n_overall: int
    test: str  # how the tests were done, named in the report
    alpha: float = 0.05


@frozen
class CurvePoint:
    size: int  # personas per country in each draw
    mean: float  # the metric averaged over draws
    low: float  # percentile band over draws (``level``)
    high: float
    draws: int  # draws actually made (1 when ``size`` is every persona: no randomness left)


@frozen
class CurveSeries:
    country: str | None  # None: the average over countries
    points: tuple[CurvePoint, ...]
    available: int  # personas the smallest country had (the largest size drawn)


@frozen
class PersonaCurve:
    """A metric against the number of personas (the value-persona paper's Figure 3), from a
    run's stored answers: personas drawn without replacement, ``draws`` times per size."""

    condition: str
    metric: str
    key: str
    variant: str
    sizes: tuple[int, ...]  # the sizes drawn (those above the personas available are dropped)
    dropped_sizes: tuple[int, ...]  # declared sizes larger than the personas available
    draws: int
    level: float
    seed: int
    series: tuple[CurveSeries, ...]
    n_items: int  # questions averaged per country


@frozen
class ShapleyRow:
    country: str | None  # None: the average over countries
    values: tuple[float, ...]  # aligned with ``ShapleyResult.items``; NaN when not computable
    full: float  # v(all items)
    empty: float  # v(no item)


@frozen
class ShapleyResult:
    """Each descriptor item's Shapley value of a metric (the value-persona paper's Figure 7):
    v(S) = the metric of the ablation condition whose persona text uses only the items of S,
    averaged over questions (per country). Negative = including the item lowers the error."""

    ablation: str
    condition: str
    metric: str
    key: str
    variant: str
    items: tuple[str, ...]
    method: str  # "exact" or "permutations"
    n_subsets: int  # subsets evaluated
    permutations: int = 0
    seed: int | None = None
    rows: tuple[ShapleyRow, ...] = ()
    missing: tuple[str, ...] = ()  # subset conditions without a value (not run yet): no values then
    conditions: tuple[str, ...] = ()  # the generated subset conditions (the base condition left out)


@frozen
class CalibratedItem:
    item: str
    temperature: float
    beta: float | None
    probs_before: tuple[float, ...]
    probs_after: tuple[float, ...]
    before: dict[str, float]
    after: dict[str, float]
    country: str | None = None
    grid_edge: str | None = None  # "low" / "high": a fitted T at the end of its grid (a bound)


@frozen
class CalibrationResult:
    condition: str
    calibration: str
    method: str
    fit: str
    items: tuple[CalibratedItem, ...]
    held_out: str | None = None  # leave_one_out: "question" (all its countries held out together)
    mean_before: dict[str, float] = field(factory=dict)
    mean_after: dict[str, float] = field(factory=dict)


@frozen
class SubgroupRow:
    """One condition × item × variant for one value of a persona attribute, against that group's
    benchmark. A group with no benchmark row or no counted answer is a row too: its ``values``
    are empty and ``reason`` says why (never left out)."""

    attribute: str
    group: str
    condition: str
    item: str  # qualified
    code: str
    variant: str
    n: int  # answers counted
    personas: int  # personas of the group asked the item
    codes: tuple[int, ...]
    probs: tuple[float, ...] | None
    benchmark_n: int | None  # respondents behind the group's benchmark (count tables), else None
    benchmark_probs: tuple[float, ...] | None
    values: dict[str, float] = field(factory=dict)
    intervals: dict[str, Interval] = field(factory=dict)
    reason: str | None = None  # why there are no metrics
    country: str | None = None


@frozen
class JointRow:
    """The two-way table of two items answered by the same personas, in one condition and
    variant; simulated vs a benchmark cross-tabulation when the spec declares one."""

    name: str
    condition: str
    a: str  # qualified item ids
    b: str
    variant: str
    codes_a: tuple[int, ...]
    codes_b: tuple[int, ...]
    counts: tuple[tuple[float, ...], ...]  # rows: codes of a; columns: codes of b
    n: int  # answer pairs counted
    unpaired: int  # answers of one item whose partner answer is missing or not counted
    benchmark: tuple[tuple[float, ...], ...] | None  # shares, same layout; None: only marginals known
    benchmark_n: int | None = None
    js: float | None = None  # JS divergence of the flattened joint tables (the spec's js options)
    cramers_v: float | None = None  # simulated
    cramers_v_benchmark: float | None = None
    polychoric: float | None = None  # simulated; both scales ordered only
    polychoric_benchmark: float | None = None
    note: str | None = None  # what could not be computed, and why
    country: str | None = None
    # persona bootstrap of "js" and "cramers_v" (simulated), when there are 2+ personas
    intervals: dict[str, Interval] = field(factory=dict)


@frozen
class Warning:
    kind: str  # defaults | benchmark_renormalised | degenerate | provider_model_changed | ...
    severity: Severity
    message: str
    condition: str | None = None
    item: str | None = None


@frozen
class DiversityRow:
    """Country diversity of one condition × item × variant (analysis/diversity.py)."""

    condition: str
    item: str
    variant: str
    n_countries: int
    model: float  # mean over country pairs of 1 - JS distance between the model's distributions
    survey: float  # the same over the benchmarks of the same countries


@frozen
class Results:
    study: StudyHeader
    compliance: tuple[Compliance, ...] = ()
    benchmarks: tuple[BenchmarkInfo, ...] = ()
    items: tuple[ItemMetrics, ...] = ()
    comparisons: tuple[ComparisonResult, ...] = ()
    calibrations: tuple[CalibrationResult, ...] = ()
    warnings: tuple[Warning, ...] = ()
    usage: tuple[Usage, ...] = ()  # tokens and cost per condition (silspec.analysis.usage)
    schema_version: int = SCHEMA_VERSION
    subgroups: tuple[SubgroupRow, ...] = ()
    joints: tuple[JointRow, ...] = ()
    # `replicates = N`: each replicate run scored alone and aggregated over the runs (mean, SD,
    # across-seed and persona intervals), as `silspec report RUN_DIR RUN_DIR ...` does
    replicate_runs: RunsAggregate | None = None
    country_tables: tuple[CountryTable, ...] = ()
    curves: tuple[PersonaCurve, ...] = ()
    shapley: tuple[ShapleyResult, ...] = ()
    diversity: tuple[DiversityRow, ...] = ()  # `report { diversity = true }`

    # ------------------------------------------------------------- lookups for the report writers

    def conditions(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for row in self.items:
            seen.setdefault(row.condition, None)
        for row in self.compliance:
            seen.setdefault(row.condition, None)
        return tuple(seen)

    def ablation_subsets(self) -> dict[str, str]:
        """Generated subset condition -> its ablation: the report summarises them (Shapley table,
        one compliance row per ablation) instead of one table each; JSON and CSV keep them all."""
        return {condition: result.ablation for result in self.shapley for condition in result.conditions}

    def report_conditions(self) -> tuple[str, ...]:
        """The conditions the report gives tables of: all but ablation subsets."""
        subsets = self.ablation_subsets()
        return tuple(c for c in self.conditions() if c not in subsets)

    def item_metrics(self, condition: str, variant: str = "with_defaults") -> tuple[ItemMetrics, ...]:
        return tuple(r for r in self.items if r.condition == condition and r.variant == variant)

    def metric(
        self, condition: str, item: str, key: str, variant: str = "with_defaults", country: str | None = None
    ) -> float | None:
        for row in self.items:
            if (row.condition, row.variant, row.country) == (condition, variant, country) and item in (
                row.item,
                row.code,
            ):
                return row.values.get(key)
        return None

    def has_defaults(self, condition: str | None = None) -> bool:
        return any(c.defaulted for c in self.compliance if condition in (None, c.condition))

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(_converter().unstructure(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Results":
        return _converter().structure(data, cls)


_CONVERTER = None


def _converter():
    global _CONVERTER
    if _CONVERTER is None:
        import cattrs

        _CONVERTER = cattrs.Converter()
        # JSON null stands for NaN/inf in a plain float field (see ``_json_safe``)
        _CONVERTER.register_structure_hook(float, lambda v, _: math.nan if v is None else float(v))
    return _CONVERTER


def _json_safe(value: Any) -> Any:
    """NaN / ±inf → None, tuples → lists, int dict keys → str (JSON has no other keys)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


# ------------------------------------------------------------------- several runs, one spec


@frozen
class RunInfo:
    run: str  # the run directory (or a name) as given
    seed: int | None
    n_answers: int
    # the run's tokens and cost per condition (``silspec report RUN RUN ...``: what each seed paid);
    # empty for the replicate runs inside one report, whose usage is that report's ``usage``
    usage: tuple[Usage, ...] = ()


@frozen
class AcrossRunsRow:
    """One metric value of one condition × item × variant, over runs with different seeds."""

    condition: str
    item: str  # "ITEM" or "ITEM/COUNTRY"
    variant: str
    metric: str
    key: str
    spread: ReplicateSpread  # values in ``RunsAggregate.runs`` order (NaN: absent in that run)
    # percentile bootstrap over the runs' values (the KGSS authors' across-seed CI: seed-level
    # values resampled, 10,000 draws); None with fewer than 2 finite values
    seed_ci: Interval | None = None
    # the within-run persona bootstrap interval, its ends averaged over the runs that have one
    persona_ci: Interval | None = None


@frozen
class RunsAggregate:
    """``silspec report RUN_DIR RUN_DIR ...``: each pooled metric's mean, SD and n over runs."""

    study: StudyHeader  # the first run's header
    runs: tuple[RunInfo, ...]
    rows: tuple[AcrossRunsRow, ...] = ()
    warnings: tuple[Warning, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def conditions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(row.condition for row in self.rows))

    def rows_for(self, condition: str, variant: str = "with_defaults") -> tuple[AcrossRunsRow, ...]:
        return tuple(r for r in self.rows if r.condition == condition and r.variant == variant)

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(_converter().unstructure(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunsAggregate":
        return _converter().structure(data, cls)
