"""Typed reading of expression nodes: each helper returns a Python value or reports SIL201/202.

The grammar accepts any expression anywhere; these helpers are where "expected an integer, got a
string" is decided, once, with the same wording everywhere.
"""

from __future__ import annotations

from typing import Any, Iterable

from silspec.check.context import Context
from silspec.lang import ast
from silspec.lang.diagnostics import did_you_mean

_KIND_NAMES = {
    ast.String: "a string", ast.Number: "a number", ast.Bool: "a boolean", ast.NoneLit: "`none`",
    ast.Ref: "a name", ast.ListExpr: "a list", ast.MapExpr: "a map", ast.Call: "a call",
    ast.Range: "a range", ast.Concat: "a concatenation",
}


def describe(node: Any) -> str:
    if isinstance(node, ast.Call):
        return f"`{node.name}(...)`"
    if isinstance(node, ast.Ref):
        return f"the name `{node.dotted}`"
    return _KIND_NAMES.get(type(node), type(node).__name__)


_EXAMPLES = {
    "a string": '"text"', "a number": "0.7", "an integer": "42", "a name": "gpt52",
    "`true` or `false`": "true", "a list `[...]`": '["a", "b"]',
}


def type_error(ctx: Context, node: Any, expected: str, key: Any = None, hint: str | None = None) -> None:
    where = f" for `{key}`" if key is not None else ""
    if hint is None:
        example = _EXAMPLES.get(expected)
        hint = f"e.g. `{key} = {example}`" if example and key is not None else f"write {expected}"
    ctx.report("SIL201", f"expected {expected}{where}, got {describe(node)}", node.span, hint)


def as_str(ctx: Context, node: Any, key: Any = None) -> str | None:
    if isinstance(node, ast.String):
        return node.value
    if isinstance(node, ast.Concat) and all(isinstance(p, ast.String) for p in node.parts):
        return "".join(p.value for p in node.parts)
    type_error(ctx, node, "a string", key, 'strings are written in double quotes: "..."')
    return None


def as_name(ctx: Context, node: Any, key: Any = None) -> str | None:
    """A bare identifier (a reference to a block, or an enum word)."""
    if isinstance(node, ast.Ref) and len(node.parts) == 1:
        return node.parts[0]
    if isinstance(node, ast.String):  # be lenient: backend = "openai" reads fine
        return node.value
    type_error(ctx, node, "a name", key)
    return None


def as_enum(ctx: Context, node: Any, choices: Iterable[str], key: Any = None) -> str | None:
    choices = tuple(choices)
    if isinstance(node, ast.Bool):
        word = "true" if node.value else "false"
    elif isinstance(node, ast.NoneLit):
        word = "none"
    else:
        word = as_name(ctx, node, key)
        if word is None:
            return None
    if word in choices:
        return word
    hint = did_you_mean(word, choices) or f"one of: {', '.join(choices)}"
    where = f" for `{key}`" if key is not None else ""
    ctx.report("SIL202", f"`{word}` is not a valid value{where}", node.span, hint)
    return None


def as_number(ctx: Context, node: Any, key: Any = None, *, unit_ok: bool = False) -> float | None:
    if isinstance(node, ast.Number) and (unit_ok or node.unit is None):
        return node.value
    if isinstance(node, ast.Number):
        ctx.report("SIL204", f"`{node.text}` has a unit where a plain number is expected", node.span,
                  "write the number without a unit")
        return None
    type_error(ctx, node, "a number", key)
    return None


def as_int(ctx: Context, node: Any, key: Any = None, *, minimum: int | None = None,
           maximum: int | None = None) -> int | None:
    if isinstance(node, ast.Number) and isinstance(node.value, int) and node.unit is None:
        if minimum is not None and node.value < minimum:
            ctx.error("SIL203", f"`{key}` must be at least {minimum}, got {node.value}", node.span)
            return None
        if maximum is not None and node.value > maximum:
            shown = f"{node.value:,}" if len(str(node.value)) <= 30 else f"{str(node.value)[:12]}… ({len(str(node.value))} digits)"
            ctx.error("SIL203", f"`{key}` must be at most {maximum:,}, got {shown}", node.span,
                      "the bound keeps a typo from exhausting memory; split a larger design into several specs")
            return None
        return node.value
    type_error(ctx, node, "an integer", key)
    return None


def as_duration(ctx: Context, node: Any, key: Any = None, *, positive: bool = False) -> float | None:
    """Seconds: ``0.5s``, ``500ms``, ``2m``, ``1h``. A bare number is an error, not seconds.

    ``delay = 500`` was meant as milliseconds as often as seconds; guessing either silently
    makes a run 1,000 times slower or faster than intended, so the unit is required.
    ``positive``: zero is refused too (``timeout = 0s`` would fail every request).
    """
    if isinstance(node, ast.Number) and node.unit is None:
        ctx.report("SIL204", f"`{node.text}` needs a unit for `{key}`", node.span,
                  f"write {node.text}s, {node.text}ms or {node.text}m")
        return None
    if isinstance(node, ast.Number) and node.unit == "s":
        if node.value < 0 or (positive and node.value == 0):
            ctx.error("SIL203", f"`{key}` must be {'more than zero' if positive else 'at least zero'}, "
                                f"got {node.text}", node.span)
            return None
        return float(node.value)
    type_error(ctx, node, "a duration like 0.5s, 500ms or 2m", key)
    return None


def as_bool(ctx: Context, node: Any, key: Any = None) -> bool | None:
    if isinstance(node, ast.Bool):
        return node.value
    type_error(ctx, node, "`true` or `false`", key)
    return None


def as_list(ctx: Context, node: Any, key: Any = None) -> tuple[Any, ...] | None:
    if isinstance(node, ast.ListExpr):
        return node.elements
    type_error(ctx, node, "a list `[...]`", key)
    return None


def as_str_list(ctx: Context, node: Any, key: Any = None) -> tuple[str, ...] | None:
    elements = as_list(ctx, node, key)
    if elements is None:
        return None
    out = []
    for el in elements:
        value = el.value if isinstance(el, ast.String) else (el.dotted if isinstance(el, ast.Ref) else None)
        if value is None:
            type_error(ctx, el, "a string", key)
            continue
        out.append(value)
    return tuple(out)


def as_int_list(ctx: Context, node: Any, key: Any = None) -> tuple[int, ...] | None:
    elements = as_list(ctx, node, key)
    if elements is None:
        return None
    out = []
    for el in elements:
        v = as_int(ctx, el, key)
        if v is not None:
            out.append(v)
    return tuple(out)


def env_var(ctx: Context, node: Any, key: Any = None) -> str | None:
    """``env("VAR")`` -> ``"VAR"``."""
    if isinstance(node, ast.Call) and node.name == "env" and len(node.args) == 1 and isinstance(node.args[0], ast.String):
        return node.args[0].value
    type_error(ctx, node, '`env("VARIABLE")`', key)
    return None


def plain(node: Any) -> Any:
    """Best-effort Python value of a literal (free metadata, extra item fields, options)."""
    if isinstance(node, (ast.String, ast.Number, ast.Bool)):
        return node.value
    if isinstance(node, ast.NoneLit):
        return None
    if isinstance(node, ast.Ref):
        return node.dotted
    if isinstance(node, ast.ListExpr):
        return [plain(e) for e in node.elements]
    if isinstance(node, ast.MapExpr):
        return {str(p.key_value): plain(p.value) for p in node.pairs}
    if isinstance(node, ast.Range):
        return list(range(node.start, node.end + 1))
    if isinstance(node, ast.Concat):
        return "".join(str(plain(p)) for p in node.parts)
    if isinstance(node, ast.Call):
        return {"call": node.name, "args": [plain(a) for a in node.args],
                "kwargs": {k.name: plain(k.value) for k in node.kwargs}}
    return None
