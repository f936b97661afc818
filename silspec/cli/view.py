"""`silspec view RUN_DIR [RUN_DIR...]`: browse every answer of one or more runs in a browser."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "view",
        help="browse a run's answers, prompts, attempts and distributions on a local web page",
        description="Serve a local, offline web page (127.0.0.1) that shows each answer of RUN_DIR: "
        "its rendered prompt, raw reply, parsed code or probabilities, outcome and reason, and attempts, "
        "with filters and the distributions beside the benchmark. Several runs are shown side by side. "
        "The store is opened read-only, so a run in progress can be viewed (refresh the page).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="+", help="a run directory (runs/<study>/)")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one, printed)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: only this machine can see the answers)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from silspec.view.server import make_server

    for run_dir in args.run_dir:
        if not (Path(run_dir) / "store.sqlite").is_file():
            print(f"silspec view: error: {run_dir} is not a silspec run directory (no store.sqlite)", file=sys.stderr)
            return 2
    if not 0 <= args.port <= 65535:
        print(f"silspec view: error: --port must be 0-65535, got {args.port}", file=sys.stderr)
        return 2
    try:
        server = make_server(args.run_dir, host=args.host, port=args.port)
    except OSError as error:
        print(f"silspec view: cannot listen on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 1
    host, port = server.server_address[:2]
    print(f"silspec view: serving {len(args.run_dir)} run(s) at http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("silspec view: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
