"""`population NAME { persona = ...  size = ...  sampling = ... }`, and row populations.

Row populations read a CSV, SPSS ``.sav`` or Stata ``.dta`` file (``silspec.check.microdata``),
shipped (``rows = table("...")``) or external (``rows = microdata(env("VAR"))``). When the file
is here, lint reads its header and says which named column is absent (SIL421), which file
cannot be read (SIL420) and which column has the wrong type (SIL422), at the spec's reference.
"""

from __future__ import annotations

import os

from silspec.check import files, limits, microdata, tables, values as v
from silspec.check.blocks.common import assignments, blocks
from silspec.check.context import Context
from silspec.lang import ast
from silspec.lang.diagnostics import did_you_mean
from silspec.spec.model import PersonaSchema, Population


SAMPLINGS = ("stratified", "random", "quota", "rows")


# --------------------------------------------------------------------------------- populations


def build_populations(ctx: Context, personas: dict[str, PersonaSchema], descriptor_names: set[str],
                      descriptor_items: dict[str, tuple[str, ...]] | None = None) -> dict[str, Population]:
    descriptor_items = descriptor_items or {}
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
        names: list[str] = []
        if "descriptors" in a:
            node = a["descriptors"].value
            elements = node.elements if isinstance(node, ast.ListExpr) else (node,)
            for element in elements:
                name = v.as_name(ctx, element, "descriptors")
                if name is not None and name not in descriptor_names:
                    ctx.undefined("descriptors", name, element.span, descriptor_names)
                elif name is not None:
                    names.append(name)
        descriptors = names[0] if names else None
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
        wanted = _wanted_columns(a, id_col, columns or (), where, country_column, weight)
        if rows is not None and microdata.FORMATS.get(os.path.splitext(rows.path)[1].lower(), "csv") == "csv":
            _check_row_columns(ctx, a, rows, wanted)
        elif rows is not None:
            _check_microdata(ctx, a, rows.absolute, rows.path, wanted, weight, names, descriptor_items)
        elif external is not None and external.path and os.path.exists(external.path):
            _check_microdata(ctx, a, external.path, external.path, wanted, weight, names, descriptor_items)
        out[block.name] = Population(
            block.name, sampling, size=size, seed=seed, schema=schema, rows=rows, external=external,
            id_column=id_col, columns=tuple(columns or ()), where=where, country_column=country_column,
            weight=weight, descriptors=descriptors, more_descriptors=tuple(names[1:]),
        )
    return out


def _wanted_columns(a, id_col, columns, where, country_column, weight) -> list[tuple[str, str]]:
    """(column, the key that names it) for every column the population reads by name."""
    wanted = [(c, "columns") for c in columns] + [(c, "where") for c in where]
    wanted += [(c, k) for c, k in ((id_col, "id"), (country_column, "country_column"), (weight, "weight")) if c]
    return wanted


def _check_microdata(ctx, a, path, shown, wanted, weight, names, descriptor_items) -> None:
    """SIL420-422 for a microdata file that is here: readable, has the columns, right types."""
    span = a["rows"].value.span
    key = ("microdata_header", path)
    try:
        header = ctx.cache[key] if key in ctx.cache else microdata.read_header(path)
    except microdata.MicrodataError as exc:
        ctx.report("SIL420", f"cannot read microdata `{shown}`: {str(exc).replace(path, os.path.basename(path))}", span,
                   "silspec reads CSV, SPSS .sav/.zsav and Stata .dta; re-download the file if it is truncated")
        return
    ctx.cache[key] = header
    present = set(header.columns)
    for col, k in wanted:
        if col not in present:
            ctx.report("SIL421", f"microdata `{shown}` has no column `{col}` (from `{k}`)", a[k].value.span,
                       did_you_mean(col, header.columns) or f"{len(header.columns)} columns, e.g. "
                       + ", ".join(header.columns[:8]))
    for name in names:
        absent = [item for item in descriptor_items.get(name, ()) if item not in present]
        if absent:
            ctx.report("SIL421", f"microdata `{shown}` has no column for descriptor item(s) "
                       f"{', '.join(absent)} (descriptors `{name}`)", a["descriptors"].value.span,
                       "every item of a descriptor table is a column of the respondent file")
    numeric = [(weight, "weight")] if weight else []
    numeric += [(item, "descriptors") for name in names for item in descriptor_items.get(name, ())]
    if header.types is not None:
        for col, k in numeric:
            if header.types.get(col) == "string":
                ctx.report("SIL422", f"microdata `{shown}`: column `{col}` (from `{k}`) is text, not numbers",
                           a[k].value.span, "weights and answer codes are numeric columns")
    elif weight and weight in present:
        try:
            rows = microdata.read_rows(path, [weight])
        except microdata.MicrodataError as exc:
            ctx.report("SIL420", f"cannot read microdata `{shown}`: {exc}", span)
            return
        bad = microdata.first_non_number(rows, weight, allow_blank=False)
        if bad is not None:
            n, value = bad
            ctx.report("SIL422", f"microdata `{shown}` line {n + 1}: weight `{weight}` is {value!r}, not a number",
                       a["weight"].value.span, "weights must be numbers (0 = never drawn)")


def _check_row_columns(ctx, a, rows, wanted) -> None:
    node = a["rows"].value
    table = tables.load(ctx, node)
    if table is None:
        return
    for col, key in wanted:
        if col not in table.column:
            ctx.report("SIL704", f"rows table `{table.path}` has no column `{col}` (from `{key}`)",
                      a[key].value.span, did_you_mean(col, table.header) or f"columns: {', '.join(table.header)}")
    ctx.cache[("row_header", table.path)] = table.header
