"""Diagnostics: what the front end says about a spec, and how it is shown.

One type for syntax and meaning alike, with a stable code (``SIL101``) that tests, docs and
users can rely on, a span to point at, and a hint that says what to do. Rendering is separate
from detection so that the same findings print as Rich text, JSON or GitHub annotations.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from attrs import frozen

from silspec.lang.codes import lookup
from silspec.lang.span import Severity, Span

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

_SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "bold cyan"}


@frozen
class Diagnostic:
    code: str
    severity: Severity
    message: str
    span: Span | None = None
    hint: str | None = None

    def __attrs_post_init__(self) -> None:
        # Every code is registered (silspec/lang/codes.py) and emitted at a severity it allows:
        # a finding the docs and fixtures do not know about fails in the first test that meets it.
        if not lookup(self.code).allows(self.severity):
            raise ValueError(f"{self.code} is registered as {lookup(self.code).severity}, not {self.severity}")

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def location(self) -> str:
        s = self.span
        return f"{s.file}:{s.line}:{s.col}" if s else "<spec>"


def diagnostic(code: str, message: str, span: Span | None = None, hint: str | None = None) -> Diagnostic:
    """A finding at its code's registered severity (``silspec.lang.codes``)."""
    return Diagnostic(code, lookup(code).severity, message, span, hint)


def error(code: str, message: str, span: Span | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, "error", message, span, hint)


def warning(code: str, message: str, span: Span | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, "warning", message, span, hint)


def info(code: str, message: str, span: Span | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, "info", message, span, hint)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diagnostics)


def sort_key(d: Diagnostic) -> tuple:
    s = d.span
    return (s.file, s.line, s.col, d.code) if s else ("", 0, 0, d.code)


_MAX_SUGGESTION_POOL = 200  # candidates compared per hint: the closest in length and first letter


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or None (difflib, as users expect from compilers)."""
    word = str(word)
    pool = [str(c) for c in candidates]
    if len(pool) > _MAX_SUGGESTION_POOL:  # 2,000 typos x 2,000 names was seconds of difflib
        pool.sort(key=lambda c: (abs(len(c) - len(word)), c[:1] != word[:1]))
        pool = pool[:_MAX_SUGGESTION_POOL]
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None


# ------------------------------------------------------------------------------- rendering


def _caret_line(source_line: str, span: Span) -> str:
    start = max(span.col - 1, 0)
    if span.end_line == span.line and span.end_col > span.col:
        width = span.end_col - span.col
    else:
        width = max(len(source_line.rstrip()) - start, 1)
    prefix = "".join(ch if ch == "\t" else " " for ch in source_line[:start])
    return prefix + "^" * max(width, 1)


def render_text(
    diagnostics: Iterable[Diagnostic], sources: Mapping[str, str], console: "Console"
) -> None:
    """``file:line:col: severity[code]: message``, the source line, a caret, the hint."""
    from rich.markup import escape

    lines_cache: dict[str, list[str]] = {}
    for d in diagnostics:
        style = _SEVERITY_STYLE.get(d.severity, "bold")
        console.print(
            f"[bold]{escape(d.location())}[/bold]: [{style}]{d.severity}[{d.code}][/{style}]: "
            f"{escape(d.message)}",
            highlight=False,
            soft_wrap=True,
        )
        span = d.span
        if span is not None and span.file in sources:
            if span.file not in lines_cache:  # once per file: 6,000 findings on a 2,000-item spec
                lines_cache[span.file] = sources[span.file].splitlines()
            lines = lines_cache[span.file]
            if 1 <= span.line <= len(lines):
                line = lines[span.line - 1]
                gutter = f"{span.line:>4} | "
                console.print(escape(gutter + line), highlight=False, soft_wrap=True)
                console.print(
                    " " * (len(gutter) - 2) + "| " + f"[{style}]{_caret_line(line, span)}[/{style}]",
                    highlight=False,
                    soft_wrap=True,
                )
        if d.hint:
            console.print(f"     [bold]= hint:[/bold] {escape(d.hint)}", highlight=False, soft_wrap=True)


def to_json(diagnostics: Iterable[Diagnostic]) -> list[dict[str, Any]]:
    out = []
    for d in diagnostics:
        s = d.span
        out.append(
            {
                "code": d.code,
                "severity": d.severity,
                "message": d.message,
                "hint": d.hint,
                "file": s.file if s else None,
                "line": s.line if s else None,
                "col": s.col if s else None,
                "end_line": s.end_line if s else None,
                "end_col": s.end_col if s else None,
            }
        )
    return out


def _gh_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diagnostics: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands: ``::error file=…,line=…,col=…::message``."""
    level = {"error": "error", "warning": "warning", "info": "notice"}
    lines = []
    for d in diagnostics:
        s = d.span
        props = []
        if s:
            props = [f"file={_gh_escape(s.file, prop=True)}", f"line={s.line}", f"col={s.col}"]
            if s.end_line:
                props += [f"endLine={s.end_line}", f"endColumn={s.end_col}"]
        props.append(f"title={d.code}")
        message = d.message + (f" (hint: {d.hint})" if d.hint else "")
        lines.append(f"::{level[d.severity]} {','.join(props)}::{_gh_escape(message)}")
    return "\n".join(lines)
