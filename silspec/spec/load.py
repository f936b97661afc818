"""``load_spec``: the one call that turns a `.sil` path into a checked ``Spec`` (or diagnostics).

Read -> parse -> apply ``--set`` overrides to the syntax tree -> check. Nothing here raises for
a bad spec: every problem, including an unreadable file, is a diagnostic.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from attrs import evolve, frozen

from silspec.lang.diagnostics import Diagnostic, error
from silspec.spec.model import Span, Spec

__all__ = ["LoadResult", "load_spec", "load_text"]


@frozen
class LoadResult:
    spec: Spec | None
    diagnostics: tuple[Diagnostic, ...]
    source: str
    ast: Any = None  # silspec.lang.ast.Document | None
    path: str = ""
    overrides_source: str = ""  # the --set lines, for rendering diagnostics that point at them

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    def sources(self) -> dict[str, str]:
        """File name -> text, for ``render_text``."""
        from silspec.spec.overrides import OVERRIDE_FILE

        out = {self.path: self.source}
        if self.overrides_source:
            out[OVERRIDE_FILE] = self.overrides_source
        return out


def load_spec(
    path: str,
    overrides: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    root: str | None = None,
) -> LoadResult:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except FileNotFoundError:
        return LoadResult(None, (error("SIL008", f"no such file: {path}", None, "check the path"),), "", None, path)
    except (OSError, UnicodeDecodeError) as exc:
        return LoadResult(None, (error("SIL008", f"cannot read {path}: {type(exc).__name__}", None,
                                       "a spec is a UTF-8 text file"),), "", None, path)
    return load_text(text, path, overrides, env=env, root=root)


def load_text(
    text: str,
    path: str,
    overrides: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    root: str | None = None,
) -> LoadResult:
    """Like ``load_spec`` for text already in memory; ``path`` still anchors the spec tree."""
    from silspec.check import check
    from silspec.lang.parser import parse
    from silspec.spec.overrides import OVERRIDE_FILE, apply_overrides

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
                return LoadResult(None, tuple(diagnostics), text, document, display, "\n".join(overrides))
        spec, check_diags = check(document, path=os.path.abspath(path), root=root, env=env)
        diagnostics.extend(check_diags)
        if spec is not None and overrides:
            spec = evolve(spec, overrides=tuple(tuple(o.split("=", 1)) for o in overrides))
        if any(d.severity == "error" for d in diagnostics):
            spec = None
        return LoadResult(spec, tuple(diagnostics), text, document, display, "\n".join(overrides))
    except Exception as exc:  # last resort: never a traceback
        return LoadResult(None, (error("SIL000", f"internal error: {type(exc).__name__}: {exc}",
                                       Span(display, 1, 1, 1, 2), "this is a bug in silspec; please report it"),),
                          text, None, display)
