"""SIL4xx: benchmarks against their scales — sums, units, labels, which one the analysis uses."""

from __future__ import annotations

from silspec.check.context import Context
from silspec.spec.model import Benchmark, Item, Spec

TOLERANCE = {"percent": 0.5, "proportion": 0.005}  # rounding of published tables
TARGET = {"percent": 100.0, "proportion": 1.0}
# A declared `missing` share "closes the gap" when values + missing come within this of 100 %:
# a table printed to one decimal per cell (99.2 % + 0.7 % = 99.9 %) is off by the rounding of
# its cells, at most 0.05 per cell and in practice well under 0.15 points over a few cells.
# Within it the benchmark is exactly as written (info SIL415); beyond it, up to TOLERANCE, the
# gap is only roughly closed (warning SIL403).
CLOSED_BY_MISSING = {"percent": 0.15, "proportion": 0.0015}


def check(spec: Spec, ctx: Context) -> None:
    wanted = {spec.analysis.benchmark} | {c.benchmark for c in spec.conditions.values()}
    wanted.discard(None)
    # A table already reported as broken (SIL414 duplicate codes, SIL704 bad rows) leaves its
    # benchmarks unbuilt; "item has no benchmark NAME" would only echo that first error.
    table_broken = any(d.code in ("SIL414", "SIL704") for d in ctx.diagnostics)
    written = {path[:5] for path in ctx.spans} | {path[:3] for path in ctx.spans}  # block paths, cut to a benchmark's depth
    for survey in spec.surveys.values():
        for item in survey.items:
            span = item.span
            # ctx.spans, not ctx.span: the latter falls back to the item's own span, so "declared"
            # was always true and SIL412 never fired. A named block indexes as (..., "benchmark", NAME).
            declared = ("survey", item.survey, "item", item.code, "benchmark") in written
            if not item.benchmarks and not declared and ("survey", item.survey, "benchmark") not in written:
                ctx.report("SIL412", f"item `{item.code}` has no benchmark", span,
                            "metrics cannot be computed for it; add `benchmark = [...]` or a named benchmark")
            for b in item.benchmarks:
                _check_sum(ctx, item, b)
            names = {b.name for b in item.benchmarks}
            for name in sorted(wanted):
                if item.benchmarks and name not in names and not table_broken:
                    ctx.error("SIL409", f"item `{item.code}` has no benchmark `{name}`", span,
                              f"its benchmarks: {', '.join(sorted(names))}")
            if item.default_benchmark is None and len(names) > 1 and not wanted:
                ctx.warning("SIL409", f"item `{item.code}` has several benchmarks and none is the default", span,
                            "mark one `default = true` or set `benchmark = NAME` in the analysis")
            _check_labels(ctx, item)


def _fmt(x: float, unit: str) -> str:
    return f"{x:.1f} %" if unit == "percent" else f"{x:.3f}"


def _check_sum(ctx: Context, item: Item, b: Benchmark) -> None:
    span = b.span or item.span
    where = f"benchmark `{b.name}` of `{item.code}`" + (f" ({b.country})" if b.country else "")
    negative = [x for x in b.values if x < 0]
    if negative:
        ctx.report("SIL408", f"{where} has negative shares {negative}", span)
        return
    unit = b.unit
    if unit == "count":  # counts become shares by their own sum: there is no 100 % to fall short of
        if b.total <= 0:
            ctx.report("SIL404", f"{where} sums to 0", span, "a benchmark needs positive counts")
        return
    target, tol = TARGET[unit], TOLERANCE[unit]
    total = b.total
    if total <= 0:
        ctx.report("SIL404", f"{where} sums to 0", span, "a benchmark needs positive shares")
        return
    if unit == "proportion" and total > 1.5:
        ctx.report("SIL402", f"{where} sums to {total:g} as proportions", span, "did you mean `unit = percent`?")
        return
    missing = b.missing_share or 0.0
    with_missing = total + missing
    if total > target + tol:
        if b.renormalise:
            ctx.report("SIL410", f"{where} sums to {_fmt(total, unit)}; renormalised over its codes as declared", span)
        else:
            ctx.report("SIL402", f"{where} sums to {_fmt(total, unit)}, more than {_fmt(target, unit)}", span,
                      "fix the values, or acknowledge it with `renormalise = true`")
        return
    if abs(with_missing - target) <= CLOSED_BY_MISSING[unit] + 1e-9 and missing > 0:
        ctx.report("SIL415", f"{where} sums to {_fmt(total, unit)} + {_fmt(missing, unit)} missing = "
                           f"{_fmt(with_missing, unit)}: renormalised over substantive codes as declared", span)
        return
    if abs(with_missing - target) <= tol and missing > 0:
        ctx.report("SIL403", f"{where} sums to {_fmt(total, unit)} (+ {_fmt(missing, unit)} missing): "
                              "renormalised over substantive codes", span,
                    f"values + missing = {_fmt(with_missing, unit)}, more than the rounding of the figures "
                    f"({_fmt(CLOSED_BY_MISSING[unit], unit)}) away from {_fmt(target, unit)}: check the `missing` share")
        return
    if abs(total - target) <= tol and not missing:
        return
    if with_missing > target + tol:
        ctx.report("SIL402", f"{where} sums to {_fmt(total, unit)} + {_fmt(missing, unit)} missing = "
                            f"{_fmt(with_missing, unit)}, more than {_fmt(target, unit)}", span,
                  "check the values and the `missing` share")
        return
    if b.renormalise:
        ctx.report("SIL410", f"{where} sums to {_fmt(with_missing, unit)}; renormalised over its codes as declared", span)
        return
    gap = target - with_missing
    ctx.report("SIL404", f"{where} sums to {_fmt(with_missing, unit)}, short of {_fmt(target, unit)}", span,
              f"declare the non-substantive share (`missing = {gap:.3g}`) or acknowledge with `renormalise = true`")


def _check_labels(ctx: Context, item: Item) -> None:
    if not item.benchmark_labels:
        return
    span = ctx.span("survey", item.survey, "item", item.code, "benchmark_labels") or item.span
    codes = {c.code for c in item.scale.categories}
    unknown = [c for c in item.benchmark_labels if c not in codes]
    if unknown:
        ctx.report("SIL405", f"`benchmark_labels` of `{item.code}` name codes {unknown} that scale `{item.scale.name}` lacks",
                  span, f"scale codes: {sorted(codes)}")
        return
    differ = [c for c, label in item.benchmark_labels.items() if item.scale.label(c) != label]
    if differ:
        shown = "; ".join(f"{c}: shown \"{item.scale.label(c)}\" vs source \"{item.benchmark_labels[c]}\"" for c in differ)
        ctx.report("SIL406", f"labels shown to the model differ from the benchmark's for `{item.code}` ({shown})", span,
                    "intended when the prompt recodes the source's wording; say why in a comment")
