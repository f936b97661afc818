"""The parser facade: the only module that knows about Lark.

It owns the Lark configuration (LALR, positions, contextual lexer, lexer callbacks that collect
comments), builds ``silspec.lang.ast`` nodes, attaches comments to the
entries they belong to, and turns Lark's exceptions into ``Diagnostic``s with a position and a
hint. No Lark type leaves this module.
"""

from __future__ import annotations

import re
import textwrap
import threading
from functools import lru_cache
from importlib import resources
from typing import Any

from attrs import evolve, frozen

from silspec.lang import ast
from silspec.lang.diagnostics import Diagnostic, diagnostic, error
from silspec.lang.span import Span

__all__ = ["ParseResult", "parse", "parse_expression"]

MAX_INT_DIGITS = 100
MAX_SPEC_CHARS = 2_000_000  # a whole spec (shipped specs are under 50,000); checked before lexing
MAX_STRING_CHARS = 100_000  # one string literal: a prompt is at most 200,000 characters rendered
_UNITS = ("s", "ms", "m", "h")
# `5parsecs`, `0.5sec`: a number directly followed by letters the grammar does not know as a unit
_NUMBER_WITH_UNIT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?([A-Za-z_][A-Za-z0-9_]*)")
_DURATION_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}

# Friendly names for Lark's terminal names, used in "expected ..." messages.
_TERMINAL_NAMES = {
    "NAME": "a name", "INT_KEY": "an integer", "NUMBER": "a number", "STRING": "a string",
    "LONG_STRING": "a string", "LBRACE": "`{`", "RBRACE": "`}`", "LSQB": "`[`", "RSQB": "`]`",
    "LPAR": "`(`", "RPAR": "`)`", "EQUAL": "`=`", "COMMA": "`,`", "COLON": "`:`", "DOT": "`.`",
    "PLUS": "`+`", "STAR": "`*`", "$END": "end of file",
}


@frozen
class ParseResult:
    ast: ast.Document | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return self.ast is not None and not any(d.severity == "error" for d in self.diagnostics)


# ------------------------------------------------------------------------------- transformer


def _tok_span(file: str, tok: Any) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line, tok.end_column)


class _Builder:
    """Lark inline-transformer callbacks (one per rule alias). Per-parse state lives here."""

    def __init__(self) -> None:
        self.file = "<string>"
        self.comments: list[Any] = []
        self.problems: list[Diagnostic] = []

    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 1, 1, 1, 1)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    # --- expressions
    def string(self, meta, children):
        tok = children[0]
        return ast.String(self._unescape(self._bounded(str(tok)[1:-1], meta), tok), self._span(meta))

    def long_string(self, meta, children):
        raw = self._bounded(str(children[0])[3:-3], meta).replace('\\"""', '"""')
        if raw.startswith("\r\n"):
            raw = raw[2:]
        elif raw.startswith("\n"):
            raw = raw[1:]
        return ast.String(textwrap.dedent(raw), self._span(meta), long=True)

    def number(self, meta, children):
        text = str(children[0])
        match = re.fullmatch(r"(-?[0-9.eE+-]+?)(ms|s|m|h|%)?", text)
        digits, unit = (match.group(1), match.group(2)) if match else (text, None)
        value: float | int = float(digits) if re.search(r"[.eE]", digits) else self._int(digits, meta)
        if unit in _DURATION_FACTORS:
            value = value * _DURATION_FACTORS[unit]
            unit = "s"
        return ast.Number(value, self._span(meta), text, unit)

    def true(self, meta, children):
        return ast.Bool(True, self._span(meta))

    def false(self, meta, children):
        return ast.Bool(False, self._span(meta))

    def none(self, meta, children):
        return ast.NoneLit(self._span(meta))

    def ref(self, meta, children):
        return ast.Ref(tuple(str(c) for c in children), self._span(meta))

    def call(self, meta, children):
        args, kwargs = [], []
        for c in children:
            if c is None:
                continue
            (kwargs if isinstance(c, ast.KwArg) else args).append(c)
        name = str(children[0])
        return ast.Call(name, tuple(args[1:]), tuple(kwargs), self._span(meta))

    def kwarg(self, meta, children):
        return ast.KwArg(str(children[0]), children[1], self._span(meta))

    def list(self, meta, children):
        return ast.ListExpr(tuple(c for c in children if c is not None), self._span(meta))

    def map(self, meta, children):
        return ast.MapExpr(tuple(c for c in children if c is not None), self._span(meta))

    def pair(self, meta, children):
        return ast.MapPair(children[0], children[1], self._span(meta))

    def map_key(self, meta, children):
        tok = children[0]
        span = _tok_span(self.file, tok)
        if tok.type == "STRING":
            return ast.String(self._unescape(str(tok)[1:-1], tok), span)
        if tok.type == "NAME":
            return ast.Ref((str(tok),), span)
        return evolve(self.number(meta, [tok]), span=span)

    def range(self, meta, children):
        return ast.Range(self._int(str(children[0]), meta), self._int(str(children[1]), meta), self._span(meta))

    def concat(self, meta, children):
        return ast.Concat(tuple(children), self._span(meta))

    # --- entries
    def key(self, meta, children):
        tok = children[0]
        return (self._int(str(tok), tok) if tok.type == "INT_KEY" else str(tok)), _tok_span(self.file, tok)

    def assignment(self, meta, children):
        (key, key_span), value = children
        return ast.Assignment(key, value, self._span(meta), key_span)

    def named_value(self, meta, children):
        kind, name, value = children
        return ast.NamedValue(
            str(kind), str(name), value, self._span(meta),
            _tok_span(self.file, kind), _tok_span(self.file, name),
        )

    def block_name(self, meta, children):
        return children[0]

    def extends(self, meta, children):
        return children[0]

    def block(self, meta, children):
        kind, name, parent, *entries = children
        return ast.Block(
            kind=str(kind),
            name=None if name is None else str(name),
            extends=None if parent is None else str(parent),
            entries=tuple(entries),
            span=self._span(meta),
            kind_span=_tok_span(self.file, kind),
            name_span=None if name is None else _tok_span(self.file, name),
            extends_span=None if parent is None else _tok_span(self.file, parent),
        )

    def name_list(self, meta, children):
        return list(children)

    def without(self, meta, children):
        return ("without", children[0])

    def by(self, meta, children):
        return ("by", children[0])

    def compare(self, meta, children):
        challenger, baseline, metrics, *rest = children
        without, by = (), None
        spans = {str(t): _tok_span(self.file, t) for t in (challenger, baseline, *metrics)}
        for part in rest:
            if part is None:
                continue
            if part[0] == "without":
                without = tuple(str(t) for t in part[1])
                spans.update({str(t): _tok_span(self.file, t) for t in part[1]})
            else:
                by = str(part[1])
                spans[by] = _tok_span(self.file, part[1])
        return ast.Compare(
            str(challenger), str(baseline), tuple(str(m) for m in metrics), self._span(meta),
            without=without, by=by, name_spans=spans,
        )

    def calibrate(self, meta, children):
        cond, cal = children
        return ast.Calibrate(
            str(cond), str(cal), self._span(meta),
            name_spans={str(cond): _tok_span(self.file, cond), str(cal): _tok_span(self.file, cal)},
        )

    def header(self, meta, children):
        tok = children[0]
        return ("header", tok)

    def start(self, meta, children):
        version, version_span, version_text, entries = None, None, None, []
        for c in children:
            if isinstance(c, tuple) and c and c[0] == "header":
                tok = c[1]
                version_span = _tok_span(self.file, tok)
                version_text = str(tok)
                try:
                    version = int(str(tok))
                except ValueError:
                    version = -1
            elif c is not None:
                entries.append(c)
        return version, version_span, version_text, entries

    # --- helpers
    def _int(self, digits: str, where: Any) -> int:
        """Python refuses to convert integers of over 4,300 digits; no spec value needs 100."""
        if len(digits.lstrip("-")) > MAX_INT_DIGITS:
            span = _tok_span(self.file, where) if hasattr(where, "type") else self._span(where)
            self.problems.append(error("SIL203", f"integer with {len(digits.lstrip('-')):,} digits",
                                       span, f"integers in a spec have at most {MAX_INT_DIGITS} digits"))
            return 0
        return int(digits)

    def _bounded(self, body: str, meta: Any) -> str:
        """A string literal over ``MAX_STRING_CHARS`` is an error (kept short, so that printing,
        formatting and diffing the spec stay cheap)."""
        if len(body) <= MAX_STRING_CHARS:
            return body
        self.problems.append(error("SIL203", f"string of {len(body):,} characters (limit {MAX_STRING_CHARS:,})",
                                   self._span(meta), "put long texts in a file: `file(\"templates/x.j2\")`"))
        return body[:0]

    def _unescape(self, body: str, tok: Any) -> str:
        if "\\" not in body:
            return body

        def repl(m: re.Match[str]) -> str:
            esc = m.group(1)
            if esc in _SIMPLE_ESCAPES:
                return _SIMPLE_ESCAPES[esc]
            if esc.startswith("u") and len(esc) == 5:
                return chr(int(esc[1:], 16))
            self.problems.append(
                diagnostic(
                    "SIL006",
                    f"unknown escape `\\{esc}` in string",
                    _tok_span(self.file, tok),
                    'strings know \\" \\\\ \\n \\t \\uXXXX; write \\\\ for a backslash',
                )
            )
            return esc

        return _ESCAPE_RE.sub(repl, body)


class _Parser:
    """Holds the compiled Lark parser; parsing is serialised (the builder has per-parse state)."""

    def __init__(self) -> None:
        from lark import Lark, Transformer, v_args

        self.builder = _Builder()
        builder = self.builder

        attrs_map = {}
        for name in dir(_Builder):
            if name.startswith("_"):
                continue
            method = getattr(builder, name)

            def make(m: Any) -> Any:
                @v_args(meta=True)
                def cb(self: Any, meta: Any, children: list[Any]) -> Any:
                    return m(meta, children)

                return cb

            attrs_map[name] = make(method)
        self.transformer = type("_SilTransformer", (Transformer,), attrs_map)()
        grammar = resources.files("silspec.lang").joinpath("silspec.lark").read_text("utf-8")
        options = dict(
            parser="lalr",
            lexer="contextual",
            propagate_positions=True,
            maybe_placeholders=True,
            lexer_callbacks={"COMMENT": self._on_comment},
        )
        cache = _cache_path(grammar)
        try:
            self.lark = Lark(grammar, cache=cache, **options) if cache else Lark(grammar, **options)
        except Exception:  # unreadable/corrupt cache: build from scratch
            self.lark = Lark(grammar, **options)
        self.lock = threading.Lock()

    def _on_comment(self, tok: Any) -> Any:
        self.builder.comments.append(tok)
        return tok


def _cache_path(grammar: str) -> str | None:
    """Where the compiled LALR tables are cached: the user's own cache folder (Lark pickles
    them, so never a shared temp folder), keyed by the grammar's hash. None if unusable."""
    import hashlib
    import os

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "silspec")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if not os.access(folder, os.W_OK) or os.stat(folder).st_uid != os.getuid():
            return None
    except (OSError, AttributeError):
        return None
    digest = hashlib.sha256(grammar.encode("utf-8")).hexdigest()[:16]
    return os.path.join(folder, f"grammar-{digest}.lark-cache")


@lru_cache(maxsize=1)
def _parser() -> _Parser:
    return _Parser()


# ------------------------------------------------------------------------------------ errors


def _expected(expected: Any) -> str:
    names = sorted({_TERMINAL_NAMES.get(e, f"`{e.lower()}`" if e.isupper() is False else e) for e in expected})
    names = [n for n in names if not n.startswith("__")]
    pretty = []
    for n in names:
        if n.isupper() and n not in _TERMINAL_NAMES.values():
            pretty.append(f"`{n.lower()}`")
        else:
            pretty.append(n)
    if not pretty:
        return ""
    if len(pretty) > 6:
        pretty = pretty[:6] + ["..."]
    return ", ".join(pretty)


def _unknown_unit(file: str, unit: re.Match[str], line: int, col: int) -> Diagnostic:
    width = unit.end() - unit.start()
    return diagnostic("SIL002", f"unknown unit `{unit.group(1)}` after a number", Span(file, line, col, line, col + width),
                 f"units are {', '.join(_UNITS)} (durations) and % (percent); anything else needs a string")


def _unit_before(text: str, pos: int | None) -> re.Match[str] | None:
    """``0.5sec`` lexes as ``0`` then ``.``: find the number the bad token continues."""
    if pos is None or pos == 0 or not text[pos - 1].isdigit():
        return None
    start = pos
    while start > 0 and text[start - 1].isdigit():
        start -= 1
    if start > 0 and text[start - 1] == "-":
        start -= 1
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_."):
        return None  # part of a name or a range, not a number
    return _NUMBER_WITH_UNIT.match(text, start)


def _lark_error_to_diagnostic(exc: Exception, text: str, file: str) -> Diagnostic:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    lines = text.splitlines()
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            line = max(len(lines), 1)
            col = len(lines[-1]) + 1 if lines else 1
            return diagnostic(
                "SIL003", "unexpected end of file", Span(file, line, col, line, col + 1),
                "a block or list is not closed: check for a missing `}`, `]` or `)`",
            )
        unit = _unit_before(text, getattr(tok, "start_pos", None))
        if unit is not None:
            start = unit.start()
            line = text.count("\n", 0, start) + 1
            col = start - (text.rfind("\n", 0, start) + 1) + 1
            return _unknown_unit(file, unit, line, col)
        span = _tok_span(file, tok)
        expected = _expected(exc.expected)
        value = str(tok)
        hint = f"expected {expected}" if expected else None
        if value == "=" and "NAME" in exc.expected:
            hint = "a key must be a name or an integer; a value goes right of `=`"
        elif tok.type in ("NAME", "INT_KEY", "NUMBER", "STRING", "LONG_STRING") and "COMMA" in exc.expected:
            hint = "list and map elements are separated by commas"
        elif value == "}" and "EQUAL" in exc.expected:
            hint = "every key needs a value: `key = value`"
        shown = value if len(value) <= 30 else value[:27] + "..."
        return diagnostic("SIL001", f"unexpected `{shown}`", span, hint)
    if isinstance(exc, UnexpectedCharacters):
        line, col = exc.line, exc.column
        char = text[exc.pos_in_stream] if 0 <= exc.pos_in_stream < len(text) else "?"
        unit = _NUMBER_WITH_UNIT.match(text, exc.pos_in_stream) if char.isdigit() or char == "-" else None
        if unit:
            return _unknown_unit(file, unit, line, col)
        if char.isalpha() and not char.isascii():
            return diagnostic("SIL002", f"unexpected character `{char}`: names are ASCII", Span(file, line, col, line, col + 1),
                         "names (blocks, keys, references) are ASCII `[A-Za-z_][A-Za-z0-9_]*`; "
                         'labels and text go in strings: `1 = "매우 신뢰"`, `title = "척도"`')
        hint = None
        if char == '"':
            hint = 'a string is not closed on this line; use """...""" for multi-line text'
        elif char == "/" and text[exc.pos_in_stream : exc.pos_in_stream + 2] == "/*":
            hint = "a /* comment is not closed with */"
        elif char.isdigit() or char == "-":
            hint = "numbers are like 42, -8, 0.7, 1e-4, 0.5s, 500ms, 2m, 17.3%"
        elif char == "'":
            hint = 'strings use double quotes: "..."'
        elif exc.allowed:
            hint = f"expected {_expected(exc.allowed)}"
        return diagnostic(
            "SIL002", f"unexpected character `{char}`", Span(file, line, col, line, col + 1), hint
        )
    if isinstance(exc, UnexpectedEOF):
        line = max(len(lines), 1)
        return diagnostic("SIL003", "unexpected end of file", Span(file, line, 1, line, 2),
                     "a block or list is not closed: check for a missing `}`, `]` or `)`")
    return diagnostic("SIL000", f"internal error while parsing: {type(exc).__name__}",
                 Span(file, 1, 1, 1, 2), "please report this with the spec that caused it")


# -------------------------------------------------------------------------------- comments


def _key(span: Span) -> tuple[int, int]:
    return (span.line, span.col)


def _end(span: Span) -> tuple[int, int]:
    return (span.end_line, span.end_col)


def _attach(entries: tuple[Any, ...], comments: list[ast.Comment]) -> tuple[tuple[Any, ...], list[ast.Comment]]:
    """Give each comment to an entry: trailing on the same line, else leading of the next one.

    Returns the new entries and the comments left over (after the last entry)."""
    if not comments:
        return entries, []
    leading: dict[int, list[ast.Comment]] = {}
    trailing: dict[int, list[ast.Comment]] = {}
    inside: dict[int, list[ast.Comment]] = {}
    leftover: list[ast.Comment] = []
    starts = [_key(e.span) for e in entries]
    import bisect

    for c in comments:
        pos = _key(c.span)
        i = bisect.bisect_right(starts, pos) - 1  # last entry starting before the comment
        if i >= 0 and _end(entries[i].span) > pos:
            inside.setdefault(i, []).append(c)
        elif i >= 0 and entries[i].span.end_line == c.span.line:
            trailing.setdefault(i, []).append(c)
        elif i + 1 < len(entries):
            leading.setdefault(i + 1, []).append(c)
        else:
            leftover.append(c)
    out = list(entries)
    for i in set(leading) | set(trailing) | set(inside):
        e = out[i]
        changes: dict[str, Any] = {}
        if i in leading:
            changes["leading"] = tuple(leading[i])
        if i in trailing:
            changes["trailing"] = tuple(trailing[i])
        if i in inside:
            if isinstance(e, ast.Block):
                sub, rest = _attach(e.entries, inside[i])
                changes["entries"] = sub
                changes["inner"] = tuple(rest)
            else:
                changes["inner"] = tuple(inside[i])
        out[i] = evolve(e, **changes)
    return tuple(out), leftover


# ----------------------------------------------------------------------------------- public


def parse(text: str, file: str) -> ParseResult:
    """Parse `.sil` text into a ``Document``; syntax problems become diagnostics, never raise."""
    from lark.exceptions import LarkError, VisitError

    try:
        p = _parser()
    except Exception as exc:  # the grammar itself failed to load: a packaging bug
        return ParseResult(None, (diagnostic("SIL000", f"internal error: grammar failed to load ({exc})"),))
    if text.startswith("\ufeff"):
        text = text[1:]
    if len(text) > MAX_SPEC_CHARS:
        return ParseResult(None, (diagnostic("SIL008", f"the spec is {len(text):,} characters long (limit {MAX_SPEC_CHARS:,})",
                                        Span(file, 1, 1, 1, 2),
                                        "a spec describes a study; put long texts and data in files and tables"),))
    with p.lock:
        b = p.builder
        b.file, b.comments, b.problems = file, [], []
        try:
            version, version_span, version_text, entries = p.transformer.transform(p.lark.parse(text))
        except VisitError as exc:
            return ParseResult(None, (diagnostic("SIL000", f"internal error while parsing: {exc.orig_exc!r}",
                                            Span(file, 1, 1, 1, 2)),))
        except LarkError as exc:
            return ParseResult(None, (_lark_error_to_diagnostic(exc, text, file),))
        except RecursionError:
            return ParseResult(None, (diagnostic("SIL007", "the spec nests too deeply", Span(file, 1, 1, 1, 2),
                                            "flatten nested lists or maps"),))
        comments = [ast.Comment(str(t), _tok_span(file, t)) for t in b.comments]
        problems = tuple(b.problems)
    header_comments: list[ast.Comment] = []
    body_comments = comments
    if version_span is not None:
        header_comments = [c for c in comments if _key(c.span) <= (version_span.line, 10**9)]
        body_comments = comments[len(header_comments):]
    new_entries, leftover = _attach(tuple(entries), body_comments)
    lines = text.splitlines() or [""]
    doc = ast.Document(
        file=file,
        version=version,
        entries=new_entries,
        span=Span(file, 1, 1, len(lines), len(lines[-1]) + 1),
        version_span=version_span,
        header_comments=tuple(header_comments),
        trailing=tuple(leftover),
        comments=tuple(comments),
        version_text=version_text,
    )
    return ParseResult(doc, problems)


def parse_expression(text: str, file: str = "<override>") -> tuple[ast.Expr | None, tuple[Diagnostic, ...]]:
    """Parse one value (for ``--set KEY=VALUE``) by parsing ``__value__ = TEXT``."""
    result = parse("__value__ = " + text, file)
    if result.ast is None or len(result.ast.entries) != 1 or not isinstance(result.ast.entries[0], ast.Assignment):
        diags = result.diagnostics or (diagnostic("SIL001", f"not a single value: {text!r}"),)
        return None, tuple(diags)
    return result.ast.entries[0].value, result.diagnostics
