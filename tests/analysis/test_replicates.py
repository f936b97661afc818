"""samples > 1: metrics per replicate (mean ± SD), paired tests across replicates, runs over seeds."""

import math

import numpy as np
import pytest
from attrs import evolve

from silspec.analysis.compare import PAIRED_REPLICATE_TEST, paired_replicate_test
from silspec.analysis.metrics import js_divergence
from silspec.analysis.across_runs import aggregate_runs
from silspec.analysis.pipeline import analyse
from silspec.analysis.results import Results, RunsAggregate
from silspec.run.records import AnswerRecord
from silspec.spec.model import (
    Analysis, Benchmark, Category, Comparison, Condition, Item, Metric, Model, Parser, Scale, Spec, Study, Survey, Template,
)

SCALE = Scale(name="four", categories=tuple(Category(c, f"l{c}") for c in (1, 2, 3, 4)))
BENCH = (10.0, 40.0, 40.0, 10.0)
ITEMS = ("Q1", "Q2")


def make_spec(seed=3, samples=3, answers="sampled"):
    items = tuple(
        Item(id=f"s.{code}", code=code, survey="s", text=code, scale=SCALE, benchmarks=(Benchmark("main", BENCH, unit="percent"),))
        for code in ITEMS
    )
    return Spec(
        path="x.sil", root="/tmp", study=Study(name="t", seed=seed),
        surveys={"s": Survey(name="s", items=items, n=1000)},
        parsers={"p": Parser(name="p")},
        models={c: Model(name=c, backend="replay", model_id=f"m-{c}") for c in ("a", "b")},
        conditions={
            c: Condition(name=c, model=c, items=tuple(i.id for i in items), parser="p", prompt=Template("t", "x"), samples=samples, answers=answers)
            for c in ("a", "b")
        },
        analysis=Analysis(
            metrics=(Metric("js"), Metric("wasserstein")),
            comparisons=(Comparison(a="a", b="b", metrics=("js",)),),
        ),
    )


def record(condition, item, persona, replicate, code, **kw):
    return AnswerRecord(
        request_id=f"{condition}{item}{persona}{replicate}", condition=condition, model=condition, model_id=f"m-{condition}",
        item=f"s.{item}", persona=persona, replicate=replicate, answers=kw.pop("answers", "sampled"), params={}, prompt_hash="",
        outcome="answered", raw_text=str(code), **kw,
    )


# replicate → codes of personas P0..P3 (the r-th answer of each persona)
A_CODES = {0: [1, 1, 1, 4], 1: [1, 1, 4, 4], 2: [1, 4, 4, 4]}
B_CODES = {0: [1, 2, 3, 4], 1: [2, 2, 3, 3], 2: [1, 2, 3, 3]}


def records(codes_by_replicate, condition, items=ITEMS):
    return [
        record(condition, item, f"P{p}", r, code)
        for item in items
        for r, codes in codes_by_replicate.items()
        for p, code in enumerate(codes)
    ]


@pytest.fixture(scope="module")
def results():
    return analyse(make_spec(), records(A_CODES, "a") + records(B_CODES, "b"))


def counts_of(codes):
    return [codes.count(c) for c in (1, 2, 3, 4)]


def test_each_metric_per_replicate_and_its_mean_and_sd(results):
    row = results.item_metrics("a")[0]
    assert row.replicates == (0, 1, 2)
    expected = [js_divergence(counts_of(A_CODES[r]), BENCH) for r in (0, 1, 2)]
    spread = row.across_replicates["js"]
    assert spread.values == pytest.approx(expected)
    assert spread.mean == pytest.approx(np.mean(expected)) and spread.sd == pytest.approx(np.std(expected, ddof=1))
    assert spread.n == 3
    # the pooled value stays: every answer of every replicate in one histogram
    pooled = counts_of(sum(A_CODES.values(), []))
    assert row.values["js"] == pytest.approx(js_divergence(pooled, BENCH))
    assert row.n == 12
    assert "wasserstein" in row.across_replicates


def test_single_replicate_conditions_have_no_spread():
    single = analyse(make_spec(samples=1), records({0: A_CODES[0]}, "a"))
    assert single.item_metrics("a")[0].replicates == ()
    assert single.item_metrics("a")[0].across_replicates == {}


def test_comparison_gets_a_paired_test_per_item_across_replicates(results):
    (comparison,) = [c for c in results.comparisons if c.variant == "with_defaults"]
    assert comparison.replicate_test == PAIRED_REPLICATE_TEST
    row = comparison.rows[0]
    a = [js_divergence(counts_of(A_CODES[r]), BENCH) for r in (0, 1, 2)]
    b = [js_divergence(counts_of(B_CODES[r]), BENCH) for r in (0, 1, 2)]
    from scipy.stats import ttest_rel

    expected = ttest_rel(b, a)
    assert row.replicates == 3
    assert row.replicate_pvalue == pytest.approx(expected.pvalue)
    assert row.replicate_statistic == pytest.approx(expected.statistic)
    # the across-items test is still there (needs 3 items: here 2, so none)
    assert comparison.paired_pvalue is None


def test_no_per_item_test_when_one_condition_has_a_single_replicate():
    mixed = records(A_CODES, "a") + records({0: B_CODES[0]}, "b")
    (comparison,) = [c for c in analyse(make_spec(), mixed).comparisons if c.variant == "with_defaults"]
    assert comparison.replicate_test is None and all(r.replicates == 0 for r in comparison.rows)


def test_paired_replicate_test_edge_cases():
    assert paired_replicate_test([0.1], [0.2]) is None
    same = paired_replicate_test([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    assert (same.statistic, same.pvalue) == (0.0, 1.0)
    shifted = paired_replicate_test([0.1, 0.2, 0.3], [0.2, 0.3, 0.4])
    assert shifted.statistic == math.inf and shifted.pvalue == 0.0
    with pytest.raises(ValueError, match="equal-length"):
        paired_replicate_test([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="finite"):
        paired_replicate_test([0.1, math.nan], [0.1, 0.2])


def test_replicate_spreads_round_trip_through_json(results):
    again = Results.from_dict(results.to_dict())
    assert again.item_metrics("a")[0].across_replicates["js"].values == pytest.approx(
        results.item_metrics("a")[0].across_replicates["js"].values
    )
    assert again.comparisons[0].rows[0].replicate_pvalue == pytest.approx(results.comparisons[0].rows[0].replicate_pvalue)


def test_option_probs_low_valid_mass_is_warned():
    spec = make_spec(samples=1, answers="option_probs")
    rows = [
        record("a", "Q1", f"P{p}", 0, "", answers="option_probs", option_probs={1: 0.1, 2: 0.1, 3: 0.1, 4: 0.1}, valid_mass=0.4)
        for p in range(3)
    ] + [
        record("a", "Q2", f"P{p}", 0, "", answers="option_probs", option_probs={1: 0.2, 2: 0.3, 3: 0.3, 4: 0.1}, valid_mass=0.9)
        for p in range(3)
    ]
    results = analyse(spec, rows)
    masses = {c.item: c.mean_valid_mass for c in results.compliance}
    assert masses == {"s.Q1": pytest.approx(0.4), "s.Q2": pytest.approx(0.9)}
    low = [w for w in results.warnings if w.kind == "low_valid_mass"]
    assert len(low) == 1 and low[0].item == "s.Q1" and "0.40" in low[0].message


# ------------------------------------------------------------------------------ several runs


def test_runs_with_different_seeds_aggregate_mean_sd_and_n():
    first = analyse(make_spec(seed=1, samples=1), records({0: A_CODES[0]}, "a"))
    second = analyse(make_spec(seed=2, samples=1), records({0: A_CODES[1]}, "a"))
    third = analyse(make_spec(seed=3, samples=1), records({0: A_CODES[2]}, "a"))
    aggregate = aggregate_runs([first, second, third], ["r1", "r2", "r3"])
    assert [run.seed for run in aggregate.runs] == [1, 2, 3]
    (row,) = [r for r in aggregate.rows if (r.condition, r.item, r.variant, r.key) == ("a", "Q1", "with_defaults", "js")]
    expected = [js_divergence(counts_of(A_CODES[r]), BENCH) for r in (0, 1, 2)]
    assert row.metric == "js" and row.spread.n == 3
    assert row.spread.mean == pytest.approx(np.mean(expected)) and row.spread.sd == pytest.approx(np.std(expected, ddof=1))
    assert not [w for w in aggregate.warnings if w.kind == "same_seed"]
    again = RunsAggregate.from_dict(aggregate.to_dict())
    assert again.rows[0].spread.values == pytest.approx(aggregate.rows[0].spread.values)


def test_runs_sharing_a_seed_or_missing_an_item_are_flagged():
    first = analyse(make_spec(seed=1, samples=1), records({0: A_CODES[0]}, "a"))
    second = analyse(make_spec(seed=1, samples=1), records({0: A_CODES[1]}, "a", items=("Q1",)))
    aggregate = aggregate_runs([first, second], ["r1", "r2"])
    assert any(w.kind == "same_seed" and "r1, r2" in w.message for w in aggregate.warnings)
    (row,) = [r for r in aggregate.rows if (r.item, r.variant, r.key) == ("Q2", "with_defaults", "js")]
    assert row.spread.n == 1 and math.isnan(row.spread.sd)
    assert any(w.kind == "runs_incomplete" and "Q2" in w.message and "r2" in w.message for w in aggregate.warnings)


def test_runs_of_different_studies_or_a_single_run_are_errors():
    one = analyse(make_spec(samples=1), records({0: A_CODES[0]}, "a"))
    other = evolve(one, study=evolve(one.study, name="other"))
    with pytest.raises(ValueError, match="different studies"):
        aggregate_runs([one, other])
    with pytest.raises(ValueError, match="at least 2"):
        aggregate_runs([one])
