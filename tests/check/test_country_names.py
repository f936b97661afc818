"""Country display names (`study.countries`): tables, inline maps, errors, the spec hash."""

from __future__ import annotations

from silspec.plan.spec_hash import canonical_spec
from silspec.spec.load import load_spec, load_text

from .golden import ENV, FIXTURES
from .inline import HEAD, INVALID, VALID, codes, lint


def test_country_names_from_a_table_with_an_iso3_column():
    result = load_spec(str(VALID / "country_names.sil"), env=ENV)
    assert result.ok, result.diagnostics
    assert result.spec.study.countries == {"JPN": "Japan", "KOR": "South Korea"}


def test_country_names_inline_map_and_lint_accepts_country_name():
    result = lint('condition c { model = m  population = p  countries = ["JPN"]  items = [sv.Q1]  prompt = tp  parser = fi }\n'
                  "analysis { metric js {} }\n",
                  study='countries = { "JPN": "Japan" }', template="{{ country_name }}: {{ item.text }}")
    assert "SIL601" not in codes(result) and "SIL605" not in codes(result)
    assert result.spec is not None and result.spec.study.countries == {"JPN": "Japan"}


def test_country_table_without_a_name_column_is_an_error(tmp_path):
    (tmp_path / "silspec.toml").write_text("")
    (tmp_path / "c.csv").write_text("code,label\nJPN,Japan\n")
    text = HEAD.format(study='countries = table("c.csv")', model="", template="{{ item.text }}")
    result = load_text(text, str(tmp_path / "x.sil"), env=ENV)
    d = next(d for d in result.diagnostics if d.code == "SIL704")
    assert "no `name` column" in d.message and "code,label" not in d.hint and "label" in d.hint


def test_country_names_of_a_wrong_type_are_a_type_error():
    result = lint("", study='countries = ["JPN"]')
    assert "SIL201" in codes(result) and not result.ok


def test_real_wvs_country_table_loads(tmp_path):
    root = FIXTURES.parent.parent.parent
    text = HEAD.format(study='countries = table("data/wvs7/countries.csv")', model="", template="{{ item.text }}")
    result = load_text(text, str(root / "specs" / "inline.sil"), env=ENV)
    assert result.ok, result.diagnostics
    names = result.spec.study.countries
    assert names["ARG"] == "Argentina" and len(names) == 64


def test_country_names_stay_out_of_the_spec_hash_when_unused():
    plain = load_spec(str(INVALID / "coverage_gaps.sil"), env=ENV).spec
    canonical = canonical_spec(plain)
    assert "countries" not in canonical["study"]
    assert all("item_params" not in c for c in canonical["conditions"].values())
    named = canonical_spec(load_spec(str(VALID / "country_names.sil"), env=ENV).spec)
    assert named["study"]["countries"] == {"JPN": "Japan", "KOR": "South Korea"}
    assert named["conditions"]["base"]["item_params"] == {"s.Q2": {"thinking": "medium"}}
