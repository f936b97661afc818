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

import csv
import json
import sys
from pathlib import Path

from _common import REPO_ROOT, run_converter, shared_data_root, write_csv

YEAR = "2024"  # latest GSS year with data for all three items (no 2023 GSS exists)
ITEMS = ("CONFINAN", "CONLEGIS", "POLVIEWS")
NONSUBSTANTIVE = ("don't know", "no answer", "skipped on web")
NOT_ASKED = "iap"


def default_source() -> Path:
    return shared_data_root("gss-us-gssrdoc") / "gss-us-gssrdoc"


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


def convert(src: Path, out: Path) -> None:
    variables = json.loads((src / "variables.json").read_text(encoding="utf-8"))
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
    write_csv(out / "benchmarks.csv", ("item", "benchmark", "code", "value"), benchmark_rows)
    write_csv(out / "counts_2024.csv", ("item", "year", "code", "label", "count"), count_rows)
    write_csv(out / "summary_2024.csv", ("item", "year", "asked", "substantive", "missing_pct"), summary_rows)


def main(argv: list[str] | None = None) -> int:
    return run_converter(argv, __doc__.splitlines()[0], REPO_ROOT / "data" / "gss", default_source, convert)


if __name__ == "__main__":
    sys.exit(main())
