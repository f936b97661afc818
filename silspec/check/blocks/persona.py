"""`persona NAME { attribute = ... }`: shares, counts, choices, `by(...)` and attribute tables."""

from __future__ import annotations

from typing import Any

from silspec.check import tables, values as v
from silspec.check.blocks.common import assignments, blocks
from silspec.check.context import Context
from silspec.lang import ast
from silspec.spec.model import Attribute, PersonaSchema


def build_personas(ctx: Context) -> dict[str, PersonaSchema]:
    out = {}
    for block in blocks(ctx.document.entries, "persona"):
        attrs_: list[Attribute] = []
        note = None
        defined: list[str] = []
        for key, a in assignments(block).items():
            if key == "note":
                note = v.as_str(ctx, a.value, "note")
                continue
            if isinstance(key, int):
                continue
            attr = _attribute(ctx, block.name, key, a.value, defined)
            defined.append(key)
            if attr is not None:
                attrs_.append(attr)
        out[block.name] = PersonaSchema(block.name, tuple(attrs_), note=note)
    return out


def _attribute(ctx: Context, persona: str, name: str, node: Any, earlier: list[str]) -> Attribute | None:
    if isinstance(node, ast.MapExpr):
        shares = _shares(ctx, node, name)
        if shares is None:
            return None
        values, weights, kind = shares
        return Attribute(name, values, (), {(): weights}, kind)
    if isinstance(node, ast.Call) and node.name == "counts" and len(node.args) == 1:
        shares = _shares(ctx, node.args[0], name, kind="counts")
        if shares is None:
            return None
        values, weights, _ = shares
        return Attribute(name, values, (), {(): weights}, "counts")
    if isinstance(node, ast.Call) and node.name == "choices" and len(node.args) == 1:
        vals = v.as_str_list(ctx, node.args[0], name)
        if vals is None:
            return None
        return Attribute(name, vals, (), {(): tuple(1.0 for _ in vals)}, "choices")
    if isinstance(node, ast.Call) and node.name == "by":
        return _conditional(ctx, name, node, earlier)
    if isinstance(node, ast.Call) and node.name == "table":
        return _table_attribute(ctx, name, node, earlier)
    v.type_error(ctx, node, "shares `{\"value\": 0.5, ...}`, `counts({...})`, `choices([...])`, `by(...)` or `table(...)`",
                 name, "persona entries are attributes; `note` is the only other key")
    return None


def _shares(ctx: Context, node: Any, name: str, kind: str = "shares"):
    if not isinstance(node, ast.MapExpr):
        v.type_error(ctx, node, "a map `{\"value\": share, ...}`", name)
        return None
    values, weights = [], []
    for pair in node.pairs:
        x = v.as_number(ctx, pair.value, name, unit_ok=True)
        if x is None:
            return None
        if x < 0:
            ctx.error("SIL203", f"negative weight {x} for `{pair.key_value}` in `{name}`", pair.value.span)
            return None
        if isinstance(pair.value, ast.Number) and pair.value.unit == "%":
            x = x / 100.0
        values.append(str(pair.key_value))
        weights.append(float(x))
    if not values:
        ctx.report("SIL501", f"attribute `{name}` has no values", node.span)
        return None
    return tuple(values), tuple(weights), kind


def _conditional(ctx: Context, name: str, node: ast.Call, earlier: list[str]) -> Attribute | None:
    if len(node.args) != 2:
        ctx.report("SIL201", "`by(...)` takes the conditioning attribute(s) and a map", node.span,
                  'by(age_group, { "20대": { ... }, ... }) or by([a, b], { "x/y": ... })')
        return None
    given_node, table_node = node.args
    if isinstance(given_node, ast.ListExpr):
        given = tuple(e.dotted if isinstance(e, ast.Ref) else str(v.plain(e)) for e in given_node.elements)
    elif isinstance(given_node, ast.Ref):
        given = (given_node.dotted,)
    else:
        v.type_error(ctx, given_node, "an attribute name or a list of them", name)
        return None
    for g in given:
        if g not in earlier:
            ctx.report("SIL502", f"`{name}` is conditioned on `{g}`, which is not an earlier attribute", given_node.span,
                      "define the conditioning attribute above this one" if g else None)
            return None
    if not isinstance(table_node, ast.MapExpr):
        v.type_error(ctx, table_node, "a map of conditioning values to distributions", name)
        return None
    values: list[str] = []
    rows: dict[tuple[str, ...], dict[str, float]] = {}
    kind = "shares"
    for pair in table_node.pairs:
        key = tuple(str(pair.key_value).split("/")) if len(given) > 1 else (str(pair.key_value),)
        if len(given) > 1 and len(key) != len(given):
            # values may themselves contain "/" (e.g. "충청/강원"): fall back to a greedy split
            key = _split_key(str(pair.key_value), len(given))
        inner = pair.value
        if isinstance(inner, ast.Call) and inner.name == "choices" and len(inner.args) == 1:
            vals = v.as_str_list(ctx, inner.args[0], name) or ()
            dist = {x: 1.0 for x in vals}
            kind = "choices"
        elif isinstance(inner, ast.Call) and inner.name == "counts" and len(inner.args) == 1:
            got = _shares(ctx, inner.args[0], name)
            if got is None:
                return None
            dist = dict(zip(got[0], got[1]))
            kind = "counts"
        else:
            got = _shares(ctx, inner, name)
            if got is None:
                return None
            dist = dict(zip(got[0], got[1]))
        for x in dist:
            if x not in values:
                values.append(x)
        rows[key] = dist
    table = {k: tuple(d.get(x, 0.0) for x in values) for k, d in rows.items()}
    return Attribute(name, tuple(values), given, table, kind)


def _split_key(text: str, parts: int) -> tuple[str, ...]:
    pieces = text.split("/")
    head = pieces[: parts - 1]
    return tuple(head + ["/".join(pieces[parts - 1 :])])


def _table_attribute(ctx: Context, name: str, node: ast.Call, earlier: list[str]) -> Attribute | None:
    table = tables.load(ctx, node)
    if table is None:
        return None
    flt = tables.filters(ctx, node, table, {})
    if flt is None:
        return None
    if "value" not in table.column or not ({"share", "count"} & set(table.column)):
        ctx.report("SIL704", f"attribute table `{table.path}` needs a `value` column and `share` or `count`", node.span)
        return None
    given = tuple(c[len("given:"):] for c in table.header if c.startswith("given:"))
    raw_rows = table.select_rows(flt)
    rows = [dict(zip(table.header, r)) for r in raw_rows]
    if not rows:
        ctx.error("SIL407", f"no rows in `{table.path}` match the filter", node.span, "check the filter values")
        return None
    used_given = tuple(g for g in given if any(r.get(f"given:{g}") for r in rows))
    for g in used_given:
        if g not in earlier:
            ctx.report("SIL502", f"`{name}` is conditioned on `{g}`, which is not an earlier attribute", node.span,
                      "define the conditioning attribute above this one")
            return None
    values: list[str] = []
    dists: dict[tuple[str, ...], dict[str, float]] = {}
    kinds = set()
    seen: dict[tuple[tuple[str, ...], str], int] = {}
    for raw, r in zip(raw_rows, rows):
        share, count = r.get("share", ""), r.get("count", "")
        try:
            if count:
                weight, kinds_ = float(count), "counts"
            elif share:
                weight, kinds_ = float(share), "shares"
            else:
                ctx.report("SIL704", f"row for `{r['value']}` in `{table.path}` has neither share nor count", node.span)
                return None
        except ValueError:
            ctx.report("SIL704", f"bad number in `{table.path}` for `{r['value']}`", node.span)
            return None
        kinds.add(kinds_)
        key = tuple(r.get(f"given:{g}", "") for g in used_given)
        if (key, r["value"]) in seen:
            under = f" under {', '.join(f'{g} = {k!r}' for g, k in zip(used_given, key))}" if used_given else ""
            ctx.report("SIL505", f"attribute `{name}`: value {r['value']!r}{under} appears twice in `{table.path}` "
                                f"(lines {seen[key, r['value']]} and {table.line_of(raw)}); the last row would silently win",
                      node.span, "keep one row per value and conditioning values")
            return None
        seen[key, r["value"]] = table.line_of(raw)
        if r["value"] not in values:
            values.append(r["value"])
        dists.setdefault(key, {})[r["value"]] = weight
    if len(kinds) > 1:
        ctx.report("SIL704", f"attribute `{name}` mixes counts and shares in `{table.path}`", node.span)
        return None
    table_ = {k: tuple(d.get(x, 0.0) for x in values) for k, d in dists.items()}
    return Attribute(name, tuple(values), used_given, table_, kinds.pop())
