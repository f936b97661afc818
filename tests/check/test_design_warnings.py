"""Warnings about the design: small bootstraps, comparisons that do not pair, verbalised budgets."""

from __future__ import annotations

import pytest

from .inline import codes, lint, message


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
