"""`survey NAME { item CODE { ... } }`: items, their scales, and which benchmarks they carry."""

from __future__ import annotations

from typing import Any

from silspec.check import values as v
from silspec.check.blocks.benchmark import benchmark_values, named_benchmark, survey_table_benchmarks
from silspec.check.blocks.common import assignments, blocks
from silspec.check.context import Context
from silspec.lang import ast
from silspec.spec.model import Benchmark, Item, Scale, Survey


# ------------------------------------------------------------------------------------ surveys


def build_surveys(ctx: Context, scales: dict[str, Scale]) -> dict[str, Survey]:
    surveys: dict[str, Survey] = {}
    for block in blocks(ctx.document.entries, "survey"):
        a = assignments(block)
        source = v.as_str(ctx, a["source"].value, "source") if "source" in a else None
        n = v.as_int(ctx, a["n"].value, "n", minimum=1) if "n" in a else None
        survey_table = a["benchmark"].value if "benchmark" in a else None
        if survey_table is not None and not (isinstance(survey_table, ast.Call) and survey_table.name == "table"):
            v.type_error(ctx, survey_table, '`table("...", item = "{{ item }}")`', "benchmark")
            survey_table = None
        items = []
        for item_block in blocks(block.entries, "item"):
            item = _item(ctx, block.name, item_block, scales, n, survey_table)
            if item is not None:
                items.append(item)
        surveys[block.name] = Survey(block.name, tuple(items), source=source, n=n)
    return surveys


_ITEM_KEYS = ("text", "scale", "benchmark", "benchmark_labels", "source")


def _item(ctx: Context, survey: str, block: ast.Block, scales: dict[str, Scale], n: int | None,
          survey_table: ast.Call | None) -> Item | None:
    a = assignments(block)
    code = block.name
    span = block.name_span
    if "text" not in a:
        ctx.error("SIL105", f"item `{code}` has no `text`", span, "the question wording shown to the model: `text = \"...\"`")
    text = v.as_str(ctx, a["text"].value, "text") if "text" in a else None
    scale = None
    if "scale" not in a:
        ctx.error("SIL105", f"item `{code}` has no `scale`", span, "name its answer scale: `scale = NAME`")
    else:
        name = v.as_name(ctx, a["scale"].value, "scale")
        if name is not None:
            scale = scales.get(name)
            if scale is None:
                ctx.undefined("scale", name, a["scale"].value.span, scales)
    fields = {str(k): v.plain(x.value) for k, x in a.items() if k not in _ITEM_KEYS}
    source = v.as_str(ctx, a["source"].value, "source") if "source" in a else None
    labels = None
    if "benchmark_labels" in a:
        labels = _int_map(ctx, a["benchmark_labels"].value, "benchmark_labels")
    if scale is None or text is None:
        return None
    benchmarks: list[Benchmark] = []
    default = None
    if "benchmark" in a:
        bm = benchmark_values(ctx, a["benchmark"].value, scale, code, None)
        if bm is not None:
            vals, unit_guess, span_ = bm
            benchmarks.append(Benchmark("default", vals, unit_guess, n=n, span=span_))
    for sub in blocks(block.entries, "benchmark"):
        b, is_default = named_benchmark(ctx, sub, scale, code, n)
        benchmarks.extend(b)
        if is_default:
            if default is not None:
                ctx.error("SIL409", f"item `{code}` has more than one default benchmark", sub.name_span,
                          "mark exactly one `default = true`")
            default = sub.name
    if survey_table is not None and not any(b.values for b in benchmarks):
        benchmarks.extend(survey_table_benchmarks(ctx, survey_table, scale, code, n))
    return Item(
        id=f"{survey}.{code}", code=code, survey=survey, text=text, scale=scale,
        benchmarks=tuple(benchmarks), default_benchmark=default, benchmark_labels=labels,
        source=source, fields=fields, span=span,
    )


def _int_map(ctx: Context, node: Any, key: str) -> dict[int, str] | None:
    if not isinstance(node, ast.MapExpr):
        v.type_error(ctx, node, "a map `{ 1: \"...\", ... }`", key)
        return None
    out = {}
    for pair in node.pairs:
        k = pair.key_value
        if not isinstance(k, int):
            ctx.report("SIL201", f"`{key}` keys are integer codes, got `{k}`", pair.key.span)
            continue
        label = v.as_str(ctx, pair.value, key)
        if label is not None:
            out[k] = label
    return out
