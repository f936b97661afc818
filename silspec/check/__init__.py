"""Meaning: syntax tree -> checked ``Spec`` plus diagnostics.

Order: the structure rule (known blocks/keys, names) on the tree, then the builder (types,
references, files, tables), then the semantic rules of ``silspec.check.rules.RULES`` on the
built spec. Any unexpected exception becomes ``SIL000`` rather than a traceback.
"""

from __future__ import annotations

import os
from typing import Mapping

from silspec.check import files
from silspec.check.blocks import build
from silspec.check.context import Context, index_spans
from silspec.check.rules import RULES, limits, structure
from silspec.lang import ast
from silspec.lang.diagnostics import Diagnostic, sort_key
from silspec.spec.model import Spec, evolve

__all__ = ["check"]


def check(
    document: ast.Document, *, path: str, root: str | None = None, env: Mapping[str, str] | None = None
) -> tuple[Spec | None, tuple[Diagnostic, ...]]:
    """Check a parsed document. ``path`` is the spec file; ``root`` defaults to its spec tree."""

    path = os.path.abspath(path)
    root = os.path.realpath(root) if root else files.find_root(path)
    ctx = Context(path=path, root=root, env=dict(os.environ if env is None else env), document=document)
    spec: Spec | None = None
    try:
        ctx.spans = index_spans(document)
        structure.check(ctx)
        spec = build(ctx)
        # an ablation's generated conditions are its base condition with a subset of the persona
        # text: the rules judge the base once (each finding would repeat 2^k times); only the
        # design-size limit counts them
        declared = spec if not spec.ablations else evolve(
            spec, conditions={n: c for n, c in spec.conditions.items() if c.descriptor_items is None}
        )
        for rule in RULES:
            rule(spec if rule is limits.check else declared, ctx)
    except Exception as exc:  # last resort: never a traceback for the user
        ctx.report("SIL000", f"internal error: {type(exc).__name__}: {exc}", document.span,
                  "this is a bug in silspec; please report it with the spec")
    diagnostics = tuple(sorted(_dedupe(ctx.diagnostics), key=sort_key))
    if any(d.severity == "error" for d in diagnostics):
        return None, diagnostics
    return spec, diagnostics


def _dedupe(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return list(dict.fromkeys(diagnostics))
