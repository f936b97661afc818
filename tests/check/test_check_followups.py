"""Language follow-ups: benchmark coverage, country names, per-item params, reviewer checks."""

from __future__ import annotations

import pytest

from silspec.plan.spec_hash import canonical_spec
from silspec.spec.load import load_spec, load_text

from .golden import ENV, FIXTURES

VALID = FIXTURES / "valid"
INVALID = FIXTURES / "invalid"

HEAD = """silspec 1
study s {{ seed = 1 {study} }}
scale five {{ 1 = "a"  2 = "b"  3 = "c"  4 = "d"  5 = "e" }}
survey sv {{
  item Q1 {{ text = "q1"  scale = five  benchmark = [0.2, 0.2, 0.2, 0.2, 0.2] }}
  item Q2 {{ text = "q2"  scale = five  benchmark = [0.2, 0.2, 0.2, 0.2, 0.2] }}
}}
persona ps {{ gender = {{ "m": 0.5, "f": 0.5 }} }}
population p {{ persona = ps  size = 10  sampling = stratified }}
template tp = "{template}"
parser fi {{ extract = first_integer }}
model m {{ backend = openai  name = "x" {model} }}
"""


def lint(body: str, *, study: str = "", model: str = "", template: str = "{{ item.text }}"):
    text = HEAD.format(study=study, model=model, template=template) + body
    return load_text(text, str(INVALID / "inline.sil"), env=ENV)


def codes(result) -> list[str]:
    return sorted(d.code for d in result.diagnostics)


def message(result, code: str) -> str:
    return next(d.message for d in result.diagnostics if d.code == code)


# ------------------------------------------------------------------------- SIL413 coverage


def test_missing_cells_are_listed_up_to_five_with_the_count():
    result = load_spec(str(INVALID / "coverage_gaps.sil"), env=ENV)
    text = message(result, "SIL413")
    assert "condition `full`: 7 of 10 country × item cells have no benchmark" in text
    assert "KOR Q2, USA Q1, USA Q2, GBR Q1, GBR Q2 and 2 more" in text
    assert "FRA" not in text  # beyond the five shown
    assert result.ok  # a warning: the spec still runs


def test_condition_whose_countries_are_all_covered_is_silent():
    result = load_spec(str(INVALID / "coverage_gaps.sil"), env=ENV)
    assert [d for d in result.diagnostics if d.code == "SIL413" and "covered" in d.message] == []


def test_country_less_benchmarks_do_not_cover_country_cells_and_the_hint_says_why():
    result = lint('condition c { model = m  countries = ["JPN"]  items = sv.*  prompt = tp  parser = fi }\n'
                  "analysis { metric js {} }\n")
    d = next(d for d in result.diagnostics if d.code == "SIL413")
    assert "JPN Q1, JPN Q2" in d.message and "matched by country" in d.hint


def test_shipped_first_token_spec_shows_the_egypt_gaps():
    root = FIXTURES.parent.parent.parent
    result = load_spec(str(root / "specs" / "wvs_first_token.sil"), env=ENV)
    assert result.ok
    text = message(result, "SIL413")
    assert "zs_africa" in text and "EGY Q69" in text and "EGY Q71" in text


# ---------------------------------------------------------------------- country names


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


# -------------------------------------------------------------------- per-item params


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


# -------------------------------------------------------------------- reviewer checks


@pytest.mark.parametrize("resamples, warned", [(100, True), (199, True), (200, False), (1000, False)])
def test_small_bootstrap_warns(resamples, warned):
    result = lint("condition a { model = m  population = p  items = sv.*  prompt = tp  parser = fi }\n"
                  f"analysis {{ metric js {{}}  bootstrap {{ resamples = {resamples} }} }}\n")
    assert ("SIL907" in codes(result)) is warned


def test_compare_over_different_items_warns_unless_left_out():
    body = ("condition a { model = m  population = p  items = sv.*  prompt = tp  parser = fi }\n"
            "condition b extends a { items = [sv.Q1] }\n")
    warned = lint(body + "analysis { metric js {}  compare b vs a on js }\n")
    assert "Q2 only in `a`" in message(warned, "SIL908")
    quiet = lint(body + "analysis { metric js {}  compare b vs a on js without Q2 }\n")
    assert "SIL908" not in codes(quiet)


def test_compare_over_different_countries_warns():
    body = ('condition a { model = m  population = p  countries = ["JPN"]  items = sv.*  prompt = tp  parser = fi }\n'
            'condition b extends a { countries = ["KOR"] }\n'
            "analysis { metric js {}  compare b vs a on js }\n")
    assert "countries differ: JPN, KOR" in message(lint(body), "SIL908")


@pytest.mark.parametrize("budget, warned", [("max_tokens = 12", True), ("max_completion_tokens = 39", True),
                                            ("max_tokens = 40", False), ("", False)])
def test_verbalised_token_budget(budget, warned):
    body = ("condition a { model = m  population = p  items = sv.*  prompt = tp  parser = fi  answers = verbalised }\n"
            "analysis { metric js {} }\n")
    assert ("SIL809" in codes(lint(body, model=budget))) is warned


def test_sampled_answers_with_a_small_budget_are_fine():
    body = ("condition a { model = m  population = p  items = sv.*  prompt = tp  parser = fi }\n"
            "analysis { metric js {} }\n")
    assert "SIL809" not in codes(lint(body, model="max_tokens = 5"))


@pytest.mark.parametrize("default", [None, "a", "b"])
def test_coverage_index_agrees_with_the_analysis_lookup(default):
    from silspec.check.rules.coverage import has_benchmark
    from silspec.spec.model import Benchmark, Category, Item, Scale

    scale = Scale("yn", (Category(1, "y"), Category(2, "n")))
    item = Item("s.Q", "Q", "s", "q", scale, default_benchmark=default, benchmarks=(
        Benchmark("a", (0.5, 0.5), country="JPN"), Benchmark("b", (0.5, 0.5)), Benchmark("b", (0.5, 0.5), country="KOR")))
    for wanted in (None, "a", "b", "c"):
        for country in (None, "JPN", "KOR", "USA"):
            reference = item.benchmark(wanted, country) is not None or (
                wanted is not None and item.benchmark(None, country) is not None)
            assert has_benchmark(item, wanted, country) is reference, (wanted, country)


# ------------------------------------------------------------ SIL82x: options the prompt shows


def test_label_shown_reads_literals_ranges_and_letter_markers():
    from silspec.check.rules.options import label_shown

    integer_prompt = "Divorce (1 = never, 10 = always)\nRespond with ONLY the single integer (1-10):"
    assert all(label_shown(str(code), integer_prompt) for code in range(1, 11))
    assert not label_shown("11", integer_prompt)
    assert not label_shown("1", "Q10 asks about 10 things")  # "1" inside Q10 / 10 is not shown
    # letters count only as option markers or a letter range, not as English words
    assert not label_shown("A", "A great deal of choice")
    assert not label_shown("I", "I'd like your view")
    assert label_shown("A", "(A) yes (B) no") and label_shown("B", "A) yes\nB) no")
    assert label_shown("C", "A=yes, B=no, C=maybe") and label_shown("E", "Answer with a letter A-J.")
    assert not label_shown("K", "Answer with a letter A-J.")
