"""`template NAME = "..."` / `file("...")`: prompt and system templates."""

from __future__ import annotations

from typing import Any

from attrs import evolve

from silspec.check import files, values as v
from silspec.check.blocks.common import named_values
from silspec.check.context import Context
from silspec.lang import ast
from silspec.spec.model import Template


# ---------------------------------------------------------------------------------- templates


def build_templates(ctx: Context) -> dict[str, Template]:
    out: dict[str, Template] = {}
    for nv in named_values(ctx.document.entries, "template"):
        t = template_from(ctx, nv.value, out, name=nv.name)
        if t is not None:
            out[nv.name] = evolve(t, name=nv.name, span=nv.name_span)
    return out


def template_from(ctx: Context, node: Any, known: dict[str, Template], name: str = "") -> Template | None:
    """A template from an inline string, ``file(...)``, a named template, or ``a + b``."""
    if isinstance(node, ast.String):
        return Template(name, node.value, span=node.span)
    if isinstance(node, ast.Call) and node.name == "file":
        raw = files.call_path(node)
        if raw is None:
            v.type_error(ctx, node, '`file("path")`', "template")
            return None
        ref = files.resolve(ctx, raw, node.args[0].span, what="template file")
        if ref is None:
            return None
        text = files.read_text(ctx, ref, node.args[0].span, what="template")
        return None if text is None else Template(name, text, file=ref, span=node.span)
    if isinstance(node, ast.Ref) and len(node.parts) == 1:
        t = known.get(node.parts[0])
        if t is None:
            ctx.undefined("template", node.parts[0], node.span, known)
        return t
    if isinstance(node, ast.Concat):
        parts = [template_from(ctx, p, known) for p in node.parts]
        if any(p is None for p in parts):
            return None
        return Template(name, "".join(p.source for p in parts), span=node.span)
    v.type_error(ctx, node, 'a template: "...", file("..."), a template name, or a + b', "template")
    return None
