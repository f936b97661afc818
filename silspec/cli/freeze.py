"""`silspec freeze SPEC...`: write SPEC.lock, the fingerprint a preregistration promises."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from silspec.cli.common import load_or_report, make_console
from silspec.prereg.lock import LockError, compute_lock, diff_locks, lock_path_for, read_lock, write_lock


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("freeze", help="write SPEC.lock: spec hash, file hashes, plan hash")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.add_argument("--check", action="store_true", help="do not write; exit 1 when a lock is stale or absent")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    console = make_console(stderr=False, soft_wrap=True)
    status = 0
    for path in args.specs:
        spec = load_or_report(path, (), make_console(stderr=True, soft_wrap=True))
        if spec is None:
            print(f"{path}: not frozen: fix the errors above first", file=sys.stderr)
            status = 1
            continue
        try:
            lock = compute_lock(spec)
        except Exception as exc:  # plan compilation problems are the user's to fix, not a traceback
            print(f"{path}: cannot compile the plan: {exc}", file=sys.stderr)
            status = 1
            continue
        lock_file = lock_path_for(path)
        if args.check:
            try:
                differences = diff_locks(read_lock(lock_file), lock)
            except LockError as exc:
                print(str(exc), file=sys.stderr)
                status = 1
                continue
            for d in differences:
                console.print(f"{path}: {d.what} {d.key}: locked {d.locked}, now {d.actual}")
            status = status or (1 if differences else 0)
            if not differences:
                console.print(f"{path}: matches {lock_file.name}")
            continue
        write_lock(lock, lock_file)
        console.print(f"froze {path} → {lock_file} ({lock.requests} requests, plan {lock.plan_hash[:12]},"
                      f" {len(lock.files)} files)")
    return status
