"""`condition NAME [extends OTHER] { ... }`: one arm of the design, with `params ITEM { ... }`."""

from __future__ import annotations

from typing import Any

from attrs import evolve

from silspec.check import limits, values as v
from silspec.check.blocks.common import assignments, blocks
from silspec.check.blocks.model import model_params
from silspec.check.blocks.template import template_from
from silspec.check.context import Context
from silspec.lang import ast
from silspec.lang.diagnostics import did_you_mean
from silspec.spec.model import Condition


# --------------------------------------------------------------------------------- conditions

ANSWER_MODES = ("sampled", "option_probs", "verbalised")


def effective_conditions(ctx: Context) -> dict[str, tuple[ast.Block, dict[str | int, ast.Assignment]]]:
    """Condition blocks with inherited keys merged in (parent first, child wins).

    A condition whose ``extends`` is undefined or cyclic is reported once (SIL301/SIL302) and
    left out, rather than producing a cascade of "missing key" errors."""
    by_name = {b.name: b for b in blocks(ctx.document.entries, "condition") if b.name}
    merged: dict[str, dict] = {}
    broken: set[str] = set()

    def resolve(name: str, trail: tuple[str, ...]) -> dict:
        if name in merged:
            return merged[name]
        block = by_name[name]
        own = assignments(block)
        if block.extends is None:
            merged[name] = own
            return own
        if block.extends in trail or block.extends == name:
            cycle = " -> ".join(trail + (name, block.extends))
            ctx.report("SIL302", f"`extends` cycle: {cycle}", block.extends_span, "a condition cannot inherit from itself")
            broken.add(name)
            merged[name] = own
            return own
        if block.extends not in by_name:
            ctx.undefined("condition", block.extends, block.extends_span, by_name)
            broken.add(name)
            merged[name] = own
            return own
        parent = resolve(block.extends, trail + (name,))
        if block.extends in broken:
            broken.add(name)
        result = {**parent, **own}
        merged[name] = result
        return result

    resolved = {name: (block, resolve(name, ())) for name, block in by_name.items()}
    return {name: pair for name, pair in resolved.items() if name not in broken}


def build_conditions(ctx: Context, spec_parts: dict[str, Any]) -> dict[str, Condition]:
    out = {}
    templates = spec_parts["templates"]
    by_name = {b.name: b for b in blocks(ctx.document.entries, "condition") if b.name}
    for name, (block, a) in effective_conditions(ctx).items():
        cond = _condition(ctx, name, block, a, spec_parts, templates)
        if cond is not None:
            item_params = _item_params(ctx, cond, _lineage(block, by_name))
            if item_params:
                cond = evolve(cond, item_params=item_params)
            out[name] = cond
    return out


def _lineage(block: ast.Block, by_name: dict[str, ast.Block]) -> list[ast.Block]:
    """The condition and its ancestors, root first (``extends`` is known to be acyclic here)."""
    chain = [block]
    while chain[-1].extends is not None and chain[-1].extends in by_name and len(chain) <= len(by_name):
        chain.append(by_name[chain[-1].extends])
    return chain[::-1]


def _item_params(ctx: Context, cond: Condition, lineage: list[ast.Block]) -> dict[str, dict[str, Any]]:
    """``params ITEM { key = value }`` blocks, inherited key by key (child wins).

    An item named in the condition's own block must be one of its items (SIL301 with "did you
    mean"); an inherited block for an item the child no longer asks is simply unused."""
    by_code: dict[str, list[str]] = {}
    for item_id in cond.items:
        by_code.setdefault(item_id.rpartition(".")[2], []).append(item_id)
    merged: dict[str, dict[str, Any]] = {}
    for block in lineage:
        own = block is lineage[-1]
        for sub in block.blocks("params"):
            if sub.name is None:
                continue
            code = str(sub.name)
            ids = by_code.get(code)
            if ids is None:
                if own:
                    ctx.report("SIL301", f"`params {code}`: `{code}` is not an item of condition `{cond.name}`",
                              sub.name_span, did_you_mean(code, sorted(by_code)) or f"its items: {', '.join(by_code)}")
                continue
            params = model_params(ctx, assignments(sub))
            for item_id in ids:
                merged.setdefault(item_id, {}).update(params)
    return {k: merged[k] for k in cond.items if merged.get(k)}


def _ref(ctx: Context, a: dict, key: str, kind: str, known: dict, block: ast.Block, required: bool = True) -> str | None:
    if key not in a:
        if required:
            ctx.error("SIL105", f"condition `{block.name}` has no `{key}`", block.name_span, f"name a {kind}: `{key} = NAME`")
        return None
    name = v.as_name(ctx, a[key].value, key)
    if name is not None and name not in known:
        ctx.undefined(kind, name, a[key].value.span, known)
        return None
    return name


def _condition(ctx: Context, name: str, block: ast.Block, a: dict, parts: dict, templates: dict) -> Condition | None:
    model = _ref(ctx, a, "model", "model", parts["models"], block)
    parser = _ref(ctx, a, "parser", "parser", parts["parsers"], block)
    population = _ref(ctx, a, "population", "population", parts["populations"], block, required=False)
    countries: tuple[str, ...] = ()
    if "countries" in a:
        countries = names_or_group(ctx, a["countries"].value, parts["groups"], "countries") or ()
    items = _items(ctx, a, parts["surveys"], parts["groups"], block)
    prompt = template_from(ctx, a["prompt"].value, templates) if "prompt" in a else None
    if "prompt" not in a:
        ctx.error("SIL105", f"condition `{name}` has no `prompt`", block.name_span, "the user message template: `prompt = NAME`")
    system = template_from(ctx, a["system"].value, templates) if "system" in a else None
    answers = v.as_enum(ctx, a["answers"].value, ANSWER_MODES, "answers") if "answers" in a else "sampled"
    samples = v.as_int(ctx, a["samples"].value, "samples", minimum=1, maximum=limits.MAX_SAMPLES) if "samples" in a else 1
    order = v.as_enum(ctx, a["option_order"].value, ("fixed", "shuffled", "reversed"), "option_order") if "option_order" in a else "fixed"
    labels = v.as_enum(ctx, a["option_labels"].value, ("auto", "codes", "letters"), "option_labels") if "option_labels" in a else "auto"
    benchmark = v.as_name(ctx, a["benchmark"].value, "benchmark") if "benchmark" in a else None
    replicates = (v.as_int(ctx, a["replicates"].value, "replicates", minimum=1, maximum=limits.MAX_REPLICATES)
                  if "replicates" in a else None)
    if population is None and not countries and "population" not in a:
        ctx.error("SIL105", f"condition `{name}` has neither `population` nor `countries`", block.name_span,
                  "say who answers: `population = NAME` (personas) or `countries = [...]` (country-level)")
    if None in (model, parser, prompt) or items is None:
        return None
    return Condition(
        name=name, model=model, items=items, parser=parser, prompt=prompt, system=system, population=population,
        countries=countries, answers=answers or "sampled", samples=samples or 1, option_order=order or "fixed",
        option_labels=labels or "auto", benchmark=benchmark, extends=block.extends, span=block.name_span,
        replicates=replicates,
    )


def names_or_group(ctx: Context, node: Any, groups: dict, key: str) -> tuple[str, ...] | None:
    if isinstance(node, ast.Call) and node.name == "group" and len(node.args) == 1:
        g = v.as_name(ctx, node.args[0], key)
        if g is not None and g not in groups:
            ctx.undefined("group", g, node.args[0].span, groups)
            return None
        return groups.get(g)
    if isinstance(node, ast.Ref) and len(node.parts) == 1 and node.parts[0] in groups:
        return groups[node.parts[0]]
    return v.as_str_list(ctx, node, key)


def _items(ctx: Context, a: dict, surveys: dict, groups: dict, block: ast.Block) -> tuple[str, ...] | None:
    if "items" not in a:
        ctx.error("SIL105", f"condition `{block.name}` has no `items`", block.name_span, "e.g. `items = kgss2023.*`")
        return None
    node = a["items"].value
    refs = node.elements if isinstance(node, ast.ListExpr) else (node,)
    out: list[str] = []
    for ref in refs:
        if isinstance(ref, ast.Call) and ref.name == "group":
            names = names_or_group(ctx, ref, groups, "items") or ()
            refs_ = [tuple(n.split(".")) for n in names]
        elif isinstance(ref, ast.Ref):
            refs_ = [ref.parts]
        elif isinstance(ref, ast.String):
            refs_ = [tuple(ref.value.split("."))]
        else:
            v.type_error(ctx, ref, "`survey.*` or `survey.ITEM`", "items")
            return None
        for parts in refs_:
            if len(parts) != 2:
                ctx.report("SIL201", f"`{'.'.join(parts)}` is not an item reference", ref.span,
                          "write `survey.ITEM` or `survey.*`")
                continue
            survey_name, code = parts
            survey = surveys.get(survey_name)
            if survey is None:
                ctx.undefined("survey", survey_name, ref.span, surveys)
                continue
            codes = [i.code for i in survey.items]
            if code == "*":
                out.extend(f"{survey_name}.{c}" for c in codes)
            elif code in codes:
                out.append(f"{survey_name}.{code}")
            else:
                ctx.undefined(f"item of survey `{survey_name}`", code, ref.span, codes)
    if not out and not ctx.has_errors:
        ctx.error("SIL105", f"condition `{block.name}` asks no items", node.span)
    return tuple(dict.fromkeys(out))
