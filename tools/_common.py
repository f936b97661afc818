"""What every data converter in tools/ shares: finding shared/data, writing CSV, the --check mode.

Why one module: each convert_*.py must re-create its shipped files byte for byte, so the CSV
dialect and the "is the shipped tree up to date?" comparison have to be the same everywhere.
The converters run as plain scripts (`python tools/convert_X.py`), which puts tools/ on sys.path,
so they import this module as `_common`.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_root(required: str) -> Path:
    """The shared/data folder that holds `required` (the workspace copy first, then a sibling checkout)."""
    for candidate in (Path("/work/shared/data"), REPO_ROOT.parent / "shared" / "data"):
        if (candidate / required).is_dir():
            return candidate
    raise SystemExit(f"cannot find shared/data/{required}; pass --source")


def write_csv(path: Path, header: Sequence[str], rows: list[list[object]]) -> None:
    """One CSV dialect (UTF-8, "\\n" line ends) so that regenerated files compare byte for byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def compare_trees(generated: Path, shipped: Path) -> int:
    """--check: exit status 1 when a shipped file differs from a fresh conversion."""
    stale = [p.relative_to(generated) for p in sorted(generated.rglob("*")) if p.is_file()
             and (not (shipped / p.relative_to(generated)).is_file()
                  or (shipped / p.relative_to(generated)).read_bytes() != p.read_bytes())]
    for path in stale:
        print(f"stale: {shipped / path}")
    print("up to date" if not stale else f"{len(stale)} file(s) differ: rerun without --check")
    return 1 if stale else 0


def run_converter(
    argv: list[str] | None,
    description: str,
    default_out: Path,
    default_source: Callable[[], Path],
    convert: Callable[[Path, Path], None],
) -> int:
    """The converters' shared command line: --source, --out and --check (convert into a temp dir, compare)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--source", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--check", action="store_true", help="convert into a temporary folder and compare with --out")
    args = parser.parse_args(argv)
    source = args.source or default_source()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            convert(source, Path(tmp))
            return compare_trees(Path(tmp), args.out)
    convert(source, args.out)
    return 0
