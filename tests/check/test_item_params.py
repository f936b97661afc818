"""`params ITEM { ... }` in conditions: merged, inherited key by key, checked with did-you-mean."""

from __future__ import annotations

from silspec.spec.load import load_spec

from .golden import ENV
from .inline import INVALID, VALID, lint


def test_item_params_merge_and_inherit_key_by_key():
    spec = load_spec(str(VALID / "country_names.sil"), env=ENV).spec
    base, hotter = spec.conditions["base"], spec.conditions["hotter"]
    assert base.item_params == {"s.Q2": {"thinking": "medium"}}
    assert hotter.item_params == {"s.Q2": {"thinking": "medium", "temperature": 1.0}}
    model = spec.models["m"].params
    assert base.params_for("s.Q1", model) == {"temperature": 0.7, "thinking": "short"}
    assert base.params_for("s.Q2", model) == {"temperature": 0.7, "thinking": "medium"}


def test_item_params_name_unknown_items_and_keys_with_did_you_mean():
    result = load_spec(str(INVALID / "item_params.sil"), env=ENV)
    by_code = {d.code: d for d in result.diagnostics}
    assert "`Q3` is not an item of condition `c`" in by_code["SIL301"].message
    assert by_code["SIL301"].hint == "its items: Q1"
    assert by_code["SIL102"].hint == "did you mean `thinking`?"
    assert not result.ok


def test_item_params_for_an_item_the_child_drops_are_ignored():
    result = lint("condition a { model = m  population = p  items = sv.*  prompt = tp  parser = fi\n"
                  '  params Q2 { thinking = "medium" } }\n'
                  "condition b extends a { items = [sv.Q1] }\n"
                  "analysis { metric js {} }\n")
    assert result.ok, result.diagnostics
    assert result.spec.conditions["b"].item_params == {}
    assert result.spec.conditions["a"].item_params == {"sv.Q2": {"thinking": "medium"}}
