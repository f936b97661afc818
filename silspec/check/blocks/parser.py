"""`parser NAME { extract = ...  valid = ...  on_invalid = ... }`: how an answer text is read."""

from __future__ import annotations

import re
import warnings
from typing import Any

from silspec.check import values as v
from silspec.check.blocks.common import assignments, blocks
from silspec.check.context import Context
from silspec.lang import ast
from silspec.spec.model import Parser


# ------------------------------------------------------------------------------------ parsers

EXTRACTS = ("first_integer", "integer_or_label", "regex", "label", "json")


def build_parsers(ctx: Context) -> dict[str, Parser]:
    out = {}
    for block in blocks(ctx.document.entries, "parser"):
        a = assignments(block)
        extract, pattern = "first_integer", None
        if "extract" in a:
            node = a["extract"].value
            if isinstance(node, ast.Call) and node.name in ("regex", "json"):
                extract = node.name
                pattern = v.as_str(ctx, node.args[0], "extract") if len(node.args) == 1 else None
                if pattern is None and len(node.args) != 1:
                    ctx.report("SIL201", f"`{node.name}(...)` takes one string", node.span)
                if extract == "regex" and pattern is not None:
                    try:
                        with warnings.catch_warnings():  # Python's FutureWarnings about a stranger's regex
                            warnings.simplefilter("ignore")
                            re.compile(pattern)
                    except (re.error, RecursionError, OverflowError) as exc:
                        ctx.error("SIL203", f"invalid regular expression: {exc}", node.args[0].span)
            else:
                extract = v.as_enum(ctx, node, EXTRACTS, "extract") or "first_integer"
                if extract in ("regex", "json"):
                    ctx.report("SIL201", f"`{extract}` needs an argument", node.span,
                              'regex("([0-9]+)") or json("answer")')
        valid: Any = "scale"
        if "valid" in a:
            node = a["valid"].value
            if isinstance(node, ast.Ref) and node.parts == ("scale",):
                valid = "scale"
            else:
                valid = v.as_int_list(ctx, node, "valid") or "scale"
        refusal = v.as_str_list(ctx, a["refusal"].value, "refusal") if "refusal" in a else ()
        on_invalid, reask = "none", 0
        if "on_invalid" in a:
            node = a["on_invalid"].value
            if isinstance(node, ast.Call) and node.name == "reask":
                on_invalid = "reask"
                reask = (v.as_int(ctx, node.args[0], "reask", minimum=1) or 1) if len(node.args) == 1 else 0
                if len(node.args) != 1:
                    ctx.report("SIL201", "`reask(N)` takes the number of re-asks", node.span)
            else:
                on_invalid = v.as_enum(ctx, node, ("none", "midpoint", "drop", "reask"), "on_invalid") or "none"
                if on_invalid == "reask":
                    reask = 1
        on_error = v.as_enum(ctx, a["on_error"].value, ("none", "midpoint", "drop"), "on_error") if "on_error" in a else "none"
        out[block.name] = Parser(block.name, extract, pattern, valid, tuple(refusal or ()), on_invalid, reask, on_error or "none")
    return out
