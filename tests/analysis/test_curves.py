"""MAE against the number of personas (the value-persona paper's Figure 3) on hand-built
distributions: the draw is one set of personas for every question, the full size is the run's
own MAE, bands come from seeded draws and are reproducible."""

from __future__ import annotations

import math

import numpy as np
import pytest

from silspec.analysis.curves import persona_curve
from silspec.analysis.distributions import BenchmarkShares, SimDistribution
from silspec.analysis.metrics import compute_metric
from silspec.spec.model import Curve

CODES = (1, 2, 3, 4)
# persona p answers code p+1 with certainty on both questions: a draw's mean is its personas' mean
ONE_HOT = [tuple(1.0 if c == k else 0.0 for c in range(4)) for k in range(4)]


def _cell(item: str, country: str, bench: tuple[float, ...], personas=("a", "b", "c", "d")):
    shares = tuple(ONE_HOT[i] for i in range(len(personas)))
    dist = SimDistribution(
        condition="vp", item=item, variant="with_defaults", answers="option_probs", codes=CODES,
        counts=tuple(map(sum, zip(*shares))), n=len(personas), persona_ids=tuple(personas),
        persona_shares=shares, country=country,
    )
    return dist, BenchmarkShares(item=item, name="main", codes=CODES, proportions=bench, total=1.0, unit="share",
                                 country=country)


def _cells():
    return {
        "AAA": [_cell("s.Q1", "AAA", (0.7, 0.1, 0.1, 0.1)), _cell("s.Q2", "AAA", (0.1, 0.1, 0.1, 0.7))],
        "BBB": [_cell("s.Q1", "BBB", (0.25, 0.25, 0.25, 0.25)), _cell("s.Q2", "BBB", (0.25, 0.25, 0.25, 0.25))],
    }


def test_full_size_is_the_runs_own_mae_and_drawn_once():
    curve = persona_curve(Curve(condition="vp", sizes=(1, 2, 4, 9), draws=50), _cells(), seed=1)
    assert curve.sizes == (1, 2, 4) and curve.dropped_sizes == (9,)
    overall, aaa, bbb = curve.series
    assert overall.country is None and aaa.country == "AAA"
    full = aaa.points[-1]
    expected = np.mean([
        compute_metric("mae", dist.probs, None, bench.proportions, codes=CODES)["mae"] for dist, bench in _cells()["AAA"]
    ])
    assert full.draws == 1 and full.mean == pytest.approx(expected, abs=1e-12)
    # BBB's benchmark mean is 2.5, its four personas' mean too: no error with every persona
    assert bbb.points[-1].mean == pytest.approx(0.0, abs=1e-12)


def test_a_single_persona_draw_has_the_error_of_that_persona():
    curve = persona_curve(Curve(condition="vp", sizes=(1,), draws=400, level=1.0), _cells(), seed=2)
    _, _, bbb = curve.series
    point = bbb.points[0]
    # one persona answering k (1..4) against a mean of 2.5: |k - 2.5| / 3 in {0.5, 1/6}
    assert point.low == pytest.approx(1 / 6) and point.high == pytest.approx(0.5)
    assert point.draws == 400 and 1 / 6 < point.mean < 0.5


def test_the_same_seed_gives_the_same_curve_and_another_seed_another():
    one = persona_curve(Curve(condition="vp", sizes=(1, 2), draws=30), _cells(), seed=3)
    again = persona_curve(Curve(condition="vp", sizes=(1, 2), draws=30), _cells(), seed=3)
    other = persona_curve(Curve(condition="vp", sizes=(1, 2), draws=30), _cells(), seed=4)
    assert one == again
    assert one.series[1].points[0] != other.series[1].points[0]


def test_the_country_average_averages_countries_draw_by_draw():
    curve = persona_curve(Curve(condition="vp", sizes=(4,), draws=10), _cells(), seed=1)
    overall, aaa, bbb = curve.series
    assert overall.points[0].mean == pytest.approx((aaa.points[0].mean + bbb.points[0].mean) / 2)


def test_a_persona_without_an_answer_to_a_question_is_left_out_of_that_question_only():
    cells = {"AAA": [_cell("s.Q1", "AAA", (0.25,) * 4), _cell("s.Q2", "AAA", (0.25,) * 4, personas=("a", "b", "c"))]}
    curve = persona_curve(Curve(condition="vp", sizes=(4,), draws=5), cells, seed=1)
    (aaa,) = curve.series
    # Q1: all four personas, mean 2.5, error 0; Q2: personas a-c, mean 2, error 0.5/3
    assert aaa.points[0].mean == pytest.approx((0 + 0.5 / 3) / 2)
    assert not math.isnan(aaa.points[0].low)


def test_other_metrics_go_through_compute_metric():
    curve = persona_curve(Curve(condition="vp", metric="js", sizes=(4,), draws=3), _cells(), seed=1,
                          options={"log": "e"})
    _, aaa, _ = curve.series
    expected = np.mean([compute_metric("js", d.probs, None, b.proportions, codes=CODES)["js"] for d, b in _cells()["AAA"]])
    assert aaa.points[0].mean == pytest.approx(expected, abs=1e-12)
