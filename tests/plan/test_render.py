import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silspec.plan.errors import PlanError
from silspec.plan.render import CompiledTemplate, make_environment

CONTEXT = {
    "persona": {"id": "P001", "text": None, "age": "20대", "gender": "여성"},
    "item": {"text": "귀하는 국회를 얼마나 신뢰하십니까?", "scale_labels": "1=매우 신뢰, 2=보통"},
    "country": "KOR",
    "study": {"name": "kgss", "title": "", "language": "ko"},
    "condition": {"name": "baseline"},
}
KEYS = {"persona": "P001", "item": "CONLEGIS", "country": "KOR", "study": 0, "condition": "baseline"}


def render(source, context=CONTEXT, keys=KEYS):
    return CompiledTemplate(make_environment(), "t", source).render(context, keys)


def test_template_reaching_python_internals_is_a_plan_error():
    with pytest.raises(PlanError, match=r"template 't'.*sandbox.*__class__"):
        render("{{ ''.__class__.__mro__ }}")


def test_unknown_attribute_is_strict():
    with pytest.raises(PlanError, match="undefined variable.*nope"):
        render("{{ persona.nope }}")


def test_unknown_top_level_variable_names_it():
    with pytest.raises(PlanError, match="'secret'"):
        CompiledTemplate(make_environment(), "t", "{{ secret }}")


def test_syntax_error_is_a_plan_error():
    with pytest.raises(PlanError, match="does not parse"):
        CompiledTemplate(make_environment(), "t", "{{ persona.age ")


def test_korean_text_is_preserved():
    assert render("{{ persona.age }} {{ item.text }}") == "20대 귀하는 국회를 얼마나 신뢰하십니까?"


def test_persona_segment_is_rendered_once_per_persona_key():
    """A segment that reads the persona only by field is cached by those fields' values (a
    million personas drawn from a few hundred combinations render a few hundred times); one
    that reads the persona any other way is cached by the persona's key."""
    template = CompiledTemplate(make_environment(), "t", "{{ persona.age }}|{{ item.text }}")
    assert [s.names for s in template._segments] == [("persona",), ("item",)]
    assert template._segments[0].fields == ("age",)
    first = template.render(CONTEXT, KEYS)
    changed = {**CONTEXT, "persona": {**CONTEXT["persona"], "age": "99대"}}
    assert template.render(changed, KEYS).startswith("99대|")  # the value is the key
    calls = []
    segment = template._segments[0]
    render = segment.render
    segment.render = lambda ctx: calls.append(1) or render(ctx)
    other = {**CONTEXT, "persona": {**CONTEXT["persona"], "id": "P777"}}
    assert template.render(other, {**KEYS, "persona": "P777"}) == first and not calls  # shared
    whole = CompiledTemplate(make_environment(), "t", "{{ persona | length }}|{{ item.text }}")
    assert whole._segments[0].fields is None
    once = whole.render(CONTEXT, KEYS)
    bigger = {**CONTEXT, "persona": {**CONTEXT["persona"], "extra": "x"}}
    # Same key => cached output: the key is the contract for "same persona".
    assert whole.render(bigger, KEYS) == once
    assert whole.render(bigger, {**KEYS, "persona": "P002"}) != once


def test_templates_that_set_names_are_not_split():
    template = CompiledTemplate(
        make_environment(), "t", "{% set a = persona.age %}{{ item.text }} {{ a }}"
    )
    assert len(template._segments) == 1
    assert template.render(CONTEXT, KEYS).endswith(" 20대")


PIECES = [
    "{{ persona.age }}", "{{ item.text }}", " 질문: ", "\n", "{{ country }}",
    "{% if persona.gender == '여성' %}F{% else %}M{% endif %}",
    "{% for x in [1, 2] %}{{ x }}{{ item.scale_labels }}{% endfor %}",
    "{{ persona.age ~ item.text }}", "{{ study.name | upper }}", "{{ condition.name }}",
    "{%- if country %} in {{ country }} {% endif -%}",
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=8))
def test_segmented_render_equals_a_whole_render(pieces):
    source = "".join(pieces)
    whole = make_environment().from_string(source).render(**CONTEXT)
    assert render(source) == whole
