"""`analysis { metric ... compare ... bootstrap ... }`: what is scored and compared."""

from __future__ import annotations

from typing import Any

from silspec.check import limits, schema, values as v
from silspec.check.blocks.common import assignments, blocks
from silspec.check.blocks.subgroups import build_joints, build_subgroups
from silspec.check.context import Context
from silspec.lang import ast
from silspec.lang.diagnostics import did_you_mean
from silspec.spec.model import Analysis, Bootstrap, CalibrationUse, Comparison, Curve, Metric, Survey

MAX_CURVE_DRAWS = 100_000


def build_analysis(ctx: Context, surveys: dict[str, Survey] | None = None) -> Analysis:
    block = next(blocks(ctx.document.entries, "analysis"), None)
    if block is None:
        return Analysis()
    a = assignments(block)
    benchmark = v.as_name(ctx, a["benchmark"].value, "benchmark") if "benchmark" in a else None
    metrics = []
    seen_metrics: set[str] = set()
    for m in block.blocks("metric"):
        if m.name is None:
            continue
        if m.name not in schema.METRICS:
            ctx.report("SIL904", f"unknown metric `{m.name}`", m.name_span,
                      did_you_mean(m.name, schema.METRICS) or f"metrics: {', '.join(schema.METRICS)}")
            continue
        if m.name in seen_metrics:
            continue
        seen_metrics.add(m.name)
        options = {}
        allowed = schema.METRIC_OPTIONS[m.name]
        for key, x in assignments(m).items():
            if key not in allowed:
                accepts = (f"`{m.name}` accepts {', '.join(f'`{k}`' for k in allowed)}" if allowed
                           else f"`{m.name}` takes no options")
                ctx.report("SIL102", f"metric `{m.name}` has no option `{key}` (the analysis would ignore it); {accepts}",
                          x.key_span, did_you_mean(str(key), allowed) or accepts)
                continue
            options[str(key)] = _metric_option(ctx, m.name, str(key), x.value)
        metrics.append(Metric(m.name, options))
    bootstrap = None
    b = next(iter(block.blocks("bootstrap")), None)
    if b is not None:
        ba = assignments(b)
        level = v.as_number(ctx, ba["level"].value, "level") if "level" in ba else 0.95
        if level is not None and not 0 < level < 1:
            ctx.error("SIL203", f"bootstrap level {level} must be between 0 and 1", ba["level"].value.span, "e.g. 0.95")
            level = 0.95
        bootstrap = Bootstrap(
            resamples=(v.as_int(ctx, ba["resamples"].value, "resamples", minimum=1, maximum=limits.MAX_RESAMPLES) or 1000) if "resamples" in ba else 1000,
            level=level or 0.95,
            seed=v.as_int(ctx, ba["seed"].value, "seed", minimum=0) if "seed" in ba else None,
            metrics=tuple(v.as_str_list(ctx, ba["metrics"].value, "metrics") or ()) if "metrics" in ba else (),
        )
    comparisons, uses = [], []
    for e in block.entries:
        if isinstance(e, ast.Compare):
            comparisons.append(Comparison(a=e.baseline, b=e.challenger, metrics=e.metrics, by=e.by, without=e.without))
        elif isinstance(e, ast.Calibrate):
            uses.append(CalibrationUse(e.condition, e.calibration))
    report: dict[str, Any] = {}
    r = next(iter(block.blocks("report")), None)
    if r is not None:
        report = {str(k): v.plain(x.value) for k, x in assignments(r).items()}
    subgroups = build_subgroups(ctx, block, surveys or {})
    joints = build_joints(ctx, block, surveys or {})
    curves = tuple(c for c in (_curve(ctx, b) for b in block.blocks("curve")) if c is not None)
    return Analysis(tuple(metrics), bootstrap, tuple(comparisons), tuple(uses), benchmark, report,
                    subgroups=subgroups, joints=joints, curves=curves)


def _curve(ctx: Context, block: ast.Block) -> Curve | None:
    """``curve CONDITION { metric = mae  sizes = [...]  draws = 200  level = 0.95  seed = 1 }``.
    Whether the condition and metric exist is ``rules.analysis``'s business (it sees the spec)."""
    if block.name is None:
        return None
    a = assignments(block)
    default = Curve(condition=block.name)
    metric = v.as_name(ctx, a["metric"].value, "metric") if "metric" in a else default.metric
    sizes = default.sizes
    if "sizes" in a:
        node = a["sizes"].value
        given = v.as_int_list(ctx, node, "sizes")
        if given is not None:
            if not given or any(size < 1 for size in given) or list(given) != sorted(set(given)):
                ctx.report("SIL442", f"curve {block.name}: `sizes` must be positive persona counts in increasing "
                                     f"order, each once; got {list(given)}", node.span, "e.g. `sizes = [1, 2, 5, 10, 20, 50]`")
                return None
            else:
                sizes = given
    draws = default.draws
    if "draws" in a:
        draws = v.as_int(ctx, a["draws"].value, "draws", minimum=1, maximum=MAX_CURVE_DRAWS) or default.draws
    level = default.level
    if "level" in a:
        level = v.as_number(ctx, a["level"].value, "level")
        if level is not None and not 0 < level <= 1:
            ctx.error("SIL203", f"curve level {level} must be above 0 and at most 1", a["level"].value.span,
                      "0.95 for a 95 % band over draws; 1 for the full range over draws (the paper's)")
            level = None
        level = default.level if level is None else float(level)
    seed = v.as_int(ctx, a["seed"].value, "seed", minimum=0) if "seed" in a else None
    return Curve(condition=block.name, metric=metric or default.metric, sizes=tuple(sizes), draws=draws,
                 level=level, seed=seed)


def _metric_option(ctx: Context, metric: str, key: str, node: Any) -> Any:
    if key == "log":
        if isinstance(node, ast.Ref) and node.parts == ("e",):
            return "e"
        if isinstance(node, ast.Number) and node.value in (2, 10):
            return node.value
        ctx.report("SIL202", "`log` is `e`, `2` or `10`", node.span)
        return "e"
    if key == "form":
        if isinstance(node, ast.Ref) and node.parts == ("similarity",):
            ctx.report("SIL202", "`form = similarity` is ambiguous", node.span,
                      "ambiguous: `one_minus_divergence` with `log = 2` is the old value; the first-token "
                      "paper's 1−JSD is `one_minus_distance`")
            return None
        return v.as_enum(ctx, node, schema.JS_FORMS, "form")
    if key == "alpha":
        x = v.as_number(ctx, node, "alpha")
        if x is not None and not 0 < x < 1:
            ctx.error("SIL203", f"alpha {x} must be between 0 and 1", node.span)
        elif x is not None:
            ctx.report("SIL910", f"`{metric} {{ alpha }}` is not used: the report gives the p-value itself and "
                                "marks no threshold", node.span, "remove `alpha`: a setting nothing reads is an error")
        return x
    if key == "normalise":
        value = v.as_enum(ctx, node, ("range", "max", "none"), "normalise")
        if value is not None and value != "range":
            ctx.report("SIL202", f"`{metric}` is always divided by the scale's range; `normalise = {value}` "
                                "would be ignored", node.span, "write `normalise = range` or leave it out")
        return value
    return v.plain(node)
