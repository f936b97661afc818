"""The syntax tree of a `.sil` file: what was written, where, with its comments.

Nodes are frozen attrs classes. Every node carries a ``Span``; every *entry* (block,
assignment, named value, analysis statement) carries its leading and trailing comments, so a
future ``silspec fmt`` can print the file back without a second parser. The tree is generic
(`kind NAME { key = value }`): which kinds and keys exist is decided by the checker.
"""

from __future__ import annotations

from typing import Union

from attrs import field, frozen

from silspec.lang.span import Span

__all__ = [
    "Span", "Comment", "String", "Number", "Bool", "NoneLit", "Ref", "ListExpr", "MapPair",
    "MapExpr", "KwArg", "Call", "Range", "Concat", "Expr", "Assignment", "NamedValue", "Block",
    "Compare", "Calibrate", "Entry", "Document",
]


@frozen
class Comment:
    text: str  # as written, including // or /* */
    span: Span


# ----------------------------------------------------------------------------- expressions


@frozen
class String:
    value: str  # escapes processed / dedented (long strings)
    span: Span
    long: bool = False  # written as """..."""


@frozen
class Number:
    """A number as written. ``unit`` is None, ``"s"`` (durations, already in seconds) or ``"%"``."""

    value: float | int
    span: Span
    text: str = ""
    unit: str | None = None


@frozen
class Bool:
    value: bool
    span: Span


@frozen
class NoneLit:
    span: Span


@frozen
class Ref:
    """A name or dotted reference: ``gpt52``, ``kgss2023.CONFINAN``, ``kgss2023.*``."""

    parts: tuple[str, ...]
    span: Span

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@frozen
class ListExpr:
    elements: tuple["Expr", ...]
    span: Span


@frozen
class MapPair:
    key: Union[String, Number, Ref]
    value: "Expr"
    span: Span

    @property
    def key_value(self) -> str | int | float:
        k = self.key
        return k.dotted if isinstance(k, Ref) else k.value


@frozen
class MapExpr:
    pairs: tuple[MapPair, ...]
    span: Span


@frozen
class KwArg:
    name: str
    value: "Expr"
    span: Span


@frozen
class Call:
    """``file("x")``, ``table("x", item = "Q1")``, ``env("VAR")``, ``exponential(base = 2)``."""

    name: str
    args: tuple["Expr", ...]
    kwargs: tuple[KwArg, ...]
    span: Span

    def kwarg(self, name: str) -> "Expr | None":
        for kw in self.kwargs:
            if kw.name == name:
                return kw.value
        return None


@frozen
class Range:
    start: int
    end: int
    span: Span


@frozen
class Concat:
    """``a + "\\n" + b``: template (or string) concatenation."""

    parts: tuple["Expr", ...]
    span: Span


Expr = Union[String, Number, Bool, NoneLit, Ref, ListExpr, MapExpr, Call, Range, Concat]


# ---------------------------------------------------------------------------------- entries


@frozen
class Assignment:
    """``key = value``; ``key`` is a name or an integer (scale codes)."""

    key: str | int
    value: Expr
    span: Span
    key_span: Span
    leading: tuple[Comment, ...] = ()
    trailing: tuple[Comment, ...] = ()
    inner: tuple[Comment, ...] = ()  # comments inside a multi-line value


@frozen
class NamedValue:
    """``template NAME = value`` / ``group NAME = [...]`` at top level."""

    kind: str
    name: str
    value: Expr
    span: Span
    kind_span: Span
    name_span: Span
    leading: tuple[Comment, ...] = ()
    trailing: tuple[Comment, ...] = ()
    inner: tuple[Comment, ...] = ()


@frozen
class Block:
    """``kind [NAME] [extends PARENT] { entries }``."""

    kind: str
    name: str | None
    extends: str | None
    entries: tuple["Entry", ...]
    span: Span
    kind_span: Span
    name_span: Span | None = None
    extends_span: Span | None = None
    leading: tuple[Comment, ...] = ()
    trailing: tuple[Comment, ...] = ()
    inner: tuple[Comment, ...] = ()  # comments after the last entry, before `}`

    def assignments(self) -> dict[str | int, "Assignment"]:
        """Last assignment per key (duplicates are reported by the checker)."""
        return {e.key: e for e in self.entries if isinstance(e, Assignment)}

    def blocks(self, kind: str | None = None) -> list["Block"]:
        return [e for e in self.entries if isinstance(e, Block) and (kind is None or e.kind == kind)]


@frozen
class Compare:
    """``compare b vs a on js, wasserstein [without UNIFI] [by country]`` (analysis)."""

    challenger: str
    baseline: str
    metrics: tuple[str, ...]
    span: Span
    without: tuple[str, ...] = ()
    by: str | None = None
    name_spans: dict[str, Span] = field(factory=dict, eq=False)
    leading: tuple[Comment, ...] = ()
    trailing: tuple[Comment, ...] = ()
    inner: tuple[Comment, ...] = ()


@frozen
class Calibrate:
    """``calibrate CONDITION with CALIBRATION`` (analysis)."""

    condition: str
    calibration: str
    span: Span
    name_spans: dict[str, Span] = field(factory=dict, eq=False)
    leading: tuple[Comment, ...] = ()
    trailing: tuple[Comment, ...] = ()
    inner: tuple[Comment, ...] = ()


Entry = Union[Assignment, NamedValue, Block, Compare, Calibrate]


@frozen
class Document:
    file: str
    version: int | None
    entries: tuple[Entry, ...]
    span: Span
    version_span: Span | None = None
    header_comments: tuple[Comment, ...] = ()  # comments before/at the `silspec 1` header
    trailing: tuple[Comment, ...] = ()  # comments after the last entry
    comments: tuple[Comment, ...] = ()  # every comment, in order (for tools)
    version_text: str | None = None  # the header's version as written (`1`), for `silspec fmt`
