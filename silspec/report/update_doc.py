"""Fill marked blocks of a Markdown manuscript with the run's tables.

A block is ``<!-- silspec:NAME -->`` … ``<!-- /silspec:NAME -->``; everything between the two
markers is replaced, and every byte outside them is left exactly as it was. This is how the
KGSS paper's bootstrap table was generated, made repeatable.
"""

from __future__ import annotations

import re
from pathlib import Path

from silspec.analysis.results import Results, RunsAggregate
from silspec.report.export import markdown_blocks, runs_markdown_blocks


_OPEN = re.compile(r"<!--\s*silspec:([A-Za-z0-9_.-]+)\s*-->")
_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})", re.MULTILINE)


def _fenced_ranges(text: str) -> list[tuple[int, int]]:
    """Character ranges of fenced code blocks: a marker shown *as code* is an example, not a block."""
    ranges: list[tuple[int, int]] = []
    opened: re.Match[str] | None = None
    for fence in _FENCE.finditer(text):
        if opened is None:
            opened = fence
        elif fence.group(1)[0] == opened.group(1)[0] and len(fence.group(1)) >= len(opened.group(1)):
            ranges.append((opened.start(), fence.end()))
            opened = None
    if opened is not None:
        ranges.append((opened.start(), len(text)))
    return ranges


class UpdateDocError(ValueError):
    """A manuscript block that cannot be filled: unknown name or unclosed marker."""


def fill_blocks(text: str, blocks: dict[str, object]) -> tuple[str, list[str]]:
    """Replace the content of every marked block; returns (new text, names filled).

    ``blocks`` maps a name to its content (a string or a zero-argument callable). An unknown
    name or an opening marker without its closing marker is an ``UpdateDocError``.
    """
    newline = "\r\n" if "\r\n" in text else "\n"  # keep the manuscript's line endings
    out: list[str] = []
    filled: list[str] = []
    position = 0
    fenced = _fenced_ranges(text)
    for opening in _OPEN.finditer(text):
        if opening.start() < position:
            continue  # a marker inside a block we already replaced
        if any(start <= opening.start() < end for start, end in fenced):
            continue  # documentation of the syntax, inside ``` fences
        name = opening.group(1)
        closing = re.compile(r"<!--\s*/silspec:" + re.escape(name) + r"\s*-->").search(text, opening.end())
        if closing is None:
            line = text.count("\n", 0, opening.start()) + 1
            raise UpdateDocError(f"line {line}: <!-- silspec:{name} --> has no closing <!-- /silspec:{name} -->")
        if name not in blocks:
            line = text.count("\n", 0, opening.start()) + 1
            known = ", ".join(sorted(blocks))
            raise UpdateDocError(f"line {line}: unknown block {name!r}; known blocks: {known}")
        content = blocks[name]
        content = content() if callable(content) else str(content)
        out.append(text[position : opening.end()])
        body = content.strip("\n").replace("\r\n", "\n").replace("\n", newline)
        out.append(newline + body + newline)
        position = closing.start()
        filled.append(name)
    out.append(text[position:])
    return "".join(out), filled


def update_doc(path: str | Path, results: Results) -> list[str]:
    """Fill the blocks of the manuscript at ``path`` in place; returns the names filled.

    ``results`` may also be a ``RunsAggregate`` (several runs): its blocks are ``runs``,
    ``runs_<condition>`` (mean ± SD over runs) and ``warnings``.

    The file is read and written as bytes-faithful UTF-8 text (newlines untouched) and only
    rewritten when something changed.
    """
    path = Path(path)
    with path.open(encoding="utf-8", newline="") as handle:
        original = handle.read()
    blocks = runs_markdown_blocks(results) if isinstance(results, RunsAggregate) else markdown_blocks(results)
    updated, filled = fill_blocks(original, blocks)
    if updated != original:
        with path.open("w", encoding="utf-8", newline="") as handle:
            handle.write(updated)
    return filled
