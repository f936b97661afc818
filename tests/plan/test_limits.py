"""Resource bounds at plan time: oversized templates and designs are PlanErrors, never crashes."""

from __future__ import annotations

import attrs
import pytest

from silspec.plan.compile import compile_header, compile_plan
from silspec.plan.errors import PlanError
from silspec.plan.render import CompiledTemplate, make_environment
from silspec.spec.model import Template

CONTEXT = {"persona": {"id": "P001", "gender": "여성"}, "item": {"text": "q?"}, "country": None,
           "study": {"name": "s"}, "condition": {"name": "c"}}
KEYS = {"persona": "P001", "item": "Q1", "country": None, "study": 0, "condition": "c"}


@pytest.mark.parametrize("source", [
    "{{ 'a' * 10**10 }}",
    '{{ "a"|center(1000000000) }}',
    "{{ persona.gender }}{% for i in range(100000) %}{{ item.text * 1000 }}{% endfor %}",
])
def test_oversized_template_is_a_plan_error(source):
    with pytest.raises(PlanError, match="exceeds a resource limit"):
        CompiledTemplate(make_environment(), "t", source).render(CONTEXT, KEYS)


def test_prompt_made_of_segments_is_bounded_as_a_whole():
    # persona and item parts render (and are bounded) separately; their sum is bounded too
    big = {**CONTEXT, "persona": {"id": "P001", "gender": "x" * 150_000}, "item": {"text": "y" * 150_000}}
    template = CompiledTemplate(make_environment(), "t", "{{ persona.gender }}|{{ item.text }}")
    assert len(template._segments) == 2
    with pytest.raises(PlanError, match="300,001 characters"):
        template.render(big, KEYS)


def test_plan_uses_the_checkers_bounded_sandbox():
    from silspec.templating.sandbox import BoundedSandbox
    from silspec.templating.context import make_environment as checker_environment

    assert isinstance(make_environment(), BoundedSandbox)
    assert make_environment() is checker_environment(keep_trailing_newline=False)


def test_oversized_prompt_in_a_spec_fails_the_plan(spec):
    condition = attrs.evolve(spec.conditions["baseline"], prompt=Template("", "{{ item.text|center(10**9) }}"))
    spec = attrs.evolve(spec, conditions={"baseline": condition})
    with pytest.raises(PlanError, match=r"'baseline.prompt'.*resource limit"):
        compile_plan(spec)


@pytest.mark.parametrize("size", [10**29, 10_000_001])
def test_oversized_population_is_refused_before_sampling(spec, size):
    name = spec.conditions["baseline"].population
    populations = dict(spec.populations)
    populations[name] = attrs.evolve(populations[name], size=size, sampling="random")
    with pytest.raises(PlanError, match="personas"):
        compile_header(attrs.evolve(spec, populations=populations), conditions=["baseline"])


def test_too_many_requests_is_refused(spec):
    condition = attrs.evolve(spec.conditions["baseline"], samples=10**9)
    with pytest.raises(PlanError, match="requests"):
        compile_header(attrs.evolve(spec, conditions={"baseline": condition}))


def test_memory_error_while_sampling_becomes_a_plan_error(spec, monkeypatch):
    from silspec.plan import compile as compile_module

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(compile_module._PersonaSampler, "personas_for", exhausted)
    with pytest.raises(PlanError, match="out of memory"):
        compile_header(spec, conditions=["baseline"])
