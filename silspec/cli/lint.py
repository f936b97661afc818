"""`silspec lint FILE...`: check syntax and meaning; exit 0 clean (warnings ok), 1 errors, 2 usage.

After checking each file, lint renders every template through the plan's renderer and compares
the spec with its lock file (``silspec.prereg.lock_check``): a stale lock warns, and with
``--frozen`` a stale or missing lock is an error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from silspec.cli.common import add_set_option, make_console
from silspec.lang.diagnostics import Diagnostic, diagnostic, render_github, render_text, sort_key, to_json

# load_spec, the plan's render pass and the lock check are imported where they run: cli/main
# imports every command module to build its parser, and with these at the top every command
# paid for them (`silspec fmt --check` 0.65 s -> 1.1 s: plan.compile brings numpy).


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("lint", help="check .sil specs (syntax and meaning)", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", metavar="FILE", help=".sil files to check")
    p.add_argument("--format", choices=("text", "json", "github"), default="text", help="output format")
    add_set_option(p)
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
        diagnostics.extend(_lock(result, args))
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
        return [diagnostic("SIL000", f"internal error while rendering templates: {type(exc).__name__}: {exc}")]


def _lock(result: Any, args: argparse.Namespace) -> list[Diagnostic]:
    """SIL960-963: the spec against its lock file (``--frozen`` makes a stale or missing lock an error)."""
    from silspec.prereg.lock_check import check_lock

    try:
        return check_lock(result, args)
    except Exception as exc:  # never a traceback
        return [diagnostic("SIL000", f"internal error while checking the lock file: {type(exc).__name__}: {exc}")]


ENV_CODES = {"key": "SIL970", "endpoint": "SIL971", "package": "SIL972"}


def _env_diagnostics(spec: Any) -> list[Diagnostic]:
    """`--check-env`: the models the conditions use, checked as `run --dry-run` checks them."""
    from silspec.run.envcheck import check_models

    used = [spec.models[n] for n in sorted({c.model for c in spec.conditions.values()}) if n in spec.models]
    report = check_models(used, os.environ)
    return [diagnostic(ENV_CODES[p.kind], p.message, spec.models[p.model].span, p.hint) for p in report.problems]


def _emit(fmt: str, results: list) -> None:
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
    console = make_console(highlight=False, soft_wrap=True)  # a caret must stay under its column
    for path, result, ds in results:
        render_text(ds, result.sources(), console)
        errors = sum(d.severity == "error" for d in ds)
        warnings = sum(d.severity == "warning" for d in ds)
        status = "[bold red]failed[/]" if errors else "[bold green]ok[/]"
        console.print(f"{path}: {status} ({errors} error(s), {warnings} warning(s))", highlight=False)
