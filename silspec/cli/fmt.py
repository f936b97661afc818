"""`silspec fmt FILE... [--check] [--diff]`: rewrite specs in canonical form.

Exit codes: 0 every file is (now) canonical; 1 a file does not parse (it is left untouched), or
with ``--check`` a file is not canonical; 2 usage error (a missing file). ``-`` reads stdin and
writes the canonical text to stdout. ``--check`` and ``--diff`` never write: they print a unified
diff of what would change (``--check`` is the CI gate; ``--diff`` alone exits 0).
``--format json|github`` (with ``--check``/``--diff``) prints, instead of diffs, one JSON record per
file or GitHub workflow annotations pointing at the first line that is not canonical.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import tempfile
from typing import Any

STDIN = "-"


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("fmt", help="rewrite .sil specs in canonical form", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", metavar="FILE", help=".sil files to format; - reads stdin, writes stdout")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 and show a diff if a file is not canonical")
    p.add_argument("--diff", action="store_true", help="change nothing; show a diff of what would change")
    p.add_argument("--format", choices=("text", "json", "github"), default="text",
                   help="with --check/--diff: diffs (text), JSON records, or GitHub annotations")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    missing = [f for f in args.files if f != STDIN and not os.path.exists(f) or os.path.isdir(f)]
    if missing:
        for f in missing:
            problem = "not a file" if os.path.exists(f) else "no such file"
            print(f"silspec fmt: {problem}: {f}", file=sys.stderr)
        return 2
    if args.files.count(STDIN) > 1:
        print("silspec fmt: `-` (stdin) may be given once", file=sys.stderr)
        return 2
    write = not (args.check or args.diff)
    machine = not write and args.format != "text"
    failed = not_canonical = 0
    records = []
    for path in args.files:
        outcome, first_line, diagnostics = _format_one(path, write=write, show_diff=not write and not machine,
                                                       quiet=machine)
        failed += outcome == "error"
        not_canonical += outcome == "changed"
        records.append((path, outcome, first_line, diagnostics))
    if machine:
        _emit(args.format, records)
    elif args.files != [STDIN]:
        _summary(len(args.files), failed, not_canonical, write)
    if failed or (args.check and not_canonical):
        return 1
    return 0


def _format_one(path: str, *, write: bool, show_diff: bool, quiet: bool = False) -> tuple[str, int | None, tuple]:
    """Format one file: ("error" | "changed" | "unchanged", first differing line, diagnostics)."""
    from silspec.lang.printer import format_text

    text = _read(path)
    if text is None:
        return "error", None, ()
    shown = "<stdin>" if path == STDIN else path
    result = format_text(text, shown)
    if result.text is None:
        if not quiet:
            _report(result.diagnostics, shown, text)
        return "error", None, tuple(result.diagnostics)
    source = text[1:] if text.startswith("\ufeff") else text
    if path == STDIN and write:
        sys.stdout.write(result.text)
        return ("unchanged" if result.text == source else "changed"), None, ()
    if result.text == source:
        return "unchanged", None, ()
    first_line = _first_difference(source, result.text)
    if show_diff:  # diffs land in CI logs: a literal key (itself a lint error) is masked
        sys.stdout.writelines(
            difflib.unified_diff(
                _mask_keys(source).splitlines(keepends=True), _mask_keys(result.text).splitlines(keepends=True),
                fromfile=shown, tofile=f"{shown} (formatted)",
            )
        )
    if write:
        _write_in_place(path, result.text)
        print(f"reformatted {path}", file=sys.stderr)
    return "changed", first_line, ()


_LITERAL_KEY = re.compile(r'(\bapi_key\s*=\s*)("(?:[^"\\\n]|\\.)*"|[^\s}]+)')


def _mask_keys(text: str) -> str:
    """``api_key = "sk-…"`` → ``api_key = "***"``; ``env("VAR")`` names a variable and stays."""
    return _LITERAL_KEY.sub(lambda m: m.group(0) if m.group(2).startswith("env(") else m.group(1) + '"***"', text)


def _first_difference(before: str, after: str) -> int:
    """1-based line of ``before`` where the canonical text first departs from it."""
    for number, (old, new) in enumerate(zip(before.splitlines(), after.splitlines()), start=1):
        if old != new:
            return number
    return min(len(before.splitlines()), len(after.splitlines())) + 1


def _emit(fmt: str, records: list) -> None:
    import json

    from silspec.lang.diagnostics import render_github, to_json

    if fmt == "json":
        out = []
        for path, outcome, first_line, diagnostics in records:
            status = {"unchanged": "canonical", "changed": "not_canonical", "error": "error"}[outcome]
            out.append({"file": path, "status": status, "first_line": first_line,
                        "diagnostics": to_json(diagnostics)})
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return
    for path, outcome, first_line, diagnostics in records:
        if outcome == "changed":
            print(f"::error file={path},line={first_line},title=silspec fmt::"
                  f"not in canonical form; run `silspec fmt {path}`")
        elif outcome == "error" and diagnostics:
            print(render_github(diagnostics))
        elif outcome == "error":
            print(f"::error file={path},title=silspec fmt::cannot read the file")


def _read(path: str) -> str | None:
    from silspec.lang.parser import MAX_SPEC_CHARS
    from silspec.lang.source import read_source

    try:
        if path == STDIN:
            limit = MAX_SPEC_CHARS * 4
            data = sys.stdin.buffer.read(limit + 1) if hasattr(sys.stdin, "buffer") else sys.stdin.read(limit + 1).encode("utf-8")
            if len(data) > limit:
                print(f"silspec fmt: stdin is over {limit:,} bytes (a spec is at most {MAX_SPEC_CHARS:,} characters)", file=sys.stderr)
                return None
        else:
            data, problem = read_source(path)
            if data is None:
                print(f"silspec fmt: {problem}", file=sys.stderr)
                return None
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"silspec fmt: cannot read {path}: {type(exc).__name__} (a spec is a UTF-8 text file)", file=sys.stderr)
        return None


def _write_in_place(path: str, text: str) -> None:
    """Write through a temporary file in the same folder, so a crash never leaves half a spec
    (a symlink is followed: its target is rewritten, the link stays a link)."""
    path = os.path.realpath(path)
    folder = os.path.dirname(path)
    mode = os.stat(path).st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(prefix=".silspec-fmt-", suffix=".sil", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _report(diagnostics: Any, path: str, text: str) -> None:
    from silspec.cli.common import make_console

    from silspec.lang.diagnostics import render_text

    console = make_console(stderr=True, highlight=False, soft_wrap=True)
    render_text(diagnostics, {path: text}, console)
    console.print(f"{path}: not formatted (syntax errors)", highlight=False)


def _summary(total: int, failed: int, not_canonical: int, write: bool) -> None:
    verb = "reformatted" if write else "would be reformatted"
    parts = [f"{not_canonical} file(s) {verb}", f"{total - failed - not_canonical} unchanged"]
    if failed:
        parts.append(f"{failed} not parsed")
    print(", ".join(parts), file=sys.stderr)
