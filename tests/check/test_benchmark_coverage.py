"""SIL413: condition x country x item cells without a benchmark, listed with their count."""

from __future__ import annotations

from silspec.spec.load import load_spec

from .golden import ENV, FIXTURES
from .inline import INVALID, lint, message


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
