"""`population NAME { persona = ...  size = ...  sampling = ... }`, and row populations."""

from __future__ import annotations

from silspec.check import files, limits, tables, values as v
from silspec.check.blocks.common import assignments, blocks
from silspec.check.context import Context
from silspec.lang import ast
from silspec.lang.diagnostics import did_you_mean
from silspec.spec.model import PersonaSchema, Population


SAMPLINGS = ("stratified", "random", "quota", "rows")


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
            ctx.report("SIL704", f"rows table `{table.path}` has no column `{col}` (from `{key}`)",
                      a[key].value.span, did_you_mean(col, table.header) or f"columns: {', '.join(table.header)}")
    ctx.cache[("row_header", table.path)] = table.header
