"""`silspec lint FILE...`: check syntax and meaning; exit 0 clean (warnings ok), 1 errors, 2 usage.

Other modules extend lint through ``EXTRA_CHECKS``: callables ``(LoadResult, args) ->
list[Diagnostic]`` run after checking each file (e.g. lock-file checks for ``--frozen``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable

from silspec.lang.diagnostics import Diagnostic, error, render_github, render_text, sort_key

EXTRA_CHECKS: list[Callable[[Any, argparse.Namespace], list[Diagnostic]]] = []


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("lint", help="check .sil specs (syntax and meaning)", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", metavar="FILE", help=".sil files to check")
    p.add_argument("--format", choices=("text", "json", "github"), default="text", help="output format")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec value before checking (repeatable)")
    p.add_argument("--root", default=None, help="spec tree root (default: nearest silspec.toml / git top)")
    p.add_argument("--frozen", action="store_true", help="also check the spec against its lock file")
    p.add_argument("--quiet", "-q", action="store_true", help="errors and warnings only (no info)")
    p.add_argument("--check-env", action="store_true",
                   help="also check that the models' key variables are set and their base_url reachable"
                        " (SIL970-972; a 2.5 s TCP connect, nothing sent)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from silspec.spec.load import load_spec

    missing = [f for f in args.files if not os.path.exists(f) or os.path.isdir(f)]
    if missing:
        for f in missing:
            print(f"silspec lint: no such file: {f}", file=sys.stderr)
        return 2
    results = []
    for path in args.files:
        result = load_spec(path, args.overrides, root=args.root)
        diagnostics = list(result.diagnostics)
        if result.spec is not None:
            diagnostics.extend(_plan_renders(result.spec))
            if args.check_env:
                diagnostics.extend(_env_diagnostics(result.spec))
        for extra in EXTRA_CHECKS:
            try:
                diagnostics.extend(extra(result, args))
            except Exception as exc:  # an extension must not turn lint into a traceback
                diagnostics.append(error("SIL000", f"internal error in a lint extension: {type(exc).__name__}: {exc}"))
        if args.quiet:
            diagnostics = [d for d in diagnostics if d.severity != "info"]
        diagnostics.sort(key=sort_key)
        results.append((path, result, diagnostics))
    failed = any(d.severity == "error" for _, _, ds in results for d in ds)
    _emit(args.format, results)
    return 1 if failed else 0


def _plan_renders(spec: Any) -> list[Diagnostic]:
    """Every template rendered for every item by the plan's renderer: what lint passes, plan renders."""
    from silspec.plan.render_check import render_diagnostics

    try:
        return render_diagnostics(spec)
    except Exception as exc:  # never a traceback
        return [error("SIL000", f"internal error while rendering templates: {type(exc).__name__}: {exc}")]


ENV_CODES = {"key": "SIL970", "endpoint": "SIL971", "package": "SIL972"}


def _env_diagnostics(spec: Any) -> list[Diagnostic]:
    """`--check-env`: the models the conditions use, checked as `run --dry-run` checks them."""
    from silspec.run.envcheck import check_models

    used = [spec.models[n] for n in sorted({c.model for c in spec.conditions.values()}) if n in spec.models]
    report = check_models(used, os.environ)
    return [error(ENV_CODES[p.kind], p.message, spec.models[p.model].span, p.hint) for p in report.problems]


def _emit(fmt: str, results: list) -> None:
    from silspec.lang.diagnostics import to_json

    if fmt == "json":
        payload = [
            {"file": path, "ok": not any(d.severity == "error" for d in ds), "diagnostics": to_json(ds)}
            for path, _, ds in results
        ]
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    if fmt == "github":
        text = render_github([d for _, _, ds in results for d in ds])
        if text:
            print(text)
        return
    from silspec.cli.common import make_console

    console = make_console(highlight=False, soft_wrap=True)  # a caret must stay under its column
    for path, result, ds in results:
        render_text(ds, result.sources(), console)
        errors = sum(d.severity == "error" for d in ds)
        warnings = sum(d.severity == "warning" for d in ds)
        status = "[bold red]failed[/]" if errors else "[bold green]ok[/]"
        console.print(f"{path}: {status} ({errors} error(s), {warnings} warning(s))", highlight=False)
