"""`silspec` command line: a thin dispatcher over one module per command.

Each ``silspec/cli/<command>.py`` defines ``add_parser(subparsers)`` (registering itself with
``set_defaults(handler=...)``) and a handler ``(args) -> int``. Exit codes: 0 ok, 1 findings or
failure, 2 usage error. No input, however malformed, should reach the user as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = ("init", "lint", "plan", "run", "pilot", "report", "view", "fmt", "freeze", "verify", "models", "descriptors",
            "finetune", "completion")


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
        code = int(handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback at interpreter exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """The reader went away (`silspec lint ... | head -1`): stop quietly, as `cat` does.

    Python would otherwise print a ``BrokenPipeError`` traceback, and another one when it
    flushes stdout at exit; pointing stdout at /dev/null ends both.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
