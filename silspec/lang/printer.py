"""The canonical printer behind ``silspec fmt``: syntax tree → `.sil` text, comments kept.

A preregistered spec is read by people and diffed in reviews, so there is exactly one layout
for every tree (the rules are in docs/language.md, "Canonical form"). The printer works on the
tree the parser already built (comments are attached to entries there), so there is no second
parser; it never changes what a spec means: ``parse(format_document(doc))`` gives the same tree,
spans and comment placement aside, and printing twice changes nothing.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Iterable, Union

from attrs import field, frozen

from silspec.lang import ast
from silspec.lang.diagnostics import Diagnostic, has_errors
from silspec.lang.parser import parse, parse_expression

__all__ = ["MAX_WIDTH", "INDENT", "FormatResult", "format_document", "format_text"]

MAX_WIDTH = 100  # columns (East Asian wide characters count 2) before a list/map/call breaks
INDENT = "  "
ONE_LINE_BLOCK_ENTRIES = 3  # a nested block of at most this many plain entries may stay on one line

_Container = Union[ast.ListExpr, ast.MapExpr, ast.Call]
_Item = Union[ast.Expr, ast.MapPair, ast.KwArg]


@frozen
class FormatResult:
    """Canonical text, or None when the input does not parse (then ``diagnostics`` says why)."""

    text: str | None
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def ok(self) -> bool:
        return self.text is not None


def format_text(text: str, file: str = "<stdin>") -> FormatResult:
    """Parse and print; a file with syntax errors is never printed (it would lose text).
    Line endings become ``\\n`` first (also inside triple-quoted strings), as in the output."""
    result = parse(text.replace("\r\n", "\n"), file)
    if result.ast is None or has_errors(result.diagnostics):
        return FormatResult(None, result.diagnostics)
    return FormatResult(format_document(result.ast), result.diagnostics)


def format_document(doc: ast.Document) -> str:
    """The canonical text of a parsed document (ends with exactly one newline)."""
    return _Printer().document(doc)


# ----------------------------------------------------------------------------------- helpers


def _width(text: str) -> int:
    """Display columns: Korean (and other wide) characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _last_line_width(text: str) -> int:
    return _width(text.rsplit("\n", 1)[-1])


def _quote(value: str) -> str:
    """A ``"..."`` literal with the canonical escapes (\\" \\\\ \\n \\t, \\uXXXX for controls)."""
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _pos(span: ast.Span) -> tuple[int, int]:
    return (span.line, span.col)


def _inside(comment: ast.Comment, span: ast.Span) -> bool:
    return _pos(span) <= _pos(comment.span) < (span.end_line, span.end_col)


def _long_literal(value: str, level: int) -> str | None:
    """A triple-quoted literal that parses back to ``value``: on one line when the value has no
    newline, else its lines indented one level deeper than ``level``. None when no such literal
    exists (the parser dedents, so e.g. a common margin cannot be written)."""
    escaped = value.replace('"""', '\\"""')
    if "\n" not in value:
        literal = '"""' + escaped + '"""'
        if _parses_back(literal, value):
            return literal
    pad = INDENT * (level + 1)
    lines = escaped.split("\n")
    body = [pad + line if line else "" for line in lines[:-1]]
    body.append((pad + lines[-1] if lines[-1] else pad) + '"""')
    literal = '"""\n' + "\n".join(body)
    return literal if _parses_back(literal, value) else None


@lru_cache(maxsize=4096)
def _parses_back(literal: str, value: str) -> bool:
    """Checked by the parser itself, so the printer cannot drift from it."""
    node, diagnostics = parse_expression(literal)
    return not diagnostics and isinstance(node, ast.String) and node.long and node.value == value


@frozen
class _ContainerComments:
    """Comments found between the elements of one list, map or call."""

    leading: dict[int, list[ast.Comment]] = field(factory=dict)
    trailing: dict[int, list[ast.Comment]] = field(factory=dict)
    dangling: list[ast.Comment] = field(factory=list)  # after the last element


def _items(node: _Container) -> list[_Item]:
    if isinstance(node, ast.ListExpr):
        return list(node.elements)
    if isinstance(node, ast.MapExpr):
        return list(node.pairs)
    return list(node.args) + list(node.kwargs)


# ----------------------------------------------------------------------------------- printer


class _Printer:
    def __init__(self) -> None:
        # id(container) -> its comments; a container with comments never prints on one line
        self.container_comments: dict[int, _ContainerComments] = {}

    # ---------------------------------------------------------------------------- document
    def document(self, doc: ast.Document) -> str:
        lines: list[str] = []
        if doc.version_span is not None:
            header_line = doc.version_span.line
            above = [c for c in doc.header_comments if c.span.line < header_line]
            beside = [c for c in doc.header_comments if c.span.line >= header_line]
            lines += self._comment_group(above, "", next_line=header_line)
            version = doc.version_text or str(doc.version)
            lines += self._with_trailing(f"silspec {version}", beside)[0]
        else:
            lines += self._comment_group(list(doc.header_comments), "", next_line=None)
        body = self._entries(doc.entries, 0, doc.trailing, top=True)
        if lines and body:
            lines.append("")
        lines += body
        while lines and lines[-1] == "":
            lines.pop()
        return "\n".join(lines) + "\n" if lines else ""

    # ----------------------------------------------------------------------------- entries
    def _entries(
        self, entries: Iterable[ast.Entry], level: int, tail: tuple[ast.Comment, ...], *, top: bool,
        skip_leading: int = 0,
    ) -> list[str]:
        """Entries of one block (or the file) with their comments and the blank-line rules."""
        pad = INDENT * level
        lines: list[str] = []
        prev: ast.Entry | None = None
        prev_lines: list[str] = []
        prev_comment_col: int | None = None
        for index, entry in enumerate(entries):
            unplaced = self._prepare_comments(entry)
            leading = list(entry.leading)[skip_leading if index == 0 else 0:]
            continuation, leading = self._continuation(prev, prev_comment_col, leading)
            lines += [" " * prev_comment_col + c.text for c in continuation]  # type: ignore[operator]
            body, comment_col = self._entry(entry, level)
            if prev is not None and self._blank_between(prev, prev_lines, entry, body, leading + unplaced, top):
                lines.append("")
            lines += self._comment_group(leading, pad, next_line=entry.span.line)
            lines += [pad + c.text for c in unplaced]
            lines += body
            prev, prev_lines, prev_comment_col = entry, body, comment_col
        rest = list(tail)
        continuation, rest = self._continuation(prev, prev_comment_col, rest)
        lines += [" " * prev_comment_col + c.text for c in continuation]  # type: ignore[operator]
        if rest:
            if top and lines and (prev is None or rest[0].span.line > prev.span.end_line + 1):
                lines.append("")
            lines += self._comment_group(rest, pad, next_line=None)
        return lines

    @staticmethod
    def _continuation(
        prev: ast.Entry | None, col: int | None, comments: list[ast.Comment]
    ) -> tuple[list[ast.Comment], list[ast.Comment]]:
        """Split off `//` comments that continue the previous entry's trailing comment: on the
        following lines, starting in the same column (they stay aligned under it)."""
        if prev is None or col is None or not prev.trailing or not prev.trailing[-1].text.startswith("//"):
            return [], comments
        anchor = prev.trailing[0].span.col
        line = prev.trailing[-1].span.line
        count = 0
        for c in comments:
            if not c.text.startswith("//") or c.span.line != line + 1 or c.span.col != anchor:
                break
            line += 1
            count += 1
        return comments[:count], comments[count:]

    @staticmethod
    def _blank_between(
        prev: ast.Entry, prev_lines: list[str], entry: ast.Entry, body: list[str],
        leading: list[ast.Comment], top: bool,
    ) -> bool:
        if not top:  # inside a block: blank lines only around nested blocks printed on several lines
            return (isinstance(prev, ast.Block) and len(prev_lines) > 1) or (
                isinstance(entry, ast.Block) and len(body) > 1
            )
        if leading or isinstance(prev, ast.Block) or isinstance(entry, ast.Block):
            return True
        if len(prev_lines) > 1 or len(body) > 1:
            return True
        return _declaration_kind(prev) != _declaration_kind(entry)

    def _comment_group(self, comments: list[ast.Comment], pad: str, *, next_line: int | None) -> list[str]:
        """Comments on their own lines; a blank line in the source between two of them, or
        between the last one and what follows, is kept (one blank line, never more)."""
        lines: list[str] = []
        for i, c in enumerate(comments):
            if i and c.span.line > comments[i - 1].span.end_line + 1:
                lines.append("")
            lines.append(pad + c.text)
        if comments and next_line is not None and next_line > comments[-1].span.end_line + 1:
            lines.append("")
        return lines

    def _with_trailing(self, text: str, trailing: Iterable[ast.Comment]) -> tuple[list[str], int | None]:
        """``text`` with trailing comments two spaces after its last line; returns the lines and
        the comments' offset in characters (for continuation lines: the parser counts columns
        in characters, so that is what keeps them recognisable as continuations)."""
        trailing = list(trailing)
        if not trailing:
            return text.split("\n"), None
        col = len(text.rsplit("\n", 1)[-1]) + 2
        return (text + "  " + " ".join(c.text for c in trailing)).split("\n"), col

    def _entry(self, entry: ast.Entry, level: int) -> tuple[list[str], int | None]:
        pad = INDENT * level
        if isinstance(entry, ast.Block):
            return self._block(entry, level)
        if isinstance(entry, ast.Assignment):
            head = f"{pad}{entry.key} = "
        elif isinstance(entry, ast.NamedValue):
            head = f"{pad}{entry.kind} {entry.name} = "
        elif isinstance(entry, ast.Compare):
            head = f"{pad}compare {entry.challenger} vs {entry.baseline} on {', '.join(entry.metrics)}"
            if entry.without:
                head += f" without {', '.join(entry.without)}"
            if entry.by:
                head += f" by {entry.by}"
            return self._with_trailing(head, entry.trailing)
        elif isinstance(entry, ast.Calibrate):
            return self._with_trailing(f"{pad}calibrate {entry.condition} with {entry.calibration}", entry.trailing)
        else:  # pragma: no cover - the parser builds no other entries
            raise TypeError(f"cannot print {type(entry).__name__}")
        text = head + self._expr(entry.value, level, _width(head), 0)
        return self._with_trailing(text, entry.trailing)

    def _block(self, block: ast.Block, level: int) -> tuple[list[str], int | None]:
        pad = INDENT * level
        head = pad + block.kind
        if block.name is not None:
            head += f" {block.name}"
        if block.extends is not None:
            head += f" extends {block.extends}"
        if not block.entries and not block.inner:
            return self._with_trailing(head + " {}", block.trailing)
        one_line = self._one_line_block(block, level)
        if one_line is not None and _width(head + one_line) <= MAX_WIDTH:
            return self._with_trailing(head + one_line, block.trailing)
        # comments on the header line (`item X {  // why`) stay there
        header_line = max(s.line for s in (block.kind_span, block.name_span, block.extends_span) if s)
        first_leading = block.entries[0].leading if block.entries else ()
        beside: list[ast.Comment] = []
        for c in first_leading:
            if c.span.line != header_line:
                break
            beside.append(c)
        opening, _ = self._with_trailing(head + " {", beside)
        lines = opening
        lines += self._entries(block.entries, level + 1, block.inner, top=False, skip_leading=len(beside))
        closing, col = self._with_trailing(pad + "}", block.trailing)
        return lines + closing, col

    def _one_line_block(self, block: ast.Block, level: int) -> str | None:
        """`` { a = 1  b = 2 }`` for a small nested block of plain entries without comments."""
        if level == 0 or block.inner or not 1 <= len(block.entries) <= ONE_LINE_BLOCK_ENTRIES:
            return None
        parts = []
        for entry in block.entries:
            if not isinstance(entry, ast.Assignment) or entry.leading or entry.trailing or entry.inner:
                return None
            flat = self._flat(entry.value)
            if flat is None:
                return None
            parts.append(f"{entry.key} = {flat}")
        return " { " + "  ".join(parts) + " }"

    # ------------------------------------------------------------------- comments in values
    def _prepare_comments(self, entry: ast.Entry) -> list[ast.Comment]:
        """Place the comments inside an entry's value between list/map/call elements; returns
        those that have no such place (they print above the entry)."""
        inner = list(entry.inner) if not isinstance(entry, ast.Block) else []
        if not inner:
            return []
        if isinstance(entry, (ast.Assignment, ast.NamedValue)):
            value = entry.value
            inside = [c for c in inner if _inside(c, value.span)]
            outside = [c for c in inner if not _inside(c, value.span)]
            return outside + self._assign(value, inside)
        return inner

    def _assign(self, node: ast.Expr | ast.MapPair | ast.KwArg, comments: list[ast.Comment]) -> list[ast.Comment]:
        if not comments:
            return []
        if isinstance(node, (ast.MapPair, ast.KwArg)):
            inside = [c for c in comments if _inside(c, node.value.span)]
            rest = [c for c in comments if not _inside(c, node.value.span)]
            return rest + self._assign(node.value, inside)
        if isinstance(node, ast.Concat):
            unplaced: list[ast.Comment] = []
            for part in node.parts:
                unplaced += self._assign(part, [c for c in comments if _inside(c, part.span)])
            return unplaced + [c for c in comments if not any(_inside(c, p.span) for p in node.parts)]
        if not isinstance(node, (ast.ListExpr, ast.MapExpr, ast.Call)):
            return list(comments)
        items = sorted(_items(node), key=lambda item: _pos(item.span))
        placed = _ContainerComments()
        nested: dict[int, list[ast.Comment]] = {}
        for c in comments:
            holder = next((i for i, item in enumerate(items) if _inside(c, item.span)), None)
            if holder is not None:
                nested.setdefault(holder, []).append(c)
                continue
            before = [i for i, item in enumerate(items) if (item.span.end_line, item.span.end_col) <= _pos(c.span)]
            after = [i for i, item in enumerate(items) if _pos(item.span) > _pos(c.span)]
            if before and items[before[-1]].span.end_line == c.span.line:
                placed.trailing.setdefault(self._index(node, items[before[-1]]), []).append(c)
            elif after:
                placed.leading.setdefault(self._index(node, items[after[0]]), []).append(c)
            else:
                placed.dangling.append(c)
        if placed.leading or placed.trailing or placed.dangling:
            self.container_comments[id(node)] = placed
        unplaced = []
        for i, cs in nested.items():
            unplaced += self._assign(items[i], cs)
        return unplaced

    @staticmethod
    def _index(node: _Container, item: _Item) -> int:
        """Position of ``item`` in print order (a call prints positional arguments first)."""
        return next(i for i, x in enumerate(_items(node)) if x is item)

    # --------------------------------------------------------------------------- expressions
    def _flat(self, e: ast.Expr) -> str | None:
        """One-line form, or None when the value cannot be on one line (comments, long text)."""
        if isinstance(e, ast.String):
            if not e.long:
                return _quote(e.value)
            if "\n" in e.value:
                return None
            return _long_literal(e.value, 0) or _quote(e.value)  # a one-line long string
        if isinstance(e, ast.Number):
            return e.text or repr(e.value)
        if isinstance(e, ast.Bool):
            return "true" if e.value else "false"
        if isinstance(e, ast.NoneLit):
            return "none"
        if isinstance(e, ast.Ref):
            return e.dotted
        if isinstance(e, ast.Range):
            return f"{e.start}..{e.end}"
        if isinstance(e, ast.Concat):
            parts = [self._flat(p) for p in e.parts]
            return None if None in parts else " + ".join(parts)  # type: ignore[arg-type]
        if id(e) in self.container_comments:
            return None
        items = [self._flat_item(item) for item in _items(e)]  # type: ignore[arg-type]
        if None in items:
            return None
        if isinstance(e, ast.ListExpr):
            return "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
        if isinstance(e, ast.MapExpr):
            return "{ " + ", ".join(items) + " }" if items else "{}"  # type: ignore[arg-type]
        return f"{e.name}(" + ", ".join(items) + ")"  # type: ignore[arg-type,union-attr]

    def _flat_item(self, item: _Item) -> str | None:
        if isinstance(item, ast.MapPair):
            value = self._flat(item.value)
            return None if value is None else f"{self._map_key(item.key)}: {value}"
        if isinstance(item, ast.KwArg):
            value = self._flat(item.value)
            return None if value is None else f"{item.name} = {value}"
        return self._flat(item)

    @staticmethod
    def _map_key(key: ast.String | ast.Number | ast.Ref) -> str:
        if isinstance(key, ast.String):
            return _quote(key.value)
        if isinstance(key, ast.Number):
            return key.text or repr(key.value)
        return key.dotted

    def _expr(self, e: ast.Expr, level: int, col: int, tail: int) -> str:
        """``e`` starting at column ``col`` with ``tail`` columns to follow on its last line;
        broken over lines (indented from ``level``) only when the one-line form does not fit."""
        flat = self._flat(e)
        if flat is not None and col + _width(flat) + tail <= MAX_WIDTH:
            return flat
        if isinstance(e, ast.String):
            return flat if flat is not None else _long_literal(e.value, level) or _quote(e.value)
        if isinstance(e, ast.Concat):
            out = ""
            for i, part in enumerate(e.parts):
                if i:
                    out += " + "
                start = _last_line_width(out) if "\n" in out else col + _width(out)
                out += self._expr(part, level, start, tail if i == len(e.parts) - 1 else 3)
            return out
        if isinstance(e, (ast.ListExpr, ast.MapExpr, ast.Call)) and (_items(e) or flat is None):
            if isinstance(e, ast.Call):
                hugged = self._hugged_call(e, level, col, tail)
                if hugged is not None:
                    return hugged
            return self._broken(e, level)
        return flat if flat is not None else ""

    def _hugged_call(self, call: ast.Call, level: int, col: int, tail: int) -> str | None:
        """``by([a, b], {`` ... ``})``: only the last positional list/map breaks."""
        if id(call) in self.container_comments or call.kwargs or not call.args:
            return None
        *first, last = call.args
        if not isinstance(last, (ast.ListExpr, ast.MapExpr)) or not _items(last):
            return None
        flats = [self._flat(a) for a in first]
        if None in flats:
            return None
        head = f"{call.name}(" + "".join(f + ", " for f in flats)  # type: ignore[operator]
        if col + _width(head) + 1 > MAX_WIDTH:
            return None
        return head + self._broken(last, level) + ")"

    def _broken(self, node: _Container, level: int) -> str:
        """One element per line, one level deeper, each followed by a comma."""
        if isinstance(node, ast.ListExpr):
            opening, closing = "[", "]"
        elif isinstance(node, ast.MapExpr):
            opening, closing = "{", "}"
        else:
            opening, closing = f"{node.name}(", ")"
        comments = self.container_comments.get(id(node), _ContainerComments())
        pad = INDENT * (level + 1)
        lines = [opening]
        for i, item in enumerate(_items(node)):
            lines += [pad + c.text for c in comments.leading.get(i, [])]
            if isinstance(item, ast.MapPair):
                key = f"{self._map_key(item.key)}: "
                text = key + self._expr(item.value, level + 1, _width(pad + key), 1)
            elif isinstance(item, ast.KwArg):
                key = f"{item.name} = "
                text = key + self._expr(item.value, level + 1, _width(pad + key), 1)
            else:
                text = self._expr(item, level + 1, _width(pad), 1)
            trailing = comments.trailing.get(i, [])
            lines.append(pad + text + "," + ("  " + " ".join(c.text for c in trailing) if trailing else ""))
        lines += [pad + c.text for c in comments.dangling]
        lines.append(INDENT * level + closing)
        return "\n".join(lines)


def _declaration_kind(entry: ast.Entry) -> str:
    """Consecutive one-line top-level entries of one kind (`template`s, `group`s) stay together."""
    if isinstance(entry, ast.NamedValue):
        return entry.kind
    return type(entry).__name__
