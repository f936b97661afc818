"""SIL6xx: templates — syntax, variables that exist, no reach into Python internals, bounded size.

Every template a condition uses is rendered once per item against a sample persona, in the
same sandbox the plan uses, so a variable that is neither a persona attribute nor an item field
is caught at lint time, not after 1,200 requests.
"""

from __future__ import annotations

from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError

from silspec.check.context import Context
from silspec.lang.diagnostics import did_you_mean
from silspec.spec.model import Condition, Spec, Template
from silspec.templating.context import TOP_LEVEL, country_name, item_context, make_environment
from silspec.templating.sandbox import MAX_RENDERED_CHARS, TemplateLimitError


def check(spec: Spec, ctx: Context) -> None:
    env = make_environment()
    compiled: dict[str, Any] = {}
    for name, template in spec.templates.items():
        _compile(ctx, env, template, compiled, ctx.span("template", name, "value") or template.span)
    study = {"name": spec.study.name, "title": spec.study.title, "language": spec.study.language}
    for cond in spec.conditions.values():
        persona = sample_persona(spec, cond, ctx)
        for role in ("system", "prompt"):
            template: Template | None = getattr(cond, role)
            if template is None:
                continue
            span = ctx.span("condition", cond.name, role) or cond.span
            if template.name:
                span = ctx.span("template", template.name, "value") or span
            tpl = _compile(ctx, env, template, compiled, span)
            if tpl is None:
                continue
            variables: dict[str, Any] = {"study": study, "condition": {"name": cond.name}}
            if persona is not None:
                variables["persona"] = persona
            if cond.countries:
                variables["country"] = cond.countries[0]
                variables["country_name"] = country_name(spec.study.countries, cond.countries[0])
                _check_country_names(ctx, spec, cond, role, template, span)
            if not _check_fields(ctx, tpl, template, cond, role, span, persona, spec):
                continue
            for item_id in cond.items:
                variables["item"] = item_context(spec.item(item_id))
                if not _render(ctx, tpl, variables, cond, role, span, persona):
                    break
    for ft in spec.finetunes.values():
        _compile(ctx, env, ft.prompt, compiled, ctx.span("finetune", ft.name, "prompt"))


def _compile(ctx: Context, env: Any, template: Template, compiled: dict, span) -> Any:
    key = template.source
    if key in compiled:
        return compiled[key]
    where = f"template `{template.name}`" if template.name else "inline template"
    try:
        parsed = env.parse(template.source)
    except TemplateSyntaxError as exc:
        ctx.report("SIL602", f"{where}: Jinja syntax error on its line {exc.lineno}: {exc.message}", span,
                  "check {{ }} and {% %} pairs")
        compiled[key] = None
        return None
    unsafe = sorted({n.attr for n in parsed.find_all(nodes.Getattr) if n.attr.startswith("_")}
                    | {n.arg.value for n in parsed.find_all(nodes.Getitem)
                       if isinstance(n.arg, nodes.Const) and isinstance(n.arg.value, str) and n.arg.value.startswith("_")})
    if unsafe:
        ctx.report("SIL603", f"{where} reaches Python internals ({', '.join(unsafe)})", span,
                  "templates may use persona, item, country, study and condition fields only")
        compiled[key] = None
        return None
    unknown = sorted(meta.find_undeclared_variables(parsed) - set(TOP_LEVEL) - set(env.globals))
    if unknown:
        ctx.report("SIL601", f"{where} uses undefined variable(s) {', '.join(unknown)}", span,
                  f"templates see: {', '.join(TOP_LEVEL)} (e.g. persona.age_group, item.text)")
        compiled[key] = None
        return None
    tpl = env.from_string(template.source)
    compiled[key] = tpl
    return tpl


def _check_country_names(ctx: Context, spec: Spec, cond: Condition, role: str, template: Template, span) -> None:
    """SIL605: a template shows ``country_name`` but some countries have no declared name."""
    if "country_name" not in template.source:
        return
    if "country_name" not in meta.find_undeclared_variables(make_environment().parse(template.source)):
        return
    names = spec.study.countries
    # A code missing from declared names is SIL303 (likely a typo); here: no names at all, or empty ones.
    unnamed = [c for c in cond.countries if (c in names and not names[c]) or not names]
    if not unnamed:
        return
    shown = ", ".join(unnamed[:5]) + (f" (+{len(unnamed) - 5} more)" if len(unnamed) > 5 else "")
    hint = ('declare names in the study: `countries = table("data/wvs7/countries.csv")` '
            '(columns code or iso3, and name) or `countries = { "JPN": "Japan" }`')
    if names:
        hint = "give them a name in the study's `countries`"
    ctx.report("SIL605", f"the `{role}` of condition `{cond.name}` shows `country_name`, but {len(unnamed)} of its "
                          f"countries have no name and will show their code: {shown}", span, hint)


def _check_fields(ctx: Context, tpl: Any, template: Template, cond: Condition, role: str, span, persona, spec: Spec) -> bool:
    """Static: ``persona.X`` must be an attribute, ``item.X`` an item field (precise message)."""
    env = make_environment()
    parsed = env.parse(template.source)
    items = [spec.item(i) for i in cond.items]
    item_keys = set(item_context(items[0])) if items else set()
    for i in items[1:]:
        item_keys &= set(i.fields) | {"id", "code", "text", "codes", "labels", "min", "max", "scale_labels", "options",
                                      "shown_labels"}
    for node in parsed.find_all(nodes.Getattr):
        if not isinstance(node.node, nodes.Name):
            continue
        base, attr = node.node.name, node.attr
        if base == "persona" and persona is not None and attr not in persona:
            ctx.report("SIL601", f"`persona.{attr}` in the `{role}` of condition `{cond.name}` is not a persona attribute",
                      span, did_you_mean(attr, persona) or f"persona attributes: {', '.join(persona)}")
            return False
        if base == "item" and items and attr not in item_keys:
            ctx.report("SIL601", f"`item.{attr}` in the `{role}` of condition `{cond.name}` is not an item field",
                      span, did_you_mean(attr, sorted(item_keys)) or f"item fields: {', '.join(sorted(item_keys))}")
            return False
    return True


def _render(ctx: Context, tpl: Any, variables: dict, cond: Condition, role: str, span, persona) -> bool:
    try:
        tpl.render(variables)
        return True
    except TemplateLimitError as exc:
        ctx.report("SIL606", f"`{role}` of condition `{cond.name}` exceeds a resource limit: {exc}", span,
                  f"a prompt is at most {MAX_RENDERED_CHARS:,} characters; widths, counts and repeats are bounded")
    except MemoryError:
        ctx.report("SIL606", f"`{role}` of condition `{cond.name}` runs out of memory while rendering", span,
                  f"a prompt is at most {MAX_RENDERED_CHARS:,} characters; widths, counts and repeats are bounded")
    except SecurityError as exc:
        ctx.report("SIL603", f"`{role}` of condition `{cond.name}` reaches Python internals: {exc}", span,
                  "templates may use persona, item, country, study and condition fields only")
    except UndefinedError as exc:
        msg = str(exc)
        if "unsafe" in msg:
            ctx.report("SIL603", f"`{role}` of condition `{cond.name}` reaches Python internals: {msg}", span,
                      "templates may use persona, item, country, study and condition fields only")
            return False
        hint = ("item fields: id, code, text, codes, labels, min, max, scale_labels, options, shown_labels"
                " (+ the item's own keys)")
        if persona is not None:
            hint = f"persona attributes: {', '.join(k for k in persona if k not in ('id',))}; " + hint
        elif "persona" in msg:
            hint = "this condition has no population, so there is no persona; " + hint
        if "'country' is undefined" in msg or "'country_name' is undefined" in msg:
            hint = "this condition lists no `countries`"
        ctx.report("SIL601", f"`{role}` of condition `{cond.name}` does not render: {msg}", span, hint)
    except TemplateError as exc:
        ctx.report("SIL604", f"`{role}` of condition `{cond.name}` fails to render: {exc}", span)
    except Exception as exc:  # a filter raising ValueError, a huge range, ...
        ctx.report("SIL604", f"`{role}` of condition `{cond.name}` fails to render: {type(exc).__name__}: {exc}", span)
    return False


class _AnyColumns(dict):
    """A sample persona for rows we cannot read at lint time: every column exists."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return "x"


def sample_persona(spec: Spec, cond: Condition, ctx: Context) -> dict[str, Any] | None:
    if cond.population is None:
        return None
    pop = spec.populations.get(cond.population)
    if pop is None:
        return None
    persona: dict[str, Any] = {"id": "P001"}
    schema = spec.personas.get(pop.schema or "")
    if schema is not None:
        for attr in schema.attributes:
            persona[attr.name] = attr.values[0] if attr.values else ""
    if pop.rows is not None:
        header = ctx.cache.get(("row_header", pop.rows.path), ())
        for col in (pop.columns or header):
            persona.setdefault(col, "x")
    if pop.descriptors or pop.external is not None or pop.rows is not None:
        persona.setdefault("text", "A sample descriptor sentence.")
    if pop.descriptors:
        names = (pop.descriptors, *pop.more_descriptors)
        persona["texts"] = {name: "A sample descriptor sentence." for name in names}
    if pop.external is not None:
        if not pop.columns:
            return _AnyColumns(persona)  # microdata columns are unknown until the file is provided
        for col in pop.columns:
            persona.setdefault(col, "x")
    return persona
