"""`study NAME { ... }`: title, seed, language, meta, and the display names of countries."""

from __future__ import annotations

from typing import Any

from silspec.check import limits, tables, values as v
from silspec.check.blocks.common import assignments, blocks
from silspec.check.context import Context
from silspec.lang import ast
from silspec.spec.model import Study


def build_study(ctx: Context) -> Study:
    block = next(blocks(ctx.document.entries, "study"), None)
    if block is None:
        return Study(name="unnamed")
    a = assignments(block)
    title = v.as_str(ctx, a["title"].value, "title") if "title" in a else None
    seed = v.as_int(ctx, a["seed"].value, "seed", minimum=0) if "seed" in a else None
    if "seed" not in a:
        ctx.warning("SIL105", "the study has no `seed`", block.name_span or block.kind_span,
                    "set `seed = N`: persona sampling and replicate seeds derive from it (0 is used otherwise)")
    language = v.as_str(ctx, a["language"].value, "language") if "language" in a else None
    meta: dict[str, Any] = {}
    for sub in block.blocks("meta"):
        for key, assignment in assignments(sub).items():
            meta[str(key)] = v.plain(assignment.value)
    countries = _country_names(ctx, a["countries"].value) if "countries" in a else {}
    replicates = (v.as_int(ctx, a["replicates"].value, "replicates", minimum=1, maximum=limits.MAX_REPLICATES)
                  if "replicates" in a else 1)
    return Study(name=block.name or "unnamed", title=title or "", seed=seed or 0, language=language, meta=meta,
                 countries=countries or {}, replicates=replicates or 1)


CODE_COLUMNS = ("code", "iso3")  # the first present holds the country code (data/wvs7 uses iso3)


def _country_names(ctx: Context, node: Any) -> dict[str, str] | None:
    """Display names of country codes: a map ``{ "JPN": "Japan" }`` or ``table(...)`` with
    columns ``code`` (or ``iso3``) and ``name``; other keyword arguments filter rows."""
    if isinstance(node, ast.MapExpr):
        out = {}
        for pair in node.pairs:
            name = v.as_str(ctx, pair.value, "countries")
            if name is not None:
                out[str(pair.key_value)] = name
        return out
    if isinstance(node, ast.Call) and node.name == "table":
        table = tables.load(ctx, node)
        if table is None:
            return None
        code_col = next((c for c in CODE_COLUMNS if c in table.column), None)
        if code_col is None or "name" not in table.column:
            missing = "name" if code_col else "code"
            ctx.report("SIL704", f"country table `{table.path}` has no `{missing}` column", node.span,
                      f"country tables have columns `code` (or `iso3`) and `name`; it has: {', '.join(table.header)}")
            return None
        flt = tables.filters(ctx, node, table, {})
        if flt is None:
            return None
        rows = table.select_rows(flt) if flt else table.rows
        code_pos, name_pos = table.column[code_col], table.column["name"]
        return {row[code_pos].strip(): row[name_pos].strip() for row in rows
                if len(row) > max(code_pos, name_pos) and row[code_pos].strip()}
    v.type_error(ctx, node, 'a map `{ "JPN": "Japan" }` or `table("countries.csv")` (columns code, name)', "countries")
    return None
