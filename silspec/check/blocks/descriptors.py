"""`descriptors NAME { item CODE { code = "text" } }`: what a persona says about an answer.

``missing = [-1, -2]`` names the codes that are non-answers (no sentence, counted as missing in
the plan); ``separator = "\n\n"`` joins the sentences (default one space).
"""

from __future__ import annotations

import os

from silspec.check import files, tables, values as v
from silspec.check.blocks.common import assignments, blocks
from silspec.check.context import Context, shown_names
from silspec.lang import ast
from silspec.spec.model import Descriptors


# --------------------------------------------------------------------------------- descriptors


def build_descriptors(ctx: Context, surveys: dict | None = None) -> dict[str, Descriptors]:
    surveys = surveys or {}
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
                        empty = []
                        for row in table.rows:
                            r = dict(zip(table.header, row))
                            try:
                                code = int(r["code"])
                            except ValueError:
                                ctx.report("SIL704", f"bad code {r['code']!r} in `{table.path}`", node.span)
                                break
                            if not r["text"].strip():
                                empty.append(f"{r['item']} {code}" + (f" ({r['note']})" if r.get("note") else ""))
                                continue
                            sentences.setdefault(r["item"], {})[code] = r["text"]
                        if empty:
                            ctx.report("SIL425", f"descriptor table `{table.path}`: {len(empty)} row(s) with no text "
                                       f"(those answers get no sentence): {shown_names(empty, 6)}", node.span,
                                       "regenerate them (`silspec descriptors ... --force`) or write them by hand")
                        _provenance(ctx, table.path, node.span)
            else:
                v.type_error(ctx, node, '`table("descriptors.csv")`', "values")
        if not sentences:
            ctx.warning("SIL105", f"descriptors `{block.name}` define no sentences", block.name_span)
        # a declared missing code that an item describes is an answer there (WVS's Y003 index is
        # substantive on -2..2 while -1/-2 are "don't know"/"no answer" elsewhere)
        missing = (v.as_int_list(ctx, a["missing"].value, "missing") or ()) if "missing" in a else ()
        items = _items(ctx, a, sentences, block.name, surveys) if "items" in a else ()
        separator = " "
        if "separator" in a:
            separator = v.as_str(ctx, a["separator"].value, "separator")
            separator = " " if separator is None else separator
        item_missing = {}
        for item_id in items:  # "as the scale says": each item's own missing codes
            survey_name, _, code = item_id.partition(".")
            item = next((i for i in surveys[survey_name].items if i.code == code), None)
            if item is not None and item.scale.missing_codes:
                item_missing[item.code] = tuple(item.scale.missing_codes)
        out[block.name] = Descriptors(block.name, sentences, missing=tuple(missing), separator=separator, items=items,
                                      item_missing=item_missing)
    return out


def _items(ctx: Context, a, sentences: dict, name: str, surveys: dict) -> tuple[str, ...]:
    """``items = values.*``: the survey items (question and scale) the sentences describe, for
    ``silspec descriptors``; each must be an item of a survey, matched to the table by code."""
    node = a["items"].value
    refs = node.elements if isinstance(node, ast.ListExpr) else (node,)
    out: list[str] = []
    for ref in refs:
        if not isinstance(ref, ast.Ref) or len(ref.parts) != 2:
            v.type_error(ctx, ref, "survey items (`values.*` or `values.Q164`)", "items")
            continue
        survey_name, code = ref.parts
        survey = surveys.get(survey_name)
        if survey is None:
            ctx.undefined("survey", survey_name, ref.span, surveys)
            continue
        chosen = survey.items if code == "*" else [i for i in survey.items if i.code == code]
        if not chosen:
            ctx.report("SIL301", f"survey `{survey_name}` has no item `{code}`", ref.span)
        out += [i.id for i in chosen]
    return tuple(dict.fromkeys(out))


def _provenance(ctx: Context, table_path: str, span) -> None:
    """The table's sidecar (``x.meta.json``: who or what wrote it, with which prompt), when there
    is one, joins the spec's files: `silspec freeze` then hashes it with the table."""
    sidecar = os.path.splitext(table_path)[0] + ".meta.json"
    if os.path.isfile(os.path.join(ctx.root, sidecar)):
        files.resolve(ctx, sidecar, span, what="descriptor provenance")
