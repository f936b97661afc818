"""Convert the KGSS 2023 KRPROUD × age-category counts into silspec tables (data/kgss2023/krproud_by_agecat/).

Why: the subgroup example (examples/kgss_krproud_by_age.sil) scores KRPROUD per age group against
real KGSS 2023 counts. The source (shared/data/kgss2023-krproud-by-agecat/, read its PROVENANCE.md)
is a 6 × 4 table of unweighted counts typed from Stata output; DK answers were dropped before the
table was made (11 of 1,230), so every count is a substantive code and there is no `missing` row.

Written here, with no rounding and no re-weighting:
- `krproud_by_agecat_counts.csv`: the source file, byte for byte;
- `krproud_by_agecat.csv`: the same 24 counts long (`item,age_group,code,value`), the subgroup
  benchmark table (the spec turns counts into shares per group; n = the row total);
- `age_groups.csv`: the row totals (128 … 141 of 1,219) as a persona attribute table
  (`attribute,value,share,respondents`, share = count / 1,219 to 6 places): the only KGSS 2023
  age marginal in our data, used as the example population's age shares.

    python tools/convert_krproud_by_agecat.py [--source DIR] [--out DIR] [--check]
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from _common import REPO_ROOT, run_converter, shared_data_root, write_csv

SOURCE_FILE = "krproud_by_agecat_counts.csv"
# agecat codes of the source's recode (min/30=1)(31/40=2)(41/50=3)(51/60=4)(61/70=5)(71/max=6)
GROUPS = {"1": "30 or younger", "2": "31-40", "3": "41-50", "4": "51-60", "5": "61-70", "6": "71 or older"}
CODE_COLUMNS = {1: "KRPROUD_1_very_proud", 2: "KRPROUD_2_somewhat_proud", 3: "KRPROUD_3_not_very_proud",
                4: "KRPROUD_4_not_proud_at_all"}


def default_source() -> Path:
    return shared_data_root("kgss2023-krproud-by-agecat") / "kgss2023-krproud-by-agecat"


def convert(src: Path, out: Path) -> None:
    raw = (src / SOURCE_FILE).read_bytes()
    out.mkdir(parents=True, exist_ok=True)
    (out / SOURCE_FILE).write_bytes(raw)
    rows = list(csv.DictReader(raw.decode("utf-8").splitlines()))
    long_rows, age_rows = [], []
    grand = 0
    for row in rows:
        if row["agecat"] == "total":
            continue
        group = GROUPS[row["agecat"]]
        counts = {code: int(row[column]) for code, column in CODE_COLUMNS.items()}
        if sum(counts.values()) != int(row["row_total"]):
            raise SystemExit(f"agecat {row['agecat']}: counts sum to {sum(counts.values())}, row_total {row['row_total']}")
        long_rows += [["KRPROUD", group, code, count] for code, count in counts.items()]
        age_rows.append(["age_group", group, int(row["row_total"])])
        grand += int(row["row_total"])
    if grand != 1219:
        raise SystemExit(f"the counts sum to {grand}, not 1,219 (= 1,230 - 11 DK)")
    write_csv(out / "krproud_by_agecat.csv", ["item", "age_group", "code", "value"], long_rows)
    # shares (count / 1,219 to 6 places), not counts: a stratified sample of any size draws them
    # proportionally; `respondents` keeps the count they come from
    write_csv(out / "age_groups.csv", ["attribute", "value", "share", "respondents"],
              [[a, value, f"{count / grand:.6f}", count] for a, value, count in age_rows])


def main(argv: list[str] | None = None) -> int:
    return run_converter(argv, __doc__.splitlines()[0], REPO_ROOT / "data" / "kgss2023" / "krproud_by_agecat",
                         default_source, convert)


if __name__ == "__main__":
    sys.exit(main())
