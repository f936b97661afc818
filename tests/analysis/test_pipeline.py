"""analyse(): re-parsing, policies, benchmarks, metrics, CIs, comparisons, calibration, warnings."""

import math

import numpy as np
import pytest
from attrs import evolve

from silspec.analysis.metrics import js_divergence
from silspec.analysis.item_metrics import bootstrap_statistics
from silspec.analysis.pipeline import analyse
from silspec.analysis.distributions import benchmark_shares
from silspec.analysis.results import Results
from silspec.run.records import AnswerRecord
from silspec.spec.model import (
    Analysis, Benchmark, Bootstrap, Calibration, CalibrationUse, Category, Comparison, Condition,
    Item, Metric, Model, Parser, Scale, Spec, Study, Survey, Template,
)

SCALE = Scale(name="four", categories=tuple(Category(c, f"l{c}") for c in (1, 2, 3, 4)) + (Category(-8, "DK", missing=True),))
BENCH = (10.0, 40.0, 40.0, 10.0)


def make_spec(*, parser=None, analysis=None, benchmarks=None, conditions=("a", "b")):
    items = tuple(
        Item(id=f"s.{code}", code=code, survey="s", text=code, scale=SCALE,
             benchmarks=benchmarks if benchmarks is not None else (Benchmark("main", BENCH, unit="percent"), Benchmark("alt", (25.0, 25.0, 25.0, 25.0), unit="percent")))
        for code in ("Q1", "Q2", "Q3")
    )
    return Spec(
        path="x.sil", root="/tmp", study=Study(name="t", seed=3),
        surveys={"s": Survey(name="s", items=items, n=1000)},
        parsers={"p": parser or Parser(name="p", on_error="midpoint")},
        models={c: Model(name=c, backend="replay", model_id=f"m-{c}") for c in conditions},
        conditions={c: Condition(name=c, model=c, items=tuple(i.id for i in items), parser="p", prompt=Template("t", "x")) for c in conditions},
        analysis=analysis or Analysis(),
    )


def record(condition, item, persona, text, *, error=None, **kw):
    return AnswerRecord(
        request_id=f"{condition}{item}{persona}{kw.get('replicate', 0)}", condition=condition, model=condition,
        model_id=f"m-{condition}", item=f"s.{item}", persona=persona, replicate=kw.pop("replicate", 0),
        answers=kw.pop("answers", "sampled"), params={}, prompt_hash="", outcome="error" if error else "answered",
        raw_text=text, error=error, **kw,
    )


def answers_for(condition, item, codes, errors=0):
    out = [record(condition, item, f"P{i}", f"answer: {c}") for i, c in enumerate(codes)]
    out += [record(condition, item, f"E{i}", None, error="HTTP 429") for i in range(errors)]
    return out


def balanced(condition, shift=0):
    rows = []
    for item in ("Q1", "Q2", "Q3"):
        rows += answers_for(condition, item, [1] * (1 + shift) + [2] * 4 + [3] * 4 + [4] * (1 + shift))
    return rows


def test_reparses_stored_text_and_ignores_stored_codes():
    # rows without a scorer hash (stored before verdicts were) are scored from their text
    stored = [evolve(r, parsed_code=1, outcome="answered") for r in answers_for("a", "Q1", [4, 4])]
    results = analyse(make_spec(conditions=("a",)), stored)
    row = results.item_metrics("a")[0]
    assert row.counts == (0, 0, 0, 2)


def test_js_matches_an_independent_computation():
    results = analyse(make_spec(conditions=("a",)), answers_for("a", "Q1", [1, 2, 2, 3]))
    expected = js_divergence([1, 2, 1, 0], BENCH)
    assert results.metric("a", "Q1", "js") == pytest.approx(expected)
    assert results.metric("a", "s.Q1", "ks_pvalue") is not None


def test_on_error_midpoint_fills_and_valid_only_excludes():
    results = analyse(make_spec(conditions=("a",)), answers_for("a", "Q1", [1, 1], errors=2))
    with_defaults = results.item_metrics("a", "with_defaults")[0]
    valid = results.item_metrics("a", "valid_only")[0]
    assert with_defaults.counts == (2, 0, 2, 0)  # midpoint of 1-4 is 3
    assert valid.counts == (2, 0, 0, 0)
    (warning,) = [w for w in results.warnings if w.kind == "defaults"]
    assert warning.severity == "high" and "50%" in warning.message and "code 3" in warning.message
    assert "failed requests" in warning.message


def test_on_error_none_leaves_errors_out_and_warns_nothing_about_defaults():
    spec = make_spec(parser=Parser(name="p"), conditions=("a",))
    results = analyse(spec, answers_for("a", "Q1", [1, 1], errors=2))
    assert results.item_metrics("a")[0].n == 2
    assert not [w for w in results.warnings if w.kind == "defaults"]
    assert results.compliance[0].error == 2


def test_default_rate_at_ten_percent_is_not_loud():
    results = analyse(make_spec(conditions=("a",)), answers_for("a", "Q1", [1, 2, 3, 4, 2, 3, 2, 3, 1], errors=1))
    assert not [w for w in results.warnings if w.kind == "defaults"]


def test_benchmark_override_and_fallback():
    records = answers_for("a", "Q1", [1, 2, 3, 4]) + answers_for("a", "Q2", [1, 2, 3, 4])
    spec = make_spec(conditions=("a",))
    assert analyse(spec, records, benchmark="alt").metric("a", "Q1", "js") == pytest.approx(0.0)
    # an item that lacks the asked benchmark falls back to its default, with a warning
    survey = spec.surveys["s"]
    q2_main_only = evolve(survey.items[1], benchmarks=(Benchmark("main", BENCH, unit="percent"),))
    spec = evolve(spec, surveys={"s": evolve(survey, items=(survey.items[0], q2_main_only, survey.items[2]))})
    results = analyse(spec, records, benchmark="alt")
    assert {r.code: r.benchmark for r in results.item_metrics("a")} == {"Q1": "alt", "Q2": "main", "Q3": "alt"}
    # Q3 was planned but has no stored answer: kept without metrics, with the reason
    (q3,) = [r for r in results.item_metrics("a") if r.code == "Q3"]
    assert q3.values == {} and q3.n == 0 and q3.reason.startswith("no stored answers")
    assert any(w.kind == "benchmark_missing" and "'alt'" in w.message and w.item == "s.Q2" for w in results.warnings)


def test_unknown_benchmark_name_is_an_error_listing_the_known_names():
    from silspec.analysis.pipeline import UnknownBenchmarkError

    with pytest.raises(UnknownBenchmarkError, match=r"unknown benchmark 'nope'.*alt, main"):
        analyse(make_spec(conditions=("a",)), answers_for("a", "Q1", [1, 2]), benchmark="nope")


def test_item_without_benchmark_is_not_scored_and_warned():
    spec = make_spec(conditions=("a",), benchmarks=())
    results = analyse(spec, answers_for("a", "Q1", [1]))
    q1 = [r for r in results.items if r.code == "Q1"]
    assert [r.variant for r in q1] == ["with_defaults", "valid_only"]  # present, never a missing row
    assert all(r.values == {} and r.reason.startswith("no benchmark") for r in q1)
    assert all(not r.values for r in results.items)
    assert any(w.kind == "benchmark_missing" and w.severity == "high" for w in results.warnings)


def test_benchmark_over_100_warns_loudly():
    spec = make_spec(conditions=("a",), benchmarks=(Benchmark("paper", (17.3, 65.4, 20.3, 0.0), unit="percent"),))
    results = analyse(spec, answers_for("a", "Q1", [1, 2]))
    assert any(w.kind == "benchmark_renormalised" and w.severity == "high" and "103.0" in w.message for w in results.warnings)


def test_degenerate_and_provider_change_warnings():
    records = answers_for("a", "Q1", [2] * 20)
    records = [evolve(r, provider_model="gpt-x-1" if i < 10 else "gpt-x-2") for i, r in enumerate(records)]
    results = analyse(make_spec(conditions=("a",)), records)
    kinds = {w.kind for w in results.warnings}
    assert {"degenerate", "provider_model_changed"} <= kinds
    assert results.study.conditions[0].provider_models == ("gpt-x-1", "gpt-x-2")


def test_unknown_condition_answers_are_ignored_with_a_warning():
    results = analyse(make_spec(conditions=("a",)), answers_for("zzz", "Q1", [1]))
    assert {r.condition for r in results.items} == {"a"}  # zzz's answer is not counted anywhere
    assert all(r.n == 0 and r.reason.startswith("no stored answers") for r in results.items)
    assert any(w.kind == "unknown_answers" for w in results.warnings)


def test_comparison_uses_improvement_of_means():
    analysis = Analysis(metrics=(Metric("js"),), comparisons=(Comparison(a="a", b="b", metrics=("js",), without=("Q3",)),))
    records = []
    for item, (codes_a, codes_b) in {
        "Q1": ([1] * 10, [1, 2, 2, 2, 2, 3, 3, 3, 3, 4]),
        "Q2": ([2] * 10, [2] * 10),
        "Q3": ([1, 2, 2, 2, 2, 3, 3, 3, 3, 4], [4] * 10),
    }.items():
        records += answers_for("a", item, codes_a) + answers_for("b", item, codes_b)
    results = analyse(make_spec(analysis=analysis), records)
    comparison = [c for c in results.comparisons if c.variant == "with_defaults"][0]
    a = [results.metric("a", q, "js") for q in ("Q1", "Q2", "Q3")]
    b = [results.metric("b", q, "js") for q in ("Q1", "Q2", "Q3")]
    assert comparison.improvement_of_means == pytest.approx((np.mean(a) - np.mean(b)) / np.mean(a))
    assert comparison.improvement_without == pytest.approx((np.mean(a[:2]) - np.mean(b[:2])) / np.mean(a[:2]))
    assert comparison.n_improved == 1 and comparison.without == ("Q3",)
    assert [r.better for r in comparison.rows] == [True, None, False]


def test_bootstrap_intervals_bracket_the_estimate_and_are_reproducible():
    analysis = Analysis(metrics=(Metric("js"), Metric("wasserstein")), bootstrap=Bootstrap(resamples=500, seed=7))
    spec = make_spec(analysis=analysis, conditions=("a",))
    first = analyse(spec, balanced("a", 1))
    row = first.item_metrics("a")[0]
    for key in ("js", "wasserstein"):
        interval = row.intervals[key]
        assert interval.low <= row.values[key] + 1e-12 and interval.high >= interval.low
        assert interval.estimate == pytest.approx(row.values[key])
    assert analyse(spec, balanced("a", 1)).item_metrics("a")[0].intervals == row.intervals


@pytest.mark.parametrize("name,key", [("wasserstein", "wasserstein"), ("mae", "mae"), ("variance", "variance_gap")])
def test_vectorised_bootstrap_statistics_match_the_metrics(name, key):
    from silspec.analysis.metrics import compute_metric

    codes = (1, 2, 3, 4)
    shares = benchmark_shares("s.Q1", Benchmark("b", BENCH, unit="percent"), codes)
    rows = np.random.default_rng(0).dirichlet(np.ones(4), size=20)
    statistic = bootstrap_statistics(name, {}, shares, codes)[key]
    expected = [compute_metric(name, r, None, shares.proportions, codes=codes)[key] for r in rows]
    assert statistic(rows) == pytest.approx(expected)


def test_calibration_reports_before_and_after_and_preserves_means():
    analysis = Analysis(
        metrics=(Metric("js"), Metric("mae"), Metric("variance")),
        calibrations=(CalibrationUse(condition="a", calibration="tilt"),),
    )
    spec = evolve(make_spec(analysis=analysis, conditions=("a",)),
                  calibrations={"tilt": Calibration(name="tilt", method="mean_preserving_tilt", temperature=2.0)})
    records = []
    for item in ("Q1", "Q2", "Q3"):
        records += answers_for("a", item, [1] + [2] * 7 + [3] * 2)
    (calibration,) = analyse(spec, records).calibrations
    assert len(calibration.items) == 3
    for item in calibration.items:
        assert item.temperature == 2.0
        assert item.after["mae"] == pytest.approx(item.before["mae"], abs=1e-9)  # mean preserved
        assert item.after["variance_sim"] > item.before["variance_sim"]  # T > 1 spreads
    assert set(calibration.mean_before) == set(calibration.mean_after)


def test_option_probs_answers():
    records = [
        record("a", "Q1", f"P{i}", None, answers="option_probs", option_probs={1: 0.1, 2: 0.4, 3: 0.4, 4: 0.1}, valid_mass=0.9)
        for i in range(3)
    ]
    results = analyse(make_spec(conditions=("a",)), records)
    assert results.metric("a", "Q1", "js") == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(results.metric("a", "Q1", "chi2_statistic"))
    assert results.compliance[0].mean_valid_mass == pytest.approx(0.9)


def test_results_round_trip_through_json():
    import json

    analysis = Analysis(bootstrap=Bootstrap(resamples=50, seed=1),
                        comparisons=(Comparison(a="a", b="b", metrics=("js",)),))
    results = analyse(make_spec(analysis=analysis), balanced("a") + balanced("b", 2))
    text = json.dumps(results.to_dict(), allow_nan=False)
    again = Results.from_dict(json.loads(text))
    assert again.to_dict() == results.to_dict()
    assert again.item_metrics("a")[0].intervals["js"].level == 0.95


# ------------------------------------------------------------------------ warnings that matter


def invalid_answers(condition, item, count):
    return [record(condition, item, f"X{i}", "I would rather not say") for i in range(count)]


def test_high_invalid_share_is_a_loud_warning_with_the_count_and_n():
    records = answers_for("a", "Q1", [1, 2, 3, 4] * 5) + invalid_answers("a", "Q1", 10)
    results = analyse(make_spec(conditions=("a",)), records)
    (warning,) = [w for w in results.warnings if w.kind == "invalid_answers"]
    assert warning.severity == "high" and warning.item == "s.Q1"
    assert "33%" in warning.message and "10/30" in warning.message and "n = 20" in warning.message


def test_invalid_share_at_or_below_the_threshold_is_not_warned():
    records = answers_for("a", "Q1", [1, 2, 3, 4] * 10) + invalid_answers("a", "Q1", 10)  # 20 %
    results = analyse(make_spec(conditions=("a",)), records)
    assert not [w for w in results.warnings if w.kind == "invalid_answers"]


def test_invalid_threshold_comes_from_the_report_block_when_set():
    records = answers_for("a", "Q1", [1, 2, 3, 4] * 10) + invalid_answers("a", "Q1", 5)  # 11 %
    spec = make_spec(conditions=("a",), analysis=Analysis(report={"invalid_warning": 0.1}))
    assert [w for w in analyse(spec, records).warnings if w.kind == "invalid_answers"]


def test_metrics_on_few_valid_answers_warn_that_cis_are_wide():
    records = answers_for("a", "Q1", [1, 2, 3, 4] * 3) + answers_for("a", "Q2", [1, 2, 3, 4] * 10)
    results = analyse(make_spec(conditions=("a",)), records)
    (warning,) = [w for w in results.warnings if w.kind == "few_answers"]
    assert warning.severity == "high" and "Q1 (n = 12)" in warning.message and "Q2" not in warning.message


def test_all_mass_on_one_code_is_a_loud_warning():
    results = analyse(make_spec(conditions=("a",)), answers_for("a", "Q1", [2] * 40))
    (warning,) = [w for w in results.warnings if w.kind == "degenerate"]
    assert warning.severity == "high" and "code 2" in warning.message and "n = 40" in warning.message


def test_share_intervals_bracket_each_simulated_share():
    results = analyse(make_spec(conditions=("a",)), answers_for("a", "Q1", [1] * 10 + [2] * 50 + [3] * 40))
    row = results.item_metrics("a")[0]
    assert len(row.share_intervals) == len(row.codes) == 4
    for share, (low, high) in zip(row.probs, row.share_intervals):
        assert 0.0 <= low <= share <= high <= 1.0
    assert row.share_intervals[3] == (0.0, 0.0)  # nobody answered 4: no uncertainty to show
    low, high = row.share_intervals[1]
    assert high - low == pytest.approx(2 * 1.96 * math.sqrt(0.25 / 100), abs=0.03)


def test_many_warnings_of_one_kind_in_one_condition_collapse_into_one():
    from silspec.analysis.report_warnings import MAX_REPEATED_WARNINGS, collapse_repeats
    from silspec.analysis.results import Warning

    many = [Warning("low_valid_mass", "high", f"zs Q{i}: mass 0.1", condition="zs", item=f"Q{i}")
            for i in range(40)]
    few = [Warning("defaults", "high", f"ft Q{i}: defaults", condition="ft", item=f"Q{i}")
           for i in range(MAX_REPEATED_WARNINGS)]
    out = collapse_repeats(many + few)
    assert len(out) == 1 + MAX_REPEATED_WARNINGS
    assert out[0].kind == "low_valid_mass" and "40 cells" in out[0].message and "zs Q0" in out[0].message
    assert out[1:] == few


# ------------------------------------------------------------------------ comparison coverage


def test_comparison_over_a_subset_says_so_and_carries_the_coverage():
    """The reproduced defect: b answered 1 of 3 items; the average was printed over 1 item with
    no word. Now the two missing items are n/a with the reason, the average says "over 1 of 3
    items", a loud warning heads the report and the JSON carries the coverage."""
    import json

    from silspec.report.export import md_comparison

    analysis = Analysis(metrics=(Metric("mae"),), comparisons=(Comparison(a="a", b="b", metrics=("mae",)),))
    records = []
    for item in ("Q1", "Q2", "Q3"):
        records += answers_for("a", item, [1] * 10)  # mean 1 vs benchmark mean 2.5: MAE 0.5
    records += answers_for("b", "Q1", [1, 2, 2, 2, 2, 3, 3, 3, 3, 4])  # mean 2.5: MAE 0
    results = analyse(make_spec(analysis=analysis), records)
    comparison = [c for c in results.comparisons if c.variant == "with_defaults"][0]
    assert [row.item for row in comparison.rows] == ["Q1"]
    assert comparison.mean_a == pytest.approx(0.5) and comparison.mean_b == pytest.approx(0.0)
    assert comparison.n_cells == 3 and comparison.unit == "items"
    assert [(c.item, c.a, c.b) for c in comparison.uncovered] == [("Q2", pytest.approx(0.5), None), ("Q3", pytest.approx(0.5), None)]
    assert comparison.uncovered[0].reason == "b has no metrics (no stored answers (planned, not asked or not stored yet))"
    (warning,) = [w for w in results.warnings if w.kind == "comparison_partial"]
    assert warning.severity == "high"
    assert warning.message.startswith("compare b vs a on mae: the average covers 1 of 3 items; n/a: Q2: b has no metrics")
    data = json.loads(json.dumps(results.to_dict(), allow_nan=False))
    (carried,) = [c for c in data["comparisons"] if c["variant"] == "with_defaults"]
    assert carried["n_cells"] == 3 and [c["item"] for c in carried["uncovered"]] == ["Q2", "Q3"]
    assert carried["uncovered"][0]["b"] is None
    assert Results.from_dict(data).to_dict() == results.to_dict()
    table = md_comparison(comparison)
    assert "average over 1 of 3 items (1/1 improved)" in table
    assert "| Q2 | 0.500 | n/a | n/a |" in table
    assert "n/a — b has no metrics (no stored answers (planned, not asked or not stored yet)): Q2, Q3" in table


def test_comparison_cells_not_in_one_design_and_undefined_values_have_their_reason():
    analysis = Analysis(metrics=(Metric("mae"),), comparisons=(Comparison(a="a", b="b", metrics=("mae",)),))
    spec = make_spec(analysis=analysis)
    spec = evolve(spec, conditions={**spec.conditions, "b": evolve(spec.conditions["b"], items=("s.Q1", "s.Q2"))})
    records = []
    for item in ("Q1", "Q2", "Q3"):
        records += answers_for("a", item, [1] * 10)
    records += answers_for("b", "Q1", [2] * 10) + answers_for("b", "Q2", [2] * 10)
    comparison = [c for c in analyse(spec, records).comparisons if c.variant == "with_defaults"][0]
    assert comparison.n_cells == 3 and len(comparison.rows) == 2
    (cell,) = comparison.uncovered
    assert (cell.item, cell.reason) == ("Q3", "not asked in b")


def test_full_coverage_keeps_the_plain_average_label():
    from silspec.report.format import average_label

    analysis = Analysis(metrics=(Metric("js"),), comparisons=(Comparison(a="a", b="b", metrics=("js",)),))
    results = analyse(make_spec(analysis=analysis), balanced("a") + balanced("b", 2))
    comparison = results.comparisons[0]
    assert comparison.uncovered == () and comparison.n_cells == 3
    assert average_label(comparison) == f"average ({comparison.n_improved}/3 improved)"
    assert not [w for w in results.warnings if w.kind == "comparison_partial"]


def test_js_form_names_its_column_and_flips_the_comparison_direction():
    """`form = one_minus_distance` (the first-token paper's 1 - JS distance): the column says so,
    the value is 1 - scipy's jensenshannon, and higher is better in comparisons."""
    from scipy.spatial.distance import jensenshannon

    from silspec.report.export import md_metrics

    metric = Metric("js", options={"form": "one_minus_distance"})
    analysis = Analysis(metrics=(metric,), comparisons=(Comparison(a="a", b="b", metrics=("js",)),))
    results = analyse(make_spec(analysis=analysis), balanced("a") + balanced("b", 2))
    row = results.item_metrics("a")[0]
    assert row.values["js"] == pytest.approx(1 - jensenshannon(row.probs, row.benchmark_probs), abs=1e-12)
    assert "1−JS dist." in md_metrics(results, "a")
    assert results.comparisons[0].lower_is_better is False


def test_html_report_keeps_the_coverage_note():
    from silspec.report.html import to_html

    analysis = Analysis(metrics=(Metric("mae"),), comparisons=(Comparison(a="a", b="b", metrics=("mae",)),))
    records = []
    for item in ("Q1", "Q2", "Q3"):
        records += answers_for("a", item, [1] * 10)
    records += answers_for("b", "Q1", [1, 2, 2, 2, 2, 3, 3, 3, 3, 4])
    page = to_html(analyse(make_spec(analysis=analysis), records), plots=False)
    assert "average over 1 of 3 items (1/1 improved)" in page
    assert "<p>n/a — b has no metrics (no stored answers (planned, not asked or not stored yet)): Q2, Q3.</p>" in page


def test_comparison_without_by_country_never_lets_one_country_win():
    """Two countries per item and no `by country`: the old code kept whichever country came
    last; now such items are left out with the reason, and the warning says to compare by country."""
    from silspec.run.records import AnswerRecord

    analysis = Analysis(metrics=(Metric("mae"),), comparisons=(Comparison(a="a", b="b", metrics=("mae",)),))
    spec = make_spec(analysis=analysis, benchmarks=tuple(
        Benchmark("main", BENCH, unit="percent", country=c) for c in ("COL", "JPN")
    ))
    spec = evolve(spec, conditions={name: evolve(c, countries=("COL", "JPN")) for name, c in spec.conditions.items()})
    records = []
    for condition in ("a", "b"):
        for item in ("Q1", "Q2", "Q3"):
            for country in ("COL", "JPN"):
                records += [evolve(r, country=country, persona=f"{country}{r.persona}", request_id=f"{country}{r.request_id}")
                            for r in answers_for(condition, item, [1, 2, 3, 4])]
    results = analyse(spec, records)
    assert not results.comparisons
    (warning,) = [w for w in results.warnings if w.kind == "comparison_empty"]
    assert "3 items have rows of several countries" in warning.message
    assert "compare b vs a ... by country" in warning.message
