"""The value-persona summaries in every report format, from hand-built results: the fitted T
per question and country (and its grid-edge mark), the per-country Wilcoxon tests, the country
table, the MAE-vs-personas curve and the Shapley values; JSON round-trips."""

from __future__ import annotations

import io
import json

from rich.console import Console

from silspec.analysis.results import (
    CalibratedItem,
    CalibrationResult,
    ComparisonResult,
    CountryColumn,
    CountryComparison,
    CountryTable,
    CurvePoint,
    CurveSeries,
    PairTest,
    PersonaCurve,
    Results,
    ShapleyResult,
    ShapleyRow,
    StudyHeader,
    WilcoxonTest,
)
from silspec.report.console import print_report
from silspec.report.export import to_json, to_markdown
from silspec.report.html import to_html

TEST = "Wilcoxon signed-rank across questions within each country (zero_method='wilcox')"


def _results() -> Results:
    calibration = CalibrationResult(
        condition="value_personas", calibration="tilt", method="mean_preserving_tilt", fit="leave_one_out",
        held_out="question",
        items=(
            CalibratedItem(item="Q1", temperature=1.7, beta=0.1, probs_before=(0.5, 0.5), probs_after=(0.5, 0.5),
                           before={"variance_gap": 0.2}, after={"variance_gap": 0.05}, country="JPN"),
            CalibratedItem(item="Q2", temperature=8.0, beta=0.3, probs_before=(0.5, 0.5), probs_after=(0.5, 0.5),
                           before={"variance_gap": 0.3}, after={"variance_gap": 0.1}, country="GHA", grid_edge="high"),
        ),
        mean_before={"variance_gap": 0.25}, mean_after={"variance_gap": 0.075},
    )
    comparison = ComparisonResult(
        a="country_roleplay", b="value_personas", metric="mae", key="mae", variant="with_defaults",
        lower_is_better=True, rows=(), n_improved=0, mean_a=0.2, mean_b=0.1, improvement_of_means=0.5,
        unit="item-country pairs", country_test=TEST,
        by_country=(CountryComparison(country="GHA", n=35, mean_a=0.21, mean_b=0.09,
                                      test=WilcoxonTest(statistic=41.0, pvalue=0.0004, n=35, n_zero=2)),),
    )
    table = CountryTable(
        metric="mae", key="mae", variant="with_defaults", lower_is_better=True,
        conditions=("country_roleplay", "value_personas"), overall=(0.2, 0.1), n_overall=70, test=TEST,
        countries=(CountryColumn(country="GHA", means=(0.21, 0.09), n=35, n_cells=35, best="value_personas",
                                 tests=(PairTest(best="value_personas", other="country_roleplay",
                                                 test=WilcoxonTest(41.0, 0.0004, 35, 2)),),
                                 significant=True),),
    )
    curve = PersonaCurve(
        condition="value_personas", metric="mae", key="mae", variant="with_defaults", sizes=(1, 200),
        dropped_sizes=(500,), draws=200, level=0.95, seed=7, n_items=35,
        series=(CurveSeries(country=None, available=200, points=(CurvePoint(1, 0.2, 0.15, 0.26, 200),
                                                                 CurvePoint(200, 0.1, 0.1, 0.1, 1))),),
    )
    shapley = ShapleyResult(
        ablation="iw", condition="value_personas", metric="mae", key="mae", variant="with_defaults",
        items=("Q164", "Y002"), method="exact", n_subsets=4,
        rows=(ShapleyRow(country="GHA", values=(-0.0123, 0.0045), full=0.09, empty=0.0978),),
    )
    return Results(
        study=StudyHeader(name="vp", metrics=("mae",)), comparisons=(comparison,), calibrations=(calibration,),
        country_tables=(table,), curves=(curve,), shapley=(shapley,),
    )


def test_console_shows_temperatures_tests_curve_and_shapley():
    buffer = io.StringIO()
    print_report(_results(), Console(file=buffer, width=200, color_system=None))
    text = " ".join(buffer.getvalue().split())
    assert "each question held out with all its countries" in text
    assert "JPN" in text and "1.70" in text and "8.00 (grid max)" in text
    assert "value_personas vs country_roleplay on mae, per country" in text
    assert "41.0" in text and "4.0e-04" in text and "33 (2 tied, dropped)" in text
    assert "mae by country (with defaults)" in text and "0.090 †" in text
    assert "0.200 [0.150, 0.260]" in text and "500" in text
    assert "Item contributions (Shapley): ablation iw" in text and "-0.0123" in text


def test_json_carries_everything_and_round_trips():
    results = _results()
    data = json.loads(to_json(results))
    (item_q2,) = [i for i in data["calibrations"][0]["items"] if i["item"] == "Q2"]
    assert (item_q2["country"], item_q2["temperature"], item_q2["grid_edge"]) == ("GHA", 8.0, "high")
    assert data["comparisons"][0]["by_country"][0]["test"] == {"statistic": 41.0, "pvalue": 0.0004, "n": 35, "n_zero": 2}
    assert data["curves"][0]["series"][0]["points"][0]["low"] == 0.15
    assert data["shapley"][0]["rows"][0]["values"] == [-0.0123, 0.0045]
    assert Results.from_dict(data) == results


def test_markdown_and_html():
    md = to_markdown(_results())
    assert "| GHA | 8.00 (grid max) |" in md
    assert "| value_personas | **0.100** | **0.090** † |" in md
    assert "## Metric against the number of personas" in md and "## Item contributions" in md
    page = to_html(_results(), plots=True)
    assert "<td><b>0.090</b> †</td>" in page
    assert 'alt="value_personas curve" src="data:image/png;base64,' in page
    assert "<td>8.00 (grid max)</td>" in page
