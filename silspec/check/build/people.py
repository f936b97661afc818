"""persona schemas, populations and descriptor tables."""

from __future__ import annotations

from typing import Any

from silspec.check import files, limits, tables, values as v
from silspec.check.build.common import assignments, blocks
from silspec.check.context import Context
from silspec.lang import ast
from silspec.lang.diagnostics import did_you_mean
from silspec.spec.model import Attribute, Descriptors, PersonaSchema, Population

SAMPLINGS = ("stratified", "random", "quota", "rows")


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
        ctx.error("SIL501", f"attribute `{name}` has no values", node.span)
        return None
    return tuple(values), tuple(weights), kind


def _conditional(ctx: Context, name: str, node: ast.Call, earlier: list[str]) -> Attribute | None:
    if len(node.args) != 2:
        ctx.error("SIL201", "`by(...)` takes the conditioning attribute(s) and a map", node.span,
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
            ctx.error("SIL502", f"`{name}` is conditioned on `{g}`, which is not an earlier attribute", given_node.span,
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
        ctx.error("SIL704", f"attribute table `{table.path}` needs a `value` column and `share` or `count`", node.span)
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
            ctx.error("SIL502", f"`{name}` is conditioned on `{g}`, which is not an earlier attribute", node.span,
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
                ctx.error("SIL704", f"row for `{r['value']}` in `{table.path}` has neither share nor count", node.span)
                return None
        except ValueError:
            ctx.error("SIL704", f"bad number in `{table.path}` for `{r['value']}`", node.span)
            return None
        kinds.add(kinds_)
        key = tuple(r.get(f"given:{g}", "") for g in used_given)
        if (key, r["value"]) in seen:
            under = f" under {', '.join(f'{g} = {k!r}' for g, k in zip(used_given, key))}" if used_given else ""
            ctx.error("SIL505", f"attribute `{name}`: value {r['value']!r}{under} appears twice in `{table.path}` "
                                f"(lines {seen[key, r['value']]} and {table.line_of(raw)}); the last row would silently win",
                      node.span, "keep one row per value and conditioning values")
            return None
        seen[key, r["value"]] = table.line_of(raw)
        if r["value"] not in values:
            values.append(r["value"])
        dists.setdefault(key, {})[r["value"]] = weight
    if len(kinds) > 1:
        ctx.error("SIL704", f"attribute `{name}` mixes counts and shares in `{table.path}`", node.span)
        return None
    table_ = {k: tuple(d.get(x, 0.0) for x in values) for k, d in dists.items()}
    return Attribute(name, tuple(values), used_given, table_, kinds.pop())


# --------------------------------------------------------------------------------- populations


def build_populations(ctx: Context, personas: dict[str, PersonaSchema], descriptor_names: set[str]) -> dict[str, Population]:
    out = {}
    for block in blocks(ctx.document.entries, "population"):
        a = assignments(block)
        sampling = v.as_enum(ctx, a["sampling"].value, SAMPLINGS, "sampling") if "sampling" in a else None
        if sampling is None:
            sampling = "rows" if "rows" in a else "stratified"
        size = v.as_int(ctx, a["size"].value, "size", minimum=1, maximum=limits.MAX_POPULATION_SIZE) if "size" in a else None
        seed = v.as_int(ctx, a["seed"].value, "seed", minimum=0) if "seed" in a else None
        schema = None
        if "persona" in a:
            node = a["persona"].value
            if isinstance(node, ast.Call) and node.name == "descriptors" and len(node.args) == 1:
                name = v.as_name(ctx, node.args[0], "persona")
                if name and name not in descriptor_names:
                    ctx.undefined("descriptors", name, node.args[0].span, descriptor_names)
            else:
                schema = v.as_name(ctx, node, "persona")
                if schema is not None and schema not in personas:
                    ctx.undefined("persona", schema, node.span, personas)
                    schema = None
        descriptors = None
        if "descriptors" in a:
            descriptors = v.as_name(ctx, a["descriptors"].value, "descriptors")
            if descriptors is not None and descriptors not in descriptor_names:
                ctx.undefined("descriptors", descriptors, a["descriptors"].value.span, descriptor_names)
        rows = external = None
        if "rows" in a:
            node = a["rows"].value
            if isinstance(node, ast.Call) and node.name == "table":
                rows = files.resolve_call(ctx, node, what="rows table")
            elif isinstance(node, ast.Call) and node.name == "microdata" and node.args:
                var = v.env_var(ctx, node.args[0], "rows")
                sha = node.kwarg("sha256")
                sha_s = v.as_str(ctx, sha, "sha256") if sha is not None else None
                if var:
                    external = files.external(ctx, var, node.args[0].span, sha_s)
            else:
                v.type_error(ctx, node, '`table("rows.csv")` or `microdata(env("VAR"))`', "rows")
        if sampling == "rows" and rows is None and external is None and "rows" not in a:
            ctx.error("SIL105", f"population `{block.name}` samples `rows` but has no `rows`", block.name_span,
                      'add `rows = table("data/people.csv")` or `microdata(env("VAR"))`')
        if sampling != "rows" and schema is None and "persona" not in a:
            ctx.error("SIL105", f"population `{block.name}` has no `persona` schema", block.name_span,
                      "name a `persona` block, or use `sampling = rows` with `rows = ...`")
        if sampling != "rows" and size is None and "size" not in a:
            ctx.error("SIL105", f"population `{block.name}` has no `size`", block.name_span, "how many personas: `size = 100`")
        id_col = v.as_str(ctx, a["id"].value, "id") if "id" in a else None
        columns = v.as_str_list(ctx, a["columns"].value, "columns") if "columns" in a else ()
        where: dict[str, str] = {}
        if "where" in a:
            node = a["where"].value
            if isinstance(node, ast.MapExpr):
                where = {str(p.key_value): str(v.plain(p.value)) for p in node.pairs}
            else:
                v.type_error(ctx, node, "a map of column filters", "where")
        country_column = v.as_str(ctx, a["country_column"].value, "country_column") if "country_column" in a else None
        weight = v.as_str(ctx, a["weight"].value, "weight") if "weight" in a else None
        if rows is not None:
            _check_row_columns(ctx, a, rows, id_col, columns or (), where, country_column, weight)
        out[block.name] = Population(
            block.name, sampling, size=size, seed=seed, schema=schema, rows=rows, external=external,
            id_column=id_col, columns=tuple(columns or ()), where=where, country_column=country_column,
            weight=weight, descriptors=descriptors,
        )
    return out


def _check_row_columns(ctx, a, rows, id_col, columns, where, country_column, weight) -> None:
    node = a["rows"].value
    table = tables.load(ctx, node)
    if table is None:
        return
    wanted = [(c, "columns") for c in columns] + [(c, "where") for c in where]
    wanted += [(c, k) for c, k in ((id_col, "id"), (country_column, "country_column"), (weight, "weight")) if c]
    for col, key in wanted:
        if col not in table.column:
            ctx.error("SIL704", f"rows table `{table.path}` has no column `{col}` (from `{key}`)",
                      a[key].value.span, did_you_mean(col, table.header) or f"columns: {', '.join(table.header)}")
    ctx.cache[("row_header", table.path)] = table.header


# --------------------------------------------------------------------------------- descriptors


def build_descriptors(ctx: Context) -> dict[str, Descriptors]:
    out = {}
    for block in blocks(ctx.document.entries, "descriptors"):
        sentences: dict[str, dict[int, str]] = {}
        for item in blocks(block.entries, "item"):
            per_code = {}
            for key, a in assignments(item).items():
                if isinstance(key, int):
                    text = v.as_str(ctx, a.value, key)
                    if text is not None:
                        per_code[key] = text
            sentences[item.name or ""] = per_code
        a = assignments(block)
        if "values" in a:
            node = a["values"].value
            if isinstance(node, ast.Call) and node.name == "table":
                table = tables.load(ctx, node)
                if table is not None:
                    if not {"item", "code", "text"} <= set(table.column):
                        ctx.error("SIL704", f"descriptor table `{table.path}` needs columns item, code, text", node.span)
                    else:
                        for row in table.rows:
                            r = dict(zip(table.header, row))
                            try:
                                sentences.setdefault(r["item"], {})[int(r["code"])] = r["text"]
                            except ValueError:
                                ctx.error("SIL704", f"bad code {r['code']!r} in `{table.path}`", node.span)
                                break
            else:
                v.type_error(ctx, node, '`table("descriptors.csv")`', "values")
        if not sentences:
            ctx.warning("SIL105", f"descriptors `{block.name}` define no sentences", block.name_span)
        out[block.name] = Descriptors(block.name, sentences)
    return out
