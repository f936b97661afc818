"""Shared state of one check: where the spec lives, what was found, where things were written.

The builder and the rules report through a ``Context`` so that every finding carries a code and
a span. ``spans`` indexes the syntax tree by the same dotted paths ``--set`` uses
(``("model", "gpt52", "temperature")``), so a rule that works on the checked ``Spec`` can still
point at the exact source text.
"""

from __future__ import annotations

from typing import Any, Mapping

from attrs import define, field

from silspec.lang import ast
from silspec.lang.codes import default_hint, lookup
from silspec.lang.diagnostics import Diagnostic, did_you_mean
from silspec.lang.span import Span
from silspec.spec.model import ExternalRef, FileRef


MAX_MESSAGE_CHARS = 1_000  # 2,000 findings that each list 2,000 names printed 24 MB


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[:MAX_MESSAGE_CHARS] + f"… ({len(text) - MAX_MESSAGE_CHARS:,} more characters)"


def shown_names(names: Any, limit: int = 12) -> str:
    """``a, b, c (+1,988 more)``: a hint names a few, not every item of a 2,000-item survey."""
    names = [str(n) for n in names]
    more = f" (+{len(names) - limit:,} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


@define
class Context:
    path: str  # the spec file, absolute
    root: str  # the spec tree root, absolute
    env: Mapping[str, str]
    document: ast.Document
    diagnostics: list[Diagnostic] = field(factory=list)
    spans: dict[tuple, Span] = field(factory=dict)
    files: dict[str, FileRef] = field(factory=dict)
    externals: dict[str, ExternalRef] = field(factory=dict)
    cache: dict[Any, Any] = field(factory=dict)  # tables read once per check

    # --- reporting
    def report(self, code: str, message: str, span: Span | None = None, hint: str | None = None) -> None:
        """A finding at its code's registered severity; ``error``/``warning``/``info`` choose one
        for the codes that take several (``SIL105``: a missing seed warns, a missing key errs)."""
        {"error": self.error, "warning": self.warning, "info": self.info}[lookup(code).severity](code, message, span, hint)

    def error(self, code: str, message: str, span: Span | None = None, hint: str | None = None) -> None:
        hint = hint or default_hint(code) or "see docs/language.md"  # every error gets a hint
        self.diagnostics.append(Diagnostic(code, "error", _short(message), span or self.document.span, _short(hint)))

    def warning(self, code: str, message: str, span: Span | None = None, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, "warning", _short(message), span or self.document.span, _short(hint)))

    def info(self, code: str, message: str, span: Span | None = None, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, "info", _short(message), span or self.document.span, _short(hint)))

    def undefined(self, kind: str, name: str, span: Span | None, candidates: Any) -> None:
        """SIL301: a reference to a block that does not exist, with "did you mean"."""
        candidates = list(candidates)
        hint = did_you_mean(name, candidates)
        if hint is None:
            hint = f"defined {kind}s: {shown_names(candidates)}" if candidates else f"define a `{kind} {name} {{ ... }}` block"
        self.report("SIL301", f"undefined {kind} `{name}`", span, hint)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    # --- spans
    def span(self, *path: Any) -> Span | None:
        """The most precise span known for a path, falling back to its ancestors."""
        for end in range(len(path), 0, -1):
            s = self.spans.get(tuple(path[:end]))
            if s is not None:
                return s
        return None


def index_spans(document: ast.Document) -> dict[tuple, Span]:
    """Dotted path -> span for every block (its header) and assignment (its value)."""
    spans: dict[tuple, Span] = {}

    def walk(entries: tuple[ast.Entry, ...], prefix: tuple) -> None:
        for e in entries:
            if isinstance(e, ast.Block):
                path = prefix + (e.kind,) + ((e.name,) if e.name is not None else ())
                spans.setdefault(path, e.name_span or e.kind_span)
                walk(e.entries, path)
            elif isinstance(e, ast.Assignment):
                spans.setdefault(prefix + (e.key,), e.value.span)
            elif isinstance(e, ast.NamedValue):
                spans.setdefault((e.kind, e.name), e.name_span)
                spans.setdefault((e.kind, e.name, "value"), e.value.span)

    walk(document.entries, ())
    return spans
