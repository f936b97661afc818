"""`silspec` command line: a thin dispatcher over one module per command.

Each ``silspec/cli/<command>.py`` defines ``add_parser(subparsers)`` (registering itself with
``set_defaults(handler=...)``) and a handler ``(args) -> int``. Exit codes: 0 ok, 1 findings or
failure, 2 usage error. No input, however malformed, should reach the user as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("lint", "plan", "run", "report", "view", "fmt", "freeze", "verify", "models", "finetune")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="silspec", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"silspec.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"silspec.cli.{name}":
                continue  # command not built yet
            raise
        module.add_parser(subparsers)
    return parser


def _version() -> str:
    from silspec import __version__

    return f"silspec {__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
