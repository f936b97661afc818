"""groups, calibrations, finetunes and the analysis block."""

from __future__ import annotations

from typing import Any

from silspec.check import limits, schema, values as v
from silspec.check.build.common import assignments, blocks, named_values
from silspec.check.build.runs import _names_or_group, template_from
from silspec.check.context import Context
from silspec.lang import ast
from silspec.lang.diagnostics import did_you_mean
from silspec.spec.model import (
    Analysis, Bootstrap, Calibration, CalibrationUse, Comparison, Finetune, Metric, Split,
)


def build_groups(ctx: Context) -> dict[str, tuple[str, ...]]:
    out = {}
    for nv in named_values(ctx.document.entries, "group"):
        names = v.as_str_list(ctx, nv.value, nv.name)
        if names is not None:
            out[nv.name] = names
    return out


def build_calibrations(ctx: Context) -> dict[str, Calibration]:
    out = {}
    for block in blocks(ctx.document.entries, "calibration"):
        a = assignments(block)
        method = v.as_enum(ctx, a["method"].value, ("temperature", "mean_preserving_tilt"), "method") if "method" in a else "mean_preserving_tilt"
        temperature, fit, target = None, "fixed", "benchmark_variance"
        if "temperature" in a:
            node = a["temperature"].value
            if isinstance(node, ast.Call) and node.name == "fit":
                fit = v.as_enum(ctx, node.args[0], ("leave_one_out", "fixed"), "fit") if node.args else None
                if not node.args:
                    ctx.error("SIL201", "`fit(...)` needs a method: fit(leave_one_out, target = benchmark_variance)", node.span)
                t = node.kwarg("target")
                if t is not None:
                    target = v.as_enum(ctx, t, ("benchmark_variance", "js"), "target") or target
            else:
                temperature = v.as_number(ctx, node, "temperature")
                if temperature is not None and temperature <= 0:
                    ctx.error("SIL203", "a calibration temperature must be > 0", node.span)
        elif "fit" not in a:
            ctx.error("SIL105", f"calibration `{block.name}` has no `temperature`", block.name_span,
                      "a number, or `fit(leave_one_out, target = benchmark_variance)`")
        if "fit" in a:
            fit = v.as_enum(ctx, a["fit"].value, ("leave_one_out", "fixed"), "fit") or fit
        if "target" in a:
            target = v.as_enum(ctx, a["target"].value, ("benchmark_variance", "js"), "target") or target
        out[block.name] = Calibration(block.name, method or "mean_preserving_tilt", temperature, fit or "fixed", target)
    return out


def build_finetunes(ctx: Context, models: dict, templates: dict, groups: dict) -> dict[str, Finetune]:
    out = {}
    for block in blocks(ctx.document.entries, "finetune"):
        a = assignments(block)
        base = v.as_name(ctx, a["base"].value, "base") if "base" in a else None
        if "base" not in a:
            ctx.error("SIL105", f"finetune `{block.name}` has no `base` model", block.name_span)
        elif base is not None and base not in models:
            ctx.undefined("model", base, a["base"].value.span, models)
            base = None
        prompt = template_from(ctx, a["prompt"].value, templates) if "prompt" in a else None
        if "prompt" not in a:
            ctx.error("SIL105", f"finetune `{block.name}` has no `prompt`", block.name_span)
        splits: dict[str, Split] = {}
        for kind in ("train", "valid", "test"):
            sub = next(iter(block.blocks(kind)), None)
            if sub is None:
                continue
            sa = assignments(sub)
            countries = _names_or_group(ctx, sa["countries"].value, groups, "countries") if "countries" in sa else ()
            items = _names_or_group(ctx, sa["items"].value, groups, "items") if "items" in sa else ()
            splits[kind] = Split(tuple(countries or ()), tuple(items or ()))
        for kind in ("train", "valid"):
            if kind not in splits:
                ctx.error("SIL105", f"finetune `{block.name}` has no `{kind} {{ ... }}` split", block.name_span)
        if "train" in splits and "test" in splits:
            overlap = (set(splits["train"].countries) & set(splits["test"].countries)) if splits["train"].countries else set()
            overlap_items = set(splits["train"].items) & set(splits["test"].items)
            if overlap and overlap_items:
                ctx.warning("SIL905", "train and test share countries and items: the test set leaks", block.name_span)
        loss = v.as_enum(ctx, a["loss"].value, ("kl", "ce", "js", "wasserstein"), "loss") if "loss" in a else "kl"
        kw: dict[str, Any] = {}
        lora = next(iter(block.blocks("lora")), None)
        if lora is not None:
            la = assignments(lora)
            if "rank" in la:
                kw["lora_rank"] = v.as_int(ctx, la["rank"].value, "rank", minimum=1) or 8
            if "alpha" in la:
                kw["lora_alpha"] = v.as_int(ctx, la["alpha"].value, "alpha", minimum=1) or 32
            if "dropout" in la:
                kw["lora_dropout"] = v.as_number(ctx, la["dropout"].value, "dropout") or 0.0
        opt = next(iter(block.blocks("optimiser")), None)
        options: dict[str, Any] = {}
        if opt is not None:
            kw["optimiser"] = opt.name or "adamw"
            oa = assignments(opt)
            if "lr" in oa:
                kw["learning_rate"] = v.as_number(ctx, oa["lr"].value, "lr") or 1e-4
            options.update({str(k): v.plain(x.value) for k, x in oa.items() if k != "lr"})
        if lora is not None and "targets" in assignments(lora):
            kw["lora_targets"] = v.as_str_list(ctx, assignments(lora)["targets"].value, "targets") or ()
        if "system" in a:
            kw["system"] = template_from(ctx, a["system"].value, templates)
        if "option_labels" in a:
            kw["option_labels"] = v.as_enum(ctx, a["option_labels"].value, ("auto", "codes", "letters"), "option_labels") or "auto"
        if "seed" in a:
            kw["seed"] = v.as_int(ctx, a["seed"].value, "seed", minimum=0)
        if "batch" in a:
            kw["batch_size"] = v.as_int(ctx, a["batch"].value, "batch", minimum=1) or 16
        if "epochs" in a:
            kw["epochs"] = v.as_int(ctx, a["epochs"].value, "epochs", minimum=1) or 3
        if base is None or prompt is None or "train" not in splits or "valid" not in splits:
            continue
        out[block.name] = Finetune(block.name, base, prompt, splits["train"], splits["valid"], splits.get("test"),
                                   loss=loss or "kl", options=options, **kw)
    return out


def build_analysis(ctx: Context) -> Analysis:
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
            ctx.error("SIL904", f"unknown metric `{m.name}`", m.name_span,
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
                ctx.error("SIL102", f"metric `{m.name}` has no option `{key}` (the analysis would ignore it); {accepts}",
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
    return Analysis(tuple(metrics), bootstrap, tuple(comparisons), tuple(uses), benchmark, report)


def _metric_option(ctx: Context, metric: str, key: str, node: Any) -> Any:
    if key == "log":
        if isinstance(node, ast.Ref) and node.parts == ("e",):
            return "e"
        if isinstance(node, ast.Number) and node.value in (2, 10):
            return node.value
        ctx.error("SIL202", "`log` is `e`, `2` or `10`", node.span)
        return "e"
    if key == "form":
        if isinstance(node, ast.Ref) and node.parts == ("similarity",):
            ctx.error("SIL202", "`form = similarity` is ambiguous", node.span,
                      "ambiguous: `one_minus_divergence` with `log = 2` is the old value; the first-token "
                      "paper's 1−JSD is `one_minus_distance`")
            return None
        return v.as_enum(ctx, node, schema.JS_FORMS, "form")
    if key == "alpha":
        x = v.as_number(ctx, node, "alpha")
        if x is not None and not 0 < x < 1:
            ctx.error("SIL203", f"alpha {x} must be between 0 and 1", node.span)
        elif x is not None:
            ctx.error("SIL910", f"`{metric} {{ alpha }}` is not used: the report gives the p-value itself and "
                                "marks no threshold", node.span, "remove `alpha`: a setting nothing reads is an error")
        return x
    if key == "normalise":
        value = v.as_enum(ctx, node, ("range", "max", "none"), "normalise")
        if value is not None and value != "range":
            ctx.error("SIL202", f"`{metric}` is always divided by the scale's range; `normalise = {value}` "
                                "would be ignored", node.span, "write `normalise = range` or leave it out")
        return value
    return v.plain(node)
