"""``--set KEY=VALUE``: change one value of the syntax tree before checking.

The key follows the tree (``model.gpt52.temperature``, ``survey.kgss2023.item.CONFINAN.text``,
``analysis.metric.js.log``); the value is parsed as a spec literal and then checked like any
other value, so ``--set model.gpt52.temperature=hot`` fails exactly as the spec would. A value
that is no literal at all (``base_url=http://127.0.0.1:8000/v1``: the shell removed the quotes)
is taken as a string, unless it starts like a list, map, call or quoted string.
Diagnostics about an override point into the pseudo-file ``<--set>`` (one line per override).
"""

from __future__ import annotations

from typing import Sequence

import attrs
from attrs import evolve

from silspec.lang import ast
from silspec.lang.diagnostics import Diagnostic, diagnostic, did_you_mean
from silspec.lang.parser import parse_expression
from silspec.lang.span import Span

OVERRIDE_FILE = "<--set>"
# A value starting like a list, map, call or quoted string was meant as a literal: a syntax
# error in it stays an error (SIL952) instead of silently becoming a string.
_LITERAL_STARTS = frozenset('[{("')


def _shift(node, line: int, offset: int):
    """Move the spans of a parsed value onto line ``line`` of ``<--set>``, ``offset`` columns right."""
    if isinstance(node, Span):
        return Span(OVERRIDE_FILE, line, node.col + offset, line, node.end_col + offset)
    if attrs.has(type(node)):
        changes = {}
        for f in attrs.fields(type(node)):
            value = getattr(node, f.name)
            if isinstance(value, Span) or attrs.has(type(value)):
                changes[f.name] = _shift(value, line, offset)
            elif isinstance(value, tuple) and value and attrs.has(type(value[0])):
                changes[f.name] = tuple(_shift(x, line, offset) for x in value)
        return evolve(node, **changes)
    return node


def parse_override(text: str, line: int) -> tuple[list[str], ast.Expr | None, list[Diagnostic]]:

    whole = Span(OVERRIDE_FILE, line, 1, line, len(text) + 1)
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        return [], None, [diagnostic("SIL951", f"override `{text}` is not KEY=VALUE", whole,
                                "e.g. --set model.gpt52.temperature=1.0")]
    path = key.split(".")
    if any(not p for p in path) or len(path) < 2:
        return [], None, [diagnostic("SIL951", f"override key `{key}` is not a dotted path", whole,
                                "<block kind>.<name>.<key>, e.g. model.gpt52.temperature")]
    value, diags = parse_expression(raw)
    offset = len(key) + 1 - len("__value__ = ")
    value_span = Span(OVERRIDE_FILE, line, len(key) + 2, line, len(text) + 1)
    if value is None and raw.strip() and raw.strip()[0] not in _LITERAL_STARTS:
        # `base_url=http://127.0.0.1:8000/v1`: not a literal, so the text itself (the shell ate the quotes)
        return path, ast.String(raw.strip(), value_span), []
    if value is None:
        shown = "(hidden: it may be a key)" if path[-1] == "api_key" else f"`{raw}`"
        out = [diagnostic("SIL952", f"override value {shown} is not a spec literal", Span(OVERRIDE_FILE, line, len(key) + 2, line, len(text) + 1),
                     'strings need quotes: --set survey.s.item.Q.text=\'"..."\'; numbers, true/false, names and lists are literals')]
        return path, None, out
    # the parser's own findings (a 5,000-digit number, an unknown escape) count as in a spec
    return path, _shift(value, line, offset), [_shift(d, line, offset) for d in diags]


def apply_overrides(document: ast.Document, overrides: Sequence[str]) -> tuple[ast.Document, list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    for line, text in enumerate(overrides, start=1):
        path, value, diags = parse_override(text, line)
        diagnostics.extend(diags)
        if value is None:
            continue
        whole = Span(OVERRIDE_FILE, line, 1, line, len(text.partition("=")[0]) + 1)
        new_entries, problem = _set(document.entries, path, value, whole)
        if problem is not None:
            diagnostics.append(problem)
        else:
            document = evolve(document, entries=new_entries)
    return document, diagnostics


def _set(entries: tuple, path: list[str], value, span: Span, walked: str = "") -> tuple[tuple, Diagnostic | None]:
    """Replace (or add) ``path[-1] = value`` inside the block that ``path[:-1]`` names."""
    head = path[0]
    if len(path) == 1:
        key: str | int = int(head) if head.lstrip("-").isdigit() else head
        out, found = [], False
        for e in entries:
            if isinstance(e, ast.Assignment) and e.key == key and not found:
                e = evolve(e, value=value)
                found = True
            out.append(e)
        if not found:
            out.append(ast.Assignment(key, value, span, span))
        return tuple(out), None
    # a named value: template.NAME=..., group.NAME=...
    if len(path) == 2:
        for i, e in enumerate(entries):
            if isinstance(e, ast.NamedValue) and e.kind == head and e.name == path[1]:
                return entries[:i] + (evolve(e, value=value),) + entries[i + 1:], None
    # blocks: kind NAME (named) or kind (unnamed: analysis, bootstrap, report, lora...)
    kinds = [e for e in entries if isinstance(e, ast.Block)]
    for i, e in enumerate(entries):
        if not isinstance(e, ast.Block) or e.kind != head:
            continue
        if e.name is None:
            rest = path[1:]
        elif len(path) > 2 and e.name == path[1]:
            rest = path[2:]
        else:
            continue
        prefix = f"{walked}{head}." if e.name is None else f"{walked}{head}.{e.name}."
        sub, problem = _set(e.entries, rest, value, span, prefix)
        if problem is not None:
            return entries, problem
        return entries[:i] + (evolve(e, entries=sub),) + entries[i + 1:], None
    names = [f"{b.kind}.{b.name}" if b.name else b.kind for b in kinds]
    wanted = f"{head}.{path[1]}" if len(path) > 2 else head
    hint = did_you_mean(wanted, names) or (f"blocks here: {', '.join(names)}" if names else "nothing to set here")
    return entries, diagnostic("SIL951", f"override `{walked}{'.'.join(path)}`: no block `{walked}{wanted}` in the spec", span, hint)
