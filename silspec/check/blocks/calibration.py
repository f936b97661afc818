"""`calibration NAME { method = ... }`: post-hoc calibration of model distributions."""

from __future__ import annotations

from silspec.check import values as v
from silspec.check.blocks.common import assignments, blocks
from silspec.check.context import Context
from silspec.lang import ast
from silspec.spec.model import Calibration


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
                    ctx.report("SIL201", "`fit(...)` needs a method: fit(leave_one_out, target = benchmark_variance)", node.span)
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
