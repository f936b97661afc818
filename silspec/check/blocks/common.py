"""Small helpers shared by the block modules: blocks of a kind, their assignments, named values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator, TypeVar

from silspec.check.schema import UNNAMED
from silspec.lang import ast

if TYPE_CHECKING:
    from silspec.check.context import Context

Built = TypeVar("Built")


def blocks(entries: tuple[ast.Entry, ...], kind: str) -> Iterator[ast.Block]:
    """Blocks of one kind, first definition per name only (duplicates are reported elsewhere).

    A block that needs a name but has none is skipped (SIL107 is reported by the structure rule)."""
    seen: set = set()
    for e in entries:
        if isinstance(e, ast.Block) and e.kind == kind:
            if e.name is None and kind not in UNNAMED:
                continue
            if e.name is not None and e.name in seen:
                continue
            seen.add(e.name)
            yield e


def build_each(ctx: Context, kind: str, build_one: Callable[[Context, ast.Block], Built | None]) -> dict[str, Built]:
    """Every block of one kind by name; a block whose builder reported errors (None) is left out."""
    built: dict[str, Built] = {}
    for block in blocks(ctx.document.entries, kind):
        value = build_one(ctx, block)
        if value is not None:
            built[block.name] = value
    return built


def assignments(block: ast.Block) -> dict[str | int, ast.Assignment]:
    """First assignment per key (a duplicate is reported by the structure rule)."""
    out: dict[str | int, ast.Assignment] = {}
    for e in block.entries:
        if isinstance(e, ast.Assignment) and e.key not in out:
            out[e.key] = e
    return out


def named_values(entries: tuple[ast.Entry, ...], kind: str) -> Iterator[ast.NamedValue]:
    seen: set = set()
    for e in entries:
        if isinstance(e, ast.NamedValue) and e.kind == kind and e.name not in seen:
            seen.add(e.name)
            yield e
