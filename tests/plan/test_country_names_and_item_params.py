"""Plans with country display names and per-item model parameters."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from silspec.plan.compile import compile_plan
from silspec.plan.hashing import request_id
from silspec.plan.model import request_params
from silspec.plan.serialize import plan_to_json, read_plan_json
from silspec.spec.load import load_spec, load_text
from silspec.spec.model import evolve

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "sil" / "valid" / "country_names.sil"
ENV = {"HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def spec():
    result = load_spec(os.fspath(FIXTURE), env=ENV)
    assert result.ok, result.diagnostics
    return result.spec


@pytest.fixture(scope="module")
def plan(spec):
    return compile_plan(spec)


def by_cell(plan):
    return {(r.condition, r.item, r.persona): r for r in plan.requests}


def test_templates_see_the_country_display_name(plan):
    cells = by_cell(plan)
    assert cells[("base", "s.Q1", "JPN")].messages[-1].content.startswith("You live in Japan (JPN).")
    assert cells[("base", "s.Q1", "KOR")].messages[-1].content.startswith("You live in South Korea (KOR).")


def test_a_country_without_a_name_shows_its_code(spec):
    unnamed = evolve(spec, study=evolve(spec.study, countries={"JPN": "Japan"}))
    cells = by_cell(compile_plan(unnamed))
    assert cells[("base", "s.Q1", "KOR")].messages[-1].content.startswith("You live in KOR (KOR).")


def test_item_overrides_reach_the_request_and_its_id(spec, plan):
    cells = by_cell(plan)
    model = plan.header.models["m"]
    plain, medium = cells[("base", "s.Q1", "JPN")], cells[("base", "s.Q2", "JPN")]
    assert plain.params is None and request_params(plain, model) == {"temperature": 0.7, "thinking": "short"}
    assert request_params(medium, model) == {"temperature": 0.7, "thinking": "medium"}
    assert request_params(cells[("hotter", "s.Q2", "JPN")], model) == {"temperature": 1.0, "thinking": "medium"}
    # the streamed id equals the reference definition with the merged parameters
    assert medium.id == request_id(
        backend="openai", model_id="gpt-x", params={"temperature": 0.7, "thinking": "medium"},
        answers=medium.answers, option_codes=medium.option_codes, option_tokens=medium.option_tokens,
        messages=medium.messages, replicate=0, seed=medium.seed, key=("base", "s.Q2", "JPN"),
    )
    without = compile_plan(evolve(spec, conditions={
        n: evolve(c, item_params={}) for n, c in spec.conditions.items()}))
    before = by_cell(without)
    assert before[("base", "s.Q1", "JPN")].id == plain.id  # other items keep their ids
    assert before[("base", "s.Q2", "JPN")].id != medium.id  # the overridden item does not


def test_overrides_are_recorded_in_the_header(plan):
    assert plan.header.conditions["base"].item_params == {"s.Q2": {"thinking": "medium"}}
    assert plan.header.conditions["hotter"].item_params == {"s.Q2": {"thinking": "medium", "temperature": 1.0}}


def test_plan_json_round_trips_overrides_and_omits_absent_ones(plan):
    text = plan_to_json(plan)
    back = read_plan_json(io.StringIO(text))
    assert back == plan
    lines = text.splitlines()
    q1 = next(line for line in lines if '"item":"s.Q1"' in line)
    q2 = next(line for line in lines if '"item":"s.Q2"' in line)
    assert '"params"' not in q1 and '"params":{"temperature":0.7,"thinking":"medium"}' in q2


def test_set_can_change_an_item_override():
    text = FIXTURE.read_text(encoding="utf-8")
    result = load_text(text, os.fspath(FIXTURE), ["condition.base.params.Q2.thinking=\"long\""], env=ENV)
    assert result.ok, result.diagnostics
    assert result.spec.conditions["base"].item_params == {"s.Q2": {"thinking": "long"}}


def test_text_summary_lists_per_item_params(capsys):
    from silspec.cli.main import main

    assert main(["plan", os.fspath(FIXTURE)]) == 0
    out = capsys.readouterr().out
    assert "per-item params: base · s.Q2: thinking=medium" in out
    assert "per-item params: hotter · s.Q2: temperature=1.0, thinking=medium" in out
