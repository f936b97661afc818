"""Temperature scaling and the mean-preserving tilt (seed 003, section 4.4)."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from silspec.analysis.calibration import (
    calibrate,
    default_grid,
    fit_temperature,
    fit_temperature_loo,
    mean_preserving_tilt,
    temperature_scale,
)
from silspec.analysis.metrics import mean_of, normalised_variance

share_lists = st.lists(
    st.one_of(st.just(0.0), st.floats(1e-4, 1.0)), min_size=2, max_size=10
).filter(lambda xs: sum(xs) > 0)
temperatures = st.floats(0.2, 5.0)


def discretised_normal(k, centre, spread):
    """A unimodal, log-concave shape: the kind of answer distribution an LLM gives."""
    codes = np.arange(1, k + 1, dtype=float)
    p = np.exp(-((codes - centre) ** 2) / (2 * spread**2))
    return p / p.sum(), codes


# ------------------------------------------------------------------------- temperature


def test_temperature_scale_is_p_to_the_one_over_t_renormalised():
    p = np.array([0.1, 0.3, 0.6])
    expected = p**0.5 / np.sum(p**0.5)
    np.testing.assert_allclose(temperature_scale(p, 2.0), expected)
    np.testing.assert_allclose(temperature_scale([10, 30, 60], 1.0), p)


def test_temperature_keeps_zeros_and_flattens_or_sharpens():
    p = np.array([0.0, 0.2, 0.7, 0.1])
    hot, cold = temperature_scale(p, 4.0), temperature_scale(p, 0.25)
    assert hot[0] == 0.0 and cold[0] == 0.0
    assert hot.max() < p.max() < cold.max()


def test_very_low_temperature_does_not_overflow():
    cold = temperature_scale([0.01, 0.5, 0.49], 0.001)
    assert np.all(np.isfinite(cold))
    assert cold[1] == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_temperature_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match="temperature"):
        temperature_scale([0.5, 0.5], bad)
    with pytest.raises(ValueError, match="temperature"):
        mean_preserving_tilt([0.2, 0.3, 0.5], [1, 2, 3], bad)


def test_temperature_alone_moves_the_mean():
    p, codes = np.array([0.05, 0.15, 0.6, 0.2]), np.arange(1, 5)
    assert abs(mean_of(temperature_scale(p, 3.0), codes) - mean_of(p, codes)) > 0.05


# -------------------------------------------------------------------------------- tilt


@settings(max_examples=150, deadline=None)
@given(share_lists, temperatures)
def test_tilt_preserves_the_mean_to_1e_9(shares, temperature):
    codes = np.arange(1, len(shares) + 1)
    result = mean_preserving_tilt(shares, codes, temperature)
    assert result.q.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(result.q >= 0)
    assert abs(mean_of(result.q, codes) - mean_of(shares, codes)) < 1e-9


@settings(max_examples=60, deadline=None)
@given(share_lists, temperatures, st.floats(-50, 50), st.floats(0.1, 20))
def test_tilt_preserves_the_mean_on_any_code_values(shares, temperature, offset, scale):
    codes = offset + scale * np.arange(len(shares))
    result = mean_preserving_tilt(shares, codes, temperature)
    assert abs(mean_of(result.q, codes) - mean_of(shares, codes)) < 1e-9 * max(1.0, abs(offset) + scale * len(shares))


def test_tilt_keeps_zero_shares_at_zero():
    result = mean_preserving_tilt([0.0, 0.3, 0.5, 0.2, 0.0], [1, 2, 3, 4, 5], 3.0)
    assert result.q[0] == 0.0 and result.q[-1] == 0.0


@settings(max_examples=100, deadline=None)
@given(st.integers(3, 10), st.floats(0.0, 1.0), st.floats(0.4, 3.0), st.floats(1.2, 5.0))
def test_tilt_widens_above_one_and_narrows_below_on_unimodal_distributions(k, where, spread, temperature):
    p, codes = discretised_normal(k, 1 + where * (k - 1), spread)
    before = normalised_variance(p, codes)
    assume(before > 1e-6)
    assert normalised_variance(mean_preserving_tilt(p, codes, temperature).q, codes) > before
    assert normalised_variance(mean_preserving_tilt(p, codes, 1 / temperature).q, codes) < before


def test_tilt_on_a_u_shaped_distribution_narrows_when_heated():
    """Flattening is not widening for every p: a U shape's mass moves inward. Documented."""
    p, codes = [0.45, 0.05, 0.05, 0.45], [1, 2, 3, 4]
    assert normalised_variance(mean_preserving_tilt(p, codes, 3.0).q, codes) < normalised_variance(p, codes)


def test_tilt_at_t_equal_one_is_the_identity():
    p = np.array([0.1, 0.2, 0.4, 0.3])
    result = mean_preserving_tilt(p, [1, 2, 3, 4], 1.0)
    np.testing.assert_allclose(result.q, p, atol=1e-12)
    assert result.beta == pytest.approx(0.0, abs=1e-9)


def test_tilt_solves_the_published_form():
    p, codes, temperature = np.array([0.1, 0.2, 0.4, 0.3]), np.array([1.0, 2.0, 3.0, 4.0]), 2.0
    result = mean_preserving_tilt(p, codes, temperature)
    form = p ** (1 / temperature) * np.exp(result.beta * codes)
    np.testing.assert_allclose(result.q, form / form.sum(), rtol=1e-9)


def test_tilt_of_a_degenerate_distribution_is_the_identity():
    result = mean_preserving_tilt([0, 1, 0], [1, 2, 3], 2.5)
    np.testing.assert_array_equal(result.q, [0, 1, 0])
    assert result.beta == 0.0
    assert mean_preserving_tilt([1.0], [4], 0.5).q.tolist() == [1.0]


def test_tilt_at_extreme_temperatures_still_preserves_the_mean():
    p, codes = np.array([0.02, 0.08, 0.6, 0.25, 0.05]), np.arange(1, 6)
    for temperature in (0.02, 50.0):
        q = mean_preserving_tilt(p, codes, temperature).q
        assert abs(mean_of(q, codes) - mean_of(p, codes)) < 1e-9


def test_calibrate_reports_before_and_after():
    p, codes = [0.05, 0.15, 0.6, 0.2], [1, 2, 3, 4]
    item = calibrate(p, codes, 2.0)
    assert item.mean_after == pytest.approx(item.mean_before, abs=1e-9)
    assert item.normalised_variance_after > item.normalised_variance_before
    plain = calibrate(p, codes, 2.0, method="temperature")
    assert plain.beta == 0.0 and plain.mean_after != pytest.approx(plain.mean_before)
    with pytest.raises(ValueError, match="method"):
        calibrate(p, codes, 2.0, method="isotonic")


# ------------------------------------------------------------------------------ fitting


def make_items(true_temperature, n_items=6, seed=0):
    """Benchmarks wider than the simulation by a known temperature, per item."""
    rng = np.random.default_rng(seed)
    sims, benches, codes_list = [], [], []
    for _ in range(n_items):
        k = int(rng.integers(4, 8))
        sim, codes = discretised_normal(k, rng.uniform(2, k - 1), rng.uniform(0.5, 1.0))
        sims.append(sim)
        benches.append(mean_preserving_tilt(sim, codes, true_temperature).q)
        codes_list.append(codes)
    return sims, benches, codes_list


def test_fit_recovers_the_temperature_that_made_the_benchmarks():
    sims, benches, codes = make_items(2.0)
    grid = default_grid()
    assert 1.0 in grid
    assert fit_temperature(sims, benches, codes) == pytest.approx(2.0, rel=0.06)
    assert fit_temperature(sims, benches, codes, target="js") == pytest.approx(2.0, rel=0.06)
    loo = fit_temperature_loo(sims, benches, codes)
    assert len(loo) == len(sims)
    assert all(t == pytest.approx(2.0, rel=0.06) for t in loo)


def test_leave_one_out_ignores_the_held_out_items_benchmark():
    sims, benches, codes = make_items(2.0, n_items=2)
    # Item 1's benchmark asks for a narrower distribution (T = 0.5), item 0's for a wider one.
    benches[1] = mean_preserving_tilt(sims[1], codes[1], 0.5).q
    grid = [0.5, 1.0, 2.0]
    # Each item gets the temperature that fits the *other* item.
    assert fit_temperature_loo(sims, benches, codes, grid=grid) == [0.5, 2.0]


def test_ties_prefer_the_temperature_closest_to_one():
    # All simulated distributions degenerate: every T gives the same mismatch.
    sims = [np.array([0, 1.0, 0]), np.array([1.0, 0, 0])]
    benches = [np.array([0.2, 0.6, 0.2]), np.array([0.5, 0.3, 0.2])]
    codes = [np.array([1, 2, 3])] * 2
    assert fit_temperature_loo(sims, benches, codes, grid=[0.5, 0.9, 4.0]) == [0.9, 0.9]


def test_fitting_refuses_bad_input():
    sims, benches, codes = make_items(2.0, n_items=3)
    with pytest.raises(ValueError, match="at least two questions"):
        fit_temperature_loo(sims[:1], benches[:1], codes[:1])
    with pytest.raises(ValueError, match="one simulated distribution"):
        fit_temperature_loo(sims, benches[:2], codes)
    with pytest.raises(ValueError, match="target"):
        fit_temperature(sims, benches, codes, target="kl")
    with pytest.raises(ValueError, match="grid"):
        fit_temperature(sims, benches, codes, grid=[0.0, 1.0])
    assert math.isfinite(fit_temperature(sims, benches, codes, grid=[1.0]))


# --------------------------------------------------------------- leave one *question* out


CODES3 = [1, 2, 3]
SIM = [0.1, 0.8, 0.1]  # normalised variance 0.2
WIDE, NARROW, MEDIUM = [0.4, 0.2, 0.4], [0.1, 0.8, 0.1], [0.25, 0.5, 0.25]  # NV 0.8, 0.2, 0.5
GRID = [0.5, 1.0, 2.0, 4.0]  # the tilt of SIM reaches NV 0.030, 0.2, 0.414, 0.543 there


def test_question_level_leave_one_out_does_not_leak_a_question_into_its_own_fit():
    """Q1 is wide in all three countries, Q2 narrow, narrow, medium. Holding out one row of Q1
    fits on Q1's two other countries too (the question leaks): T = 4 for every row. Holding out
    the question fits Q1 on Q2 alone: T = 1, as the value-persona paper does."""
    from silspec.analysis.calibration import fit_temperature_loo

    benches = [WIDE, WIDE, WIDE, NARROW, NARROW, MEDIUM]
    rows = fit_temperature_loo([SIM] * 6, benches, [CODES3] * 6, grid=GRID)
    by_question = fit_temperature_loo([SIM] * 6, benches, [CODES3] * 6, grid=GRID, groups=["Q1"] * 3 + ["Q2"] * 3)
    assert rows == [4.0] * 6
    assert by_question == [1.0, 1.0, 1.0, 4.0, 4.0, 4.0]


def test_question_level_leave_one_out_needs_two_questions_and_one_group_per_row():
    from silspec.analysis.calibration import fit_temperature_loo

    with pytest.raises(ValueError, match="at least two questions"):
        fit_temperature_loo([SIM] * 2, [WIDE] * 2, [CODES3] * 2, groups=["Q1", "Q1"])
    with pytest.raises(ValueError, match="one group per row"):
        fit_temperature_loo([SIM] * 2, [WIDE] * 2, [CODES3] * 2, groups=["Q1"])


def test_grid_edge_names_the_end_a_fitted_temperature_sits_on():
    from silspec.analysis.calibration import default_grid, grid_edge

    grid = default_grid()
    assert grid_edge(float(grid.min())) == "low" and grid_edge(float(grid.max())) == "high"
    assert grid_edge(1.0) is None
    assert grid_edge(4.0, GRID) == "high"


def test_pipeline_fits_by_question_shows_countries_and_warns_at_the_grid_edge():
    """Through analyse(): rows per (question, country), T per question held out with all its
    countries; the table rows carry the country; a T at the grid edge is a loud warning."""
    from attrs import evolve

    from silspec.analysis.pipeline import analyse
    from silspec.analysis.calibration import default_grid
    from silspec.report.export import md_calibration
    from silspec.run.records import AnswerRecord
    from silspec.spec.model import (
        Analysis, Benchmark, Calibration, CalibrationUse, Category, Condition, Item, Metric, Model,
        Parser, Scale, Spec, Study, Survey, Template,
    )

    scale = Scale(name="three", categories=tuple(Category(c, f"l{c}") for c in CODES3))
    countries = ("AAA", "BBB", "CCC")
    targets = {"Q1": (WIDE, WIDE, WIDE), "Q2": (NARROW, NARROW, MEDIUM)}
    items = tuple(
        Item(id=f"s.{code}", code=code, survey="s", text=code, scale=scale,
             benchmarks=tuple(Benchmark("main", tuple(b), country=c) for b, c in zip(targets[code], countries)))
        for code in targets
    )
    spec = Spec(
        path="x.sil", root="/tmp", study=Study(name="t", seed=3),
        surveys={"s": Survey(name="s", items=items)},
        parsers={"p": Parser(name="p")},
        models={"m": Model(name="m", backend="replay", model_id="m")},
        conditions={"a": Condition(name="a", model="m", items=tuple(i.id for i in items), parser="p",
                                   prompt=Template("t", "x"), countries=countries, answers="option_probs")},
        calibrations={"tilt": Calibration(name="tilt", fit="leave_one_out")},
        analysis=Analysis(metrics=(Metric("variance"),), calibrations=(CalibrationUse(condition="a", calibration="tilt"),)),
    )
    records = [
        AnswerRecord(
            request_id=f"{item}{country}", condition="a", model="m", model_id="m", item=f"s.{item}",
            persona=country, country=country, replicate=0, answers="option_probs", params={}, prompt_hash="",
            outcome="ok", option_probs=dict(zip(CODES3, SIM)), valid_mass=1.0,
        )
        for item in targets for country in countries
    ]
    results = analyse(spec, records)
    (calibration,) = results.calibrations
    assert calibration.held_out == "question"
    assert [(i.item, i.country) for i in calibration.items] == [
        ("Q1", "AAA"), ("Q1", "BBB"), ("Q1", "CCC"), ("Q2", "AAA"), ("Q2", "BBB"), ("Q2", "CCC")
    ]
    q1 = {i.temperature for i in calibration.items if i.item == "Q1"}
    q2 = {i.temperature for i in calibration.items if i.item == "Q2"}
    assert q1 == {1.0}  # fitted on Q2 only: the narrow rows win the median
    grid_top = float(default_grid().max())
    assert q2 == {grid_top}  # fitted on Q1 (NV 0.8): no T on the grid reaches it
    assert [i.grid_edge for i in calibration.items] == [None] * 3 + ["high"] * 3
    (warning,) = [w for w in results.warnings if w.kind == "calibration_grid_edge"]
    assert warning.severity == "high" and "3 of 6 rows: Q2/AAA (T = 8)" in warning.message
    table = md_calibration(results)
    assert "each question held out with all its countries" in table
    assert "| Q2 | AAA | 8.00 (grid max) |" in table
    from silspec.report.html import to_html

    page = to_html(results, plots=False)
    assert "<h2>Calibration</h2>" in page and "<td>8.00 (grid max)</td>" in page
