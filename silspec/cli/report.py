"""`silspec report RUN_DIR`: write a run's report again from its directory alone."""

from __future__ import annotations

import argparse
import sys

from silspec.cli.common import make_console


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="analyse a run directory and print or export its report",
        description="Score the stored answers of RUN_DIR again with its bundled spec (never re-asking a "
        "model) and report compliance, metrics, comparisons and warnings.",
    )
    p.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        nargs="+",
        help="a run directory (runs/<study>/); several runs of one spec with different study.seed "
        "are aggregated: each metric's mean, SD and n over runs",
    )
    p.add_argument("--format", choices=("text", "json", "csv", "md", "html", "parquet"), default=None,
                   help="text (default), json, csv, md, html; with --answers: csv (default) or parquet (needs pyarrow: "
                   "pip install 'silspec[data]')")
    p.add_argument("--answers", action="store_true",
                   help="export the per-answer table instead of the report (one row per request of the current "
                   "plan), as --format csv or parquet")
    p.add_argument("--out", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--update-doc", metavar="FILE.md", help="fill <!-- silspec:NAME --> blocks of a manuscript")
    p.add_argument("--benchmark", metavar="NAME", help="score every item against this named benchmark (a name no item has is an error, exit 2)")
    p.add_argument("--valid-only", action="store_true", help="show metrics on valid answers first")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: cli/main.py imports every command module to build its
    # parser, and the API (the whole pipeline, numpy) would cost every command 1.0-1.4 s
    # (python -X importtime).
    from silspec import api
    from silspec.report.load import ReportUsageError
    from silspec.report.update_doc import UpdateDocError
    from silspec.run.rundir import RunDirectory

    for run_dir in args.run_dir:  # a wrong folder is a usage error, like a missing file
        if not RunDirectory.at(run_dir).has_store():
            print(f"silspec report: error: {run_dir} is not a silspec run directory (no store.sqlite)",
                  file=sys.stderr)
            return 2
    if args.answers or args.format == "parquet":
        return _answers(api, args)
    args.format = args.format or "text"
    try:
        api.write_report(
            args.run_dir[0] if len(args.run_dir) == 1 else args.run_dir,
            format=args.format,
            out=args.out,
            update_doc=args.update_doc,
            benchmark=args.benchmark,
            valid_only=args.valid_only,
            console=make_console(),  # into a pipe or CI log: no wrapping mid-sentence
        )
    except ReportUsageError as error:  # a usage error, like argparse's: exit 2
        print(f"silspec report: error: {error}", file=sys.stderr)
        return 2
    except (api.ReportError, UpdateDocError, OSError) as error:
        return _failed(error)
    if args.out:
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _answers(api, args: argparse.Namespace) -> int:
    """``--answers``: the per-answer table, streamed (docs/report.md, "The answers table")."""
    if not args.answers:
        print("silspec report: error: --format parquet is for the per-answer table: add --answers", file=sys.stderr)
        return 2
    if len(args.run_dir) > 1:
        print("silspec report: error: --answers exports one run directory at a time", file=sys.stderr)
        return 2
    args.format = args.format or "csv"
    if args.format not in ("csv", "parquet"):
        print(f"silspec report: error: --answers writes --format csv or parquet, not {args.format}", file=sys.stderr)
        return 2
    if args.format == "parquet" and not args.out:
        print("silspec report: error: --format parquet writes a binary file: give --out FILE.parquet", file=sys.stderr)
        return 2
    try:
        n, which = api.write_answers(args.run_dir[0], format=args.format, out=args.out)
    except (api.ReportError, OSError) as error:
        return _failed(error)
    if args.out:
        print(f"wrote {n} rows to {args.out}: {which}", file=sys.stderr)
    return 0


def _failed(error: Exception) -> int:
    """Exit 1 after saying why the run could not be read or the output written (an OSError by its file)."""
    if isinstance(error, OSError):
        print(f"silspec report: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=sys.stderr)
    else:
        print(f"silspec report: {error}", file=sys.stderr)
    return 1
