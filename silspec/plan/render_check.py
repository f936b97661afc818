"""Lint's last pass: render every template for every item with the plan's own renderer.

The checker renders templates with a sample persona (SIL60x), but it cannot import the plan's
option tokens and item context, and a template that the checker accepts must never fail at
``plan`` (``{% for c, l in item.options %}`` did: options are tokens in a plan). So ``silspec
lint`` ends with this pass: for every condition, role, item and distinct persona shape (its
attribute names, descriptor text or not, country), the plan's ``Renderer`` renders once. A
template shared by conditions renders once per distinct (template, item view, persona shape).

Personas come from the plan's sampler on a population capped at ``SAMPLE_CAP`` personas (the
same attributes; sampling ten million personas to learn their shape would take minutes).
"""

from __future__ import annotations

from typing import Any, Hashable

from attrs import evolve

from silspec.lang.diagnostics import Diagnostic, diagnostic
from silspec.plan import options as opt
from silspec.plan import PersonaSampler, Renderer
from silspec.plan.compile import build_plan_item
from silspec.plan.errors import PlanError
from silspec.plan.model import Persona
from silspec.spec.model import Condition, Spec, Template

SAMPLE_CAP = 200  # personas sampled per population to find their shapes


def render_diagnostics(spec: Spec) -> list[Diagnostic]:
    """SIL604 for each (condition, role) whose template fails to render in the plan's context."""
    renderer = Renderer(spec)
    sampler = PersonaSampler(_capped(spec))
    rendered: set[Hashable] = set()
    out: list[Diagnostic] = []
    for cond in spec.conditions.values():
        try:
            personas = _shapes([p for group in sampler.personas_for(cond) for p in group.personas()])
        except PlanError as exc:
            pop = spec.populations.get(cond.population or "")
            if pop is not None and getattr(pop, "external", None) is not None:
                continue  # microdata not provided: SIL703 already says so; the checker's sample render stands
            out.append(diagnostic("SIL604", f"condition `{cond.name}`: its personas cannot be sampled: {exc}", cond.span))
            continue
        for role in ("system", "prompt"):
            template: Template | None = getattr(cond, role)
            if template is not None:
                problem = _render_all(spec, renderer, cond, role, template, personas, rendered)
                if problem is not None:
                    out.append(problem)
    return out + _population_notes(spec, sampler)


def _population_notes(spec: Spec, sampler) -> list[Diagnostic]:
    """SIL424: what sampling each row population dropped or could not describe, at the first
    condition that uses it (lint samples at most SAMPLE_CAP personas; `plan` prints the full)."""
    first_use = {}
    for cond in spec.conditions.values():
        if cond.population:
            first_use.setdefault(cond.population, cond)
    out = []
    for summary in sampler.summaries.values():
        cond = first_use.get(summary.population)
        pop = spec.populations.get(summary.population)
        capped = pop is not None and pop.size is not None and pop.size > SAMPLE_CAP
        for line in summary.lines():
            out.append(diagnostic("SIL424", line + (f" (lint sampled {SAMPLE_CAP})" if capped else ""),
                                  cond.span if cond is not None else None,
                                  "`silspec plan` lists these for the full plan; the report repeats them"))
    return out


def _render_all(spec: Spec, renderer: Renderer, cond: Condition, role: str, template: Template,
                personas: list[Persona], rendered: set) -> Diagnostic | None:
    span = template.span or cond.span
    try:
        compiled = renderer.template(cond, role, template)
    except PlanError as exc:
        return diagnostic("SIL604", f"`{role}` of condition `{cond.name}`: {exc}", span)
    for item_id in cond.items:
        item = spec.item(item_id)
        plan_item = build_plan_item(item)
        letters = opt.uses_letters(plan_item.codes, cond.option_labels)
        order = "fixed" if cond.option_order == "shuffled" else cond.option_order  # same shape in every order
        presented = opt.presented_codes(plan_item.codes, order)
        try:
            item_ctx, _ = renderer.item_context(item, plan_item, presented, letters, cond.answers)
        except PlanError as exc:
            return diagnostic("SIL604", f"`{role}` of condition `{cond.name}`, item `{item_id}`: {exc}", span)
        for persona in personas:
            key = (template.source, item_id, presented, letters, cond.answers, _shape(persona), cond.name
                   if "condition" in compiled.names else "")
            if key in rendered:
                continue
            rendered.add(key)
            context, keys = renderer.context(cond, item, presented, persona, item_ctx)
            try:
                compiled.render(context, keys)
            except PlanError as exc:
                who = f", persona `{persona.id}`" if cond.population is not None else ""
                where = f", country `{persona.country}`" if persona.country else ""
                return diagnostic("SIL604", f"`{role}` of condition `{cond.name}` fails to render for item "
                                       f"`{item_id}`{who}{where}: {exc}", span,
                             "lint renders every item as `plan` will; item.options are the answer tokens "
                             "shown (\"1\", \"2\" or \"A\", \"B\"), item.labels their labels")
    return None


def _shape(persona: Persona) -> Hashable:
    return (tuple(sorted(persona.attributes)), persona.text is None, persona.country)


def _shapes(personas: list[Persona]) -> list[Persona]:
    """The first persona of each distinct shape."""
    seen: dict[Hashable, Persona] = {}
    for persona in personas:
        seen.setdefault(_shape(persona), persona)
    return list(seen.values())


def _capped(spec: Spec) -> Spec:
    populations: dict[str, Any] = {}
    for name, pop in spec.populations.items():
        size = getattr(pop, "size", None)
        populations[name] = evolve(pop, size=SAMPLE_CAP) if size and size > SAMPLE_CAP else pop
    return evolve(spec, populations=populations)
