"""What every command that takes a spec does first: check its arguments, then load it.

One place for the usage checks (exit 2) and for showing the errors that stop a spec from
loading (exit 1), so `plan`, `finetune` and `freeze` say the same things the same way.
"""

from __future__ import annotations

import os
from typing import Any, Sequence


def spec_usage_problem(command: str, path: str, overrides: Sequence[str]) -> str | None:
    """The first usage problem with a spec path and its ``--set`` list, or None."""
    for text in overrides:
        key, sep, _ = text.partition("=")
        if not sep or not key.strip():
            return f"silspec {command}: --set expects KEY=VALUE, got {text!r}"
    if not os.path.exists(path) or os.path.isdir(path):
        return f"silspec {command}: no such file: {path}"
    return None


def load_or_report(path: str, overrides: Sequence[str], err: Any, *, count_warnings: bool = False) -> Any:
    """The checked Spec, or None after printing (secrets masked) the errors that stop it."""
    from silspec.lang.diagnostics import render_text
    from silspec.spec.load import load_spec

    result = load_spec(path, tuple(overrides))
    if not result.ok or result.spec is None:
        render_text([d for d in result.diagnostics if d.severity == "error"], result.sources(), err)
        return None
    warnings = sum(1 for d in result.diagnostics if d.severity == "warning")
    if count_warnings and warnings:  # commands other than lint count them; lint shows them
        err.print(f"{warnings} lint warning(s); `silspec lint {path}` shows them", markup=False)
    return result.spec


def report_run_error(exc: Exception, err: Any) -> int:
    """A run that could not start (``api.RunSetupError``: its diagnostics, then the message) or a
    store that cannot be used (``StoreError``): printed in red, the exit code returned. The message
    is escaped: it may hold brackets (``pip install 'silspec[ray]'``) that are not markup."""
    from rich.markup import escape

    from silspec.lang.diagnostics import render_text

    diagnostics = getattr(exc, "diagnostics", None)
    if diagnostics:
        render_text(diagnostics, exc.sources, err)
    err.print(f"[bold red]error[/]: {escape(str(exc))}", highlight=False, soft_wrap=True)
    return getattr(exc, "exit_code", 2)


def make_console(*, stderr: bool = False, **options: Any) -> Any:
    """A Rich console that never wraps a message mid-sentence when it writes to a pipe or CI log.

    On a terminal Rich wraps long lines at the window's width, which is what a reader wants;
    into a pipe it would wrap at 80 columns ("has \\nerrors" around a long path), breaking
    greps and CI log searches. So plain messages (strings, ``Text``) are soft-wrapped there;
    tables and panels keep their layout (soft-wrapping a panel would crop its text).
    """
    from rich.console import Console
    from rich.text import Text

    class MessageConsole(Console):
        def print(self, *objects: Any, soft_wrap: bool | None = None, **kwargs: Any) -> None:
            if soft_wrap is None and not self.is_terminal and all(isinstance(o, (str, Text)) for o in objects):
                soft_wrap = True
            super().print(*objects, soft_wrap=soft_wrap, **kwargs)

    return MessageConsole(stderr=stderr, **options)


def add_set_option(parser: Any, example: str | None = None) -> None:
    """``--set KEY=VALUE`` (repeatable), declared the same way by every command that loads a spec."""
    shown = f", e.g. {example}" if example else " before checking"
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a spec value{shown} (repeatable)")
