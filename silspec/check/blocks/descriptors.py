"""`descriptors NAME { item CODE { code = "text" } }`: what a persona says about an answer."""

from __future__ import annotations

from silspec.check import tables, values as v
from silspec.check.blocks.common import assignments, blocks
from silspec.check.context import Context
from silspec.lang import ast
from silspec.spec.model import Descriptors


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
                        ctx.report("SIL704", f"descriptor table `{table.path}` needs columns item, code, text", node.span)
                    else:
                        for row in table.rows:
                            r = dict(zip(table.header, row))
                            try:
                                sentences.setdefault(r["item"], {})[int(r["code"])] = r["text"]
                            except ValueError:
                                ctx.report("SIL704", f"bad code {r['code']!r} in `{table.path}`", node.span)
                                break
            else:
                v.type_error(ctx, node, '`table("descriptors.csv")`', "values")
        if not sentences:
            ctx.warning("SIL105", f"descriptors `{block.name}` define no sentences", block.name_span)
        out[block.name] = Descriptors(block.name, sentences)
    return out
