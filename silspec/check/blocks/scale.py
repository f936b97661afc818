"""`scale NAME { 1 = "..." ... }` / `range = 1..10`: answer codes, labels, missing codes."""

from __future__ import annotations

from silspec.check import values as v
from silspec.check.blocks.common import assignments, build_each
from silspec.check.context import Context
from silspec.lang import ast
from silspec.spec.model import Category, Scale


def build_scales(ctx: Context) -> dict[str, Scale]:
    return build_each(ctx, "scale", _scale)


def _scale(ctx: Context, block: ast.Block) -> Scale | None:
    a = assignments(block)
    labelled: list[tuple[int, str]] = []
    for key, assignment in a.items():
        if isinstance(key, int):
            label = v.as_str(ctx, assignment.value, key)
            if label is not None:
                labelled.append((key, label))
    low = v.as_str(ctx, a["low"].value, "low") if "low" in a else None
    high = v.as_str(ctx, a["high"].value, "high") if "high" in a else None
    missing = v.as_int_list(ctx, a["missing"].value, "missing") if "missing" in a else ()
    ordered = v.as_bool(ctx, a["ordered"].value, "ordered") if "ordered" in a else True
    missing = missing or ()
    codes: list[tuple[int, str]] = []
    if "range" in a:
        node = a["range"].value
        if isinstance(node, ast.Range):
            if node.end <= node.start:
                ctx.error("SIL203", f"empty range {node.start}..{node.end}", node.span, "write low..high, e.g. 1..10")
            labels = dict(labelled)
            codes = [(c, labels.get(c, "")) for c in range(node.start, node.end + 1)]
            codes += [(c, l) for c, l in labelled if c not in dict(codes)]
        else:
            v.type_error(ctx, node, "a range like 1..10", "range")
    else:
        codes = list(labelled)
        if low is not None or high is not None:
            ctx.warning("SIL203", "`low`/`high` only label the ends of a `range`", ctx.span("scale", block.name, "low" if low else "high"))
    known = {c for c, _ in codes}
    for m in missing:
        if m not in known:
            codes.append((m, ""))
    categories = tuple(Category(c, label, c in missing) for c, label in codes)
    if not any(not c.missing for c in categories):
        ctx.report("SIL411", f"scale `{block.name}` has no substantive codes", block.name_span,
                  'add categories (`1 = "..."`) or `range = 1..N`')
        return None
    return Scale(block.name, categories, ordered=bool(ordered), low_label=low, high_label=high)
