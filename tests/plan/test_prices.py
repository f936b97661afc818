"""`price_input_per_mtok` / `price_output_per_mtok`: checked, carried to the runner, never hashed."""

from __future__ import annotations

from pathlib import Path

from silspec.plan.compile import compile_plan
from silspec.plan.spec_hash import spec_hash
from silspec.spec.load import load_spec

SPEC = str(Path(__file__).resolve().parents[1] / "fixtures" / "sil" / "valid" / "kgss_like.sil")
ENV = {"HF_HUB_OFFLINE": "1"}
PRICES = ["model.gpt52.price_input_per_mtok=1.75", "model.gpt52.price_output_per_mtok=14"]


def test_prices_land_in_model_and_plan_options():
    result = load_spec(SPEC, PRICES, env=ENV)
    assert result.ok, result.diagnostics
    assert result.spec.models["gpt52"].options == {"price_input_per_mtok": 1.75, "price_output_per_mtok": 14}
    plan = compile_plan(result.spec, limit=5)
    assert plan.header.models["gpt52"].options["price_output_per_mtok"] == 14


def test_prices_change_neither_request_ids_nor_spec_hash():
    plain = load_spec(SPEC, env=ENV).spec
    priced = load_spec(SPEC, PRICES, env=ENV).spec
    assert [r.id for r in compile_plan(plain).requests] == [r.id for r in compile_plan(priced).requests]
    assert spec_hash(plain) == spec_hash(priced)


def test_bad_prices_are_errors():
    codes = lambda *o: [d.code for d in load_spec(SPEC, list(o), env=ENV).diagnostics if d.severity == "error"]
    assert codes("model.gpt52.price_input_per_mtok=-1") == ["SIL203"]
    assert codes('model.gpt52.price_input_per_mtok="cheap"') == ["SIL201"]
    assert codes("model.gpt52.price_inptu_per_mtok=1") == ["SIL102"]
