"""``load_spec``: the one call that turns a `.sil` path into a checked ``Spec`` (or diagnostics).

Read -> parse -> apply ``--set`` overrides to the syntax tree -> check. Nothing here raises for
a bad spec: every problem, including an unreadable file, is a diagnostic.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from attrs import evolve, frozen

from silspec.check import check
from silspec.lang.diagnostics import Diagnostic, diagnostic
from silspec.lang.parser import parse
from silspec.lang.source import read_source
from silspec.lang.span import Span
from silspec.spec.model import Spec
from silspec.spec.overrides import OVERRIDE_FILE, apply_overrides

__all__ = ["LoadResult", "load_spec", "load_text"]


@frozen
class LoadResult:
    spec: Spec | None
    diagnostics: tuple[Diagnostic, ...]
    source: str
    ast: Any = None  # silspec.lang.ast.Document | None
    path: str = ""
    overrides_source: str = ""  # the --set lines, for rendering diagnostics that point at them
    secrets: tuple[Span, ...] = ()  # literal API keys (SIL801): masked wherever source is shown

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    def sources(self) -> dict[str, str]:
        """File name -> text, for ``render_text``."""
        out = {self.path: mask_spans(self.source, self._secrets_in(self.path))}
        if self.overrides_source:
            out[OVERRIDE_FILE] = mask_spans(self.overrides_source, self._secrets_in(OVERRIDE_FILE))
        return out

    def _secrets_in(self, file: str) -> list[Span]:
        return [s for s in self.secrets if s.file == file]


SECRET_MASK = '"***"'


def _override_secrets(overrides: Sequence[str]) -> tuple[Span, ...]:
    """The value of every ``--set ...api_key=VALUE`` other than ``env(...)``: shown masked."""
    out = []
    for line, text in enumerate(overrides, start=1):
        key, sep, raw = text.partition("=")
        if sep and key.strip().rsplit(".", 1)[-1] == "api_key" and not raw.strip().startswith("env("):
            out.append(Span(OVERRIDE_FILE, line, len(key) + 2, line, len(text) + 1))
    return tuple(out)


def mask_spans(text: str, spans: Sequence[Span]) -> str:
    """``text`` with each span replaced by ``"***"``: a literal key never reaches a terminal."""
    if not spans:
        return text
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, col: int) -> int:
        line = min(max(line, 1), len(lines) or 1)
        return min(starts[line - 1] + col - 1, len(text))

    for span in sorted(spans, key=lambda s: (s.line, s.col), reverse=True):
        start, end = offset(span.line, span.col), offset(span.end_line, span.end_col)
        if end > start:
            text = text[:start] + SECRET_MASK + text[end:]
    return text


def load_spec(
    path: str,
    overrides: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    root: str | None = None,
) -> LoadResult:
    data, problem = read_source(path)
    if data is None:
        return LoadResult(None, (diagnostic("SIL008", problem, Span(path, 1, 1, 1, 1),
                                       "a spec is a regular UTF-8 text file"),), "", None, path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _byte_position(data, exc.start)
        return LoadResult(None, (diagnostic("SIL008", f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}, "
                                                 f"column {col})", Span(path, line, col, line, col + 1),
                                       "a spec is a UTF-8 text file; is this a binary file or another encoding?"),),
                          "", None, path)
    return load_text(text, path, overrides, env=env, root=root)


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based (line, column in characters) of byte ``offset``."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def load_text(
    text: str,
    path: str,
    overrides: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    root: str | None = None,
) -> LoadResult:
    """Like ``load_spec`` for text already in memory; ``path`` still anchors the spec tree."""
    display = path
    try:
        parsed = parse(text, display)
        diagnostics = list(parsed.diagnostics)
        document = parsed.ast
        if document is None:
            return LoadResult(None, tuple(diagnostics), text, None, display)
        if overrides:
            document, override_diags = apply_overrides(document, overrides)
            diagnostics.extend(override_diags)
            if any(d.severity == "error" for d in override_diags):
                return LoadResult(None, tuple(diagnostics), text, document, display, "\n".join(overrides),
                                  _override_secrets(overrides))
        spec, check_diags = check(document, path=os.path.abspath(path), root=root, env=env)
        diagnostics.extend(check_diags)
        secrets = tuple(d.span for d in check_diags if d.code == "SIL801" and d.span is not None)
        secrets += _override_secrets(overrides)
        if spec is not None and overrides:
            spec = evolve(spec, overrides=tuple(tuple(o.split("=", 1)) for o in overrides))
        if any(d.severity == "error" for d in diagnostics):
            spec = None
        return LoadResult(spec, tuple(diagnostics), text, document, display, "\n".join(overrides), secrets)
    except Exception as exc:  # last resort: never a traceback
        return LoadResult(None, (diagnostic("SIL000", f"internal error: {type(exc).__name__}: {exc}",
                                       Span(display, 1, 1, 1, 2), "this is a bug in silspec; please report it"),),
                          text, None, display)
