"""Tokens and cost per condition: the price's source, local/replay 0, unknown never a silent 0."""

import pytest
from attrs import evolve

from silspec.analysis.pipeline import analyse
from silspec.run.prices import price_for, shipped_prices
from silspec.report.export import md_usage
from silspec.report.format import cost_text
from silspec.spec.model import Model

from tests.analysis.test_pipeline import answers_for, make_spec


def with_models(spec, **models):
    return evolve(spec, models={**spec.models, **models})


def tokens(records, prompt, completion, **meta):
    return [evolve(r, prompt_tokens=prompt, completion_tokens=completion, meta=dict(meta)) for r in records]


def test_shipped_price_names_its_page_and_date_and_costs_the_tokens():
    spec = with_models(make_spec(conditions=("a",)), a=Model(name="a", backend="openai", model_id="gpt-4o-mini"))
    results = analyse(spec, tokens(answers_for("a", "Q1", [1, 2, 3]), 1000, 10))
    (usage,) = results.usage
    assert (usage.answers, usage.prompt_tokens, usage.completion_tokens) == (3, 3000, 30)
    assert usage.price_source == "prices file" and usage.cost == pytest.approx((3000 * 0.15 + 30 * 0.60) / 1e6)
    table = shipped_prices()["openai"]
    assert table["url"] in usage.price_detail and table["as_of"] in usage.price_detail
    assert not [w for w in results.warnings if w.kind in ("price_unknown", "tokens_missing")]


def test_a_dated_snapshot_id_finds_its_model_and_batch_answers_get_the_discount():
    model = Model(name="a", backend="openai", model_id="gpt-4o-mini-2024-07-18")
    assert price_for(model).input == 0.15
    spec = with_models(make_spec(conditions=("a",)), a=model)
    results = analyse(spec, tokens(answers_for("a", "Q1", [1, 2]), 1000, 0, batch_id="b1"))
    assert results.usage[0].cost == pytest.approx(2 * 1000 * 0.15 / 1e6 * 0.5)


def test_the_model_block_price_wins_and_is_named():
    model = Model(name="a", backend="openai", model_id="gpt-4o-mini",
                  options={"price_input_per_mtok": 1.0, "price_output_per_mtok": 2.0})
    spec = with_models(make_spec(conditions=("a",)), a=model)
    (usage,) = analyse(spec, tokens(answers_for("a", "Q1", [1]), 500_000, 250_000)).usage
    assert usage.price_source == "spec" and usage.cost == pytest.approx(1.0)


def test_unknown_price_is_unknown_with_a_warning_never_zero():
    spec = with_models(make_spec(conditions=("a",)), a=Model(name="a", backend="clova", model_id="HCX-007"))
    results = analyse(spec, tokens(answers_for("a", "Q1", [1, 2]), 100, 5))
    (usage,) = results.usage
    assert usage.cost is None and usage.price_source == "unknown" and cost_text(usage) == "unknown"
    (warning,) = [w for w in results.warnings if w.kind == "price_unknown"]
    assert "HCX-007" in warning.message and "price_input_per_mtok" in warning.message
    assert "| a | HCX-007 | 2 | 200 | 10 | unknown | unknown |" in md_usage(results)


def test_local_models_cost_zero_and_say_local():
    spec = with_models(make_spec(conditions=("a",)), a=Model(name="a", backend="hf", model_id="smollm2"))
    (usage,) = analyse(spec, tokens(answers_for("a", "Q1", [1]), 40, 1)).usage
    assert usage.cost == 0.0 and usage.price_source == "local" and "local" in usage.price_detail


def test_answers_without_token_counts_make_the_cost_a_lower_bound_said_so():
    spec = with_models(make_spec(conditions=("a",)), a=Model(name="a", backend="openai", model_id="gpt-4o"))
    records = tokens(answers_for("a", "Q1", [1, 2]), 1000, 10) + answers_for("a", "Q2", [1], errors=1)
    results = analyse(spec, records)
    (usage,) = results.usage
    # the Q2 answer came back without counts; the failed request is not billed
    assert usage.without_tokens == 1 and usage.cost_is_lower_bound and cost_text(usage).startswith("≥ ")
    assert any(w.kind == "tokens_missing" and "1 of 4" in w.message for w in results.warnings)


def test_cached_answers_cost_nothing_in_this_run():
    spec = with_models(make_spec(conditions=("a",)), a=Model(name="a", backend="openai", model_id="gpt-4o"))
    records = tokens(answers_for("a", "Q1", [1]), 1000, 0) + tokens(answers_for("a", "Q2", [1]), 1000, 0,
                                                                     cached_from={"run": "old"})
    (usage,) = analyse(spec, records).usage
    assert usage.cached == 1 and usage.prompt_tokens == 1000 and usage.cost == pytest.approx(1000 * 2.5 / 1e6)
