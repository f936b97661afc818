"""docs/templates.md documents exactly the variables a template sees, with values a plan renders.

The variables are read from the real contexts (the plan's renderer and lint's
``template_context``) of two shipped specs; the doc's tables are parsed, so a variable added to
or dropped from the context without the doc (or the other way round) fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from silspec import api
from silspec.templating.context import TOP_LEVEL, item_context
from silspec.plan import compile as plan_compile
from silspec.plan import options as opt

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "templates.md").read_text(encoding="utf-8")


def documented() -> set[str]:
    """Every `name` in the first cell of a table row, plus `study.x` and `condition.x` named in the prose."""
    names: set[str] = set()
    for line in DOC.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z_.<>]+)`", line.split("|")[1]))
    names.update(re.findall(r"`((?:study|condition)\.[a-z_]+)`", DOC))
    return names


def first_request_context(spec_path: str) -> tuple[dict, object]:
    spec = api.load_spec(str(ROOT / spec_path))
    header = api.make_plan(spec).header
    renderer = plan_compile._Renderer(spec)
    name, pc = next(iter(header.conditions.items()))
    condition = spec.conditions[name]
    item = spec.item(pc.items[0])
    plan_item = header.items[item.id]
    persona = header.personas[pc.persona_ids[0]]
    letters = opt.uses_letters(plan_item.codes, condition.option_labels)
    presented = opt.presented_codes(plan_item.codes, condition.option_order)
    item_ctx, _ = renderer.item_context(item, plan_item, presented, letters, condition.answers)
    context, _ = renderer.context(condition, item, presented, persona, item_ctx)
    return context, (spec, item, persona)


@pytest.fixture(scope="module")
def gss():
    return first_request_context("examples/gss_confidence.sil")


@pytest.fixture(scope="module")
def wvs():
    return first_request_context("specs/wvs_first_token.sil")


def test_documented_variables_are_exactly_the_contexts(gss):
    context, (spec, item, persona) = gss
    offered = set(context)
    offered |= {f"study.{k}" for k in context["study"]} | {f"condition.{k}" for k in context["condition"]}
    offered |= {f"item.{k}" for k in context["item"] if k not in item.fields} | {"item.<field>"}
    offered |= {f"persona.{k}" for k in context["persona"] if k not in persona.attributes} | {"persona.<attribute>"}
    assert documented() == offered
    assert set(TOP_LEVEL) == set(context)  # lint's list of names agrees with the plan's context


def test_lint_item_context_offers_the_same_item_variables(gss):
    context, (spec, item, _) = gss
    assert set(item_context(item)) == set(context["item"])


@pytest.mark.parametrize("fixture,column", [("gss", 3), ("wvs", 4)])
def test_documented_examples_are_the_rendered_values(request, fixture, column):
    context, _ = request.getfixturevalue(fixture)
    rows = {}
    for line in DOC.splitlines():
        if line.startswith("| `item.") or line.startswith("| `persona.id"):
            cells = [c.strip() for c in line.split("|")]
            rows[cells[1]] = cells[column]
    item = context["item"]
    for key in ("id", "code", "scale_labels"):
        assert rows[f"`item.{key}`"] == f"`{item[key]}`"
    for key in ("codes", "labels", "options"):
        assert rows[f"`item.{key}`"] == f"`{item[key]!r}`"
    assert rows["`item.min`, `item.max`"] == f"`{item['min']}`, `{item['max']}`"
    assert rows["`persona.id`"] == f"`{context['persona']['id']}`"


def test_the_rendered_example_is_what_plan_renders():
    spec = api.load_spec(str(ROOT / "examples" / "gss_confidence.sil"))
    request = api.make_plan(spec).requests[0]
    user = request.messages[-1].content
    assert f"```text\n{user}\n```" in DOC
    assert "- Age: 18-34" in user  # the persona the tables describe (P001)


LANGUAGE = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")


def language_table() -> dict[str, str]:
    """docs/language.md's template-variable table: each documented name -> its example cell."""
    section = LANGUAGE.split("Every variable a template sees", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.split("|")]
            for name in re.findall(r"`([a-z_.<>]+)`", cells[1]):
                rows[name] = cells[3]
    return rows


def test_language_md_lists_every_variable_of_the_render_context(gss):
    """The short table in docs/language.md names exactly what the plan's context offers."""
    context, (spec, item, persona) = gss
    offered = {k for k in context if k not in ("persona", "item", "study", "condition")}
    offered |= {f"study.{k}" for k in context["study"]} | {f"condition.{k}" for k in context["condition"]}
    offered |= {f"item.{k}" for k in context["item"] if k not in item.fields} | {"item.<field>"}
    offered |= {f"persona.{k}" for k in context["persona"] if k not in persona.attributes} | {"persona.<attribute>"}
    assert set(language_table()) == offered


def test_language_md_examples_are_the_rendered_values(gss, wvs):
    rows = language_table()
    context, _ = gss
    item = context["item"]
    for key in ("id", "code", "scale_labels"):
        assert rows[f"item.{key}"] == f"`{item[key]}`"
    for key in ("codes", "labels"):
        assert rows[f"item.{key}"] == f"`{item[key]!r}`"
    assert rows["item.options"].startswith(f"`{item['options']!r}`")
    assert f"`{wvs[0]['item']['options']!r}`" in rows["item.options"]
    assert rows["persona.id"] == f"`{context['persona']['id']}`"
    assert f"`{context['persona']['age_group']}`" in rows["persona.<attribute>"]
    assert rows["condition.name"] == f"`{context['condition']['name']}`"
    assert f"`{wvs[0]['country_name']}`" in rows["country_name"] and f"`{wvs[0]['country']}`" in rows["country"]
