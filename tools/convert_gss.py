"""Convert US GSS counts (kjhealy/gssrdoc, MIT) into a silspec benchmark table (data/gss/).

Why: the offline example (examples/gss_confidence.sil) needs real GSS benchmarks with a clear
trail. The source has unweighted respondent counts per year and category; we take the latest
year (2024), keep the counts verbatim, and derive percentages with one documented rule:

    value = 100 * count / asked,   asked = Total - iap   (respondents who were asked the item)

so don't know / no answer / skipped on web stay in the denominator (the spec declares their share
as the benchmark's `missing`), exactly like the KGSS codebook columns.

    python tools/convert_gss.py [--source DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

YEAR = "2024"  # latest GSS year with data for all three items (no 2023 GSS exists)
ITEMS = ("CONFINAN", "CONLEGIS", "POLVIEWS")
NONSUBSTANTIVE = ("don't know", "no answer", "skipped on web")
NOT_ASKED = "iap"


def default_source() -> Path:
    here = Path(__file__).resolve().parent.parent
    for candidate in (Path("/work/shared/data"), here.parent / "shared" / "data"):
        if (candidate / "gss-us-gssrdoc").is_dir():
            return candidate / "gss-us-gssrdoc"
    raise SystemExit("cannot find shared/data/gss-us-gssrdoc; pass --source")


def count(cell: str) -> int:
    return 0 if cell.strip() == "-" else int(cell)  # the Rd tables write "-" for none


def year_row(src: Path, item: str) -> dict[str, int]:
    with (src / f"{item.lower()}_counts_by_year.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["year"] == YEAR:
                counts = {k: count(v) for k, v in row.items() if k != "year"}
                total = counts.pop("Total")
                assert sum(counts.values()) == total, (item, "row does not sum to its Total")
                return counts
    raise SystemExit(f"{item}: no row for {YEAR}")


def compare_trees(generated: Path, shipped: Path) -> int:
    """--check: exit status 1 when a shipped file differs from a fresh conversion."""
    stale = [p.relative_to(generated) for p in sorted(generated.rglob("*")) if p.is_file()
             and (not (shipped / p.relative_to(generated)).is_file()
                  or (shipped / p.relative_to(generated)).read_bytes() != p.read_bytes())]
    for path in stale:
        print(f"stale: {shipped / path}")
    print("up to date" if not stale else f"{len(stale)} file(s) differ: rerun without --check")
    return 1 if stale else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "data" / "gss")
    parser.add_argument("--check", action="store_true", help="convert into a temporary folder and compare with --out")
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            main([*(["--source", str(args.source)] if args.source else []), "--out", tmp])
            return compare_trees(Path(tmp), args.out)
    src = args.source or default_source()
    variables = json.loads((src / "variables.json").read_text(encoding="utf-8"))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    benchmark_rows: list[list[object]] = []
    count_rows: list[list[object]] = []
    summary_rows: list[list[object]] = []
    for item in ITEMS:
        labels: dict[str, str] = variables[item.lower()]["values"]
        counts = year_row(src, item)
        asked = sum(n for label, n in counts.items() if label != NOT_ASKED)
        substantive = 0
        for code, label in labels.items():
            n = counts[label]
            substantive += n
            benchmark_rows.append([item, f"gss{YEAR}", int(code), f"{100 * n / asked:.3f}"])
            count_rows.append([item, YEAR, code, label, n])
        missing = sum(counts[label] for label in NONSUBSTANTIVE)
        for label in (NOT_ASKED, *NONSUBSTANTIVE):
            count_rows.append([item, YEAR, "", label, counts[label]])
        assert substantive + missing == asked
        summary_rows.append([item, YEAR, asked, substantive, f"{100 * missing / asked:.3f}"])
        print(f"{item} {YEAR}: asked {asked}, substantive {substantive}, non-substantive {100 * missing / asked:.3f} %")

    def write(name: str, header: tuple[str, ...], rows: list[list[object]]) -> None:
        with (out / name).open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)

    write("benchmarks.csv", ("item", "benchmark", "code", "value"), benchmark_rows)
    write("counts_2024.csv", ("item", "year", "code", "label", "count"), count_rows)
    write("summary_2024.csv", ("item", "year", "asked", "substantive", "missing_pct"), summary_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
