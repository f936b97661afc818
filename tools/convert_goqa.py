"""Convert the first-token paper's Pew/GlobalOpinionQA test file into silspec data (data/goqa/).

Why: the paper's "unseen survey" test (§3.3, Appendix A) scores the fine-tuned model on Pew
Global Attitudes questions from GlobalOpinionQA for ten C1 countries (C'1) and the C3 countries.
Only the records of those countries' national samples are kept (GOQA's "(Non-national sample)"
and "(Old national sample)" rows are not nationally representative); everything is verbatim
otherwise. GOQA is CC-BY-NC-SA-4.0 (data/goqa/PROVENANCE.md).

    python tools/convert_goqa.py [--source DIR] [--out DIR] [--check]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from _common import REPO_ROOT, run_converter, shared_data_root, write_csv

# The paper's Table 9 (C'1, sampled from C1) and C3, as GOQA labels -> ISO3 and a prompt name.
C1_PRIME = {
    "Germany": "DEU", "Japan": "JPN", "Brazil": "BRA", "Australia": "AUS", "India (Current national sample)": "IND",
    "Nigeria": "NGA", "United States": "USA", "Vietnam": "VNM", "Chile": "CHL", "Ukraine": "UKR",
}
C3 = {
    "Malaysia": "MYS", "Thailand": "THA", "Czech Rep.": "CZE", "Czechia": "CZE", "Greece": "GRC", "Nigeria": "NGA",
    "Morocco": "MAR", "Peru": "PER", "Colombia": "COL", "Mexico": "MEX", "Puerto Rico": "PRI", "New Zealand": "NZL",
}
NAMES = {"IND": "India"}  # the only one not in data/wvs7/countries.csv


def default_source() -> Path:
    return shared_data_root("pew-goqa-simllmculturedist")


def country_label(record: dict) -> str:
    return record["instruction"].split("from ", 1)[1].split(" answer the", 1)[0]


def convert(src: Path, out: Path) -> None:
    records = json.loads((src / "pew-goqa-simllmculturedist" / "global_pew_test.json").read_text(encoding="utf-8"))
    wanted = {**C1_PRIME, **C3}
    questions: dict[int, dict] = {}
    rows: list[list[object]] = []
    skipped: Counter = Counter()
    seen: set[tuple[str, int]] = set()
    for record in records:
        label = country_label(record)
        if label not in wanted:
            skipped["other countries or samples"] += 1
            continue
        iso3, qid = wanted[label], int(record["id"])
        options = [option.split(")", 1)[1] for option in record["options"]]
        letters = [option[1:].split(")", 1)[0] for option in record["options"]]
        shares = [float(record["options_dist"].get(letter, 0.0)) for letter in letters]
        if sum(shares) <= 0:
            skipped["option shares summing to 0 (GOQA id 2446)"] += 1
            continue
        if (iso3, qid) in seen:
            skipped["a second record of the same country and question"] += 1
            continue
        seen.add((iso3, qid))
        text = " ".join(record["input"].split("\nHere are the options:")[0].split())
        known = questions.setdefault(qid, {"text": text, "options": options})
        if known["options"] != options or known["text"] != text:
            raise SystemExit(f"GOQA id {qid}: records disagree on the question or its options")
        rows.extend([iso3, f"G{qid}", code, repr(share)] for code, share in enumerate(shares, start=1))
    # WVS-sourced GOQA items list "Don't know"/"No answer" as options; Pew items do not.
    source = {qid: ("wvs" if any(o in ("Don't know", "No answer", "Missing") for o in q["options"]) else "pew")
              for qid, q in questions.items()}
    write_csv(out / "questions.csv", ("item", "goqa_id", "source_guess", "text"),
              [[f"G{qid}", qid, source[qid], q["text"]] for qid, q in sorted(questions.items())])
    write_csv(out / "options.csv", ("item", "code", "label"),
              [[f"G{qid}", code, label] for qid, q in sorted(questions.items())
               for code, label in enumerate(q["options"], start=1)])
    write_csv(out / "benchmarks.csv", ("country", "item", "code", "value"), sorted(rows, key=lambda r: (r[0], int(r[1][1:]), r[2])))
    groups = [["C1p", iso3] for iso3 in dict.fromkeys(C1_PRIME.values())] + [["C3", iso3] for iso3 in dict.fromkeys(C3.values())]
    write_csv(out / "groups.csv", ("group", "country"), groups)
    write_csv(out / "countries.csv", ("iso3", "name"), sorted(NAMES.items()))
    print(f"{len(questions)} questions, {len(seen)} (country, question) records, "
          f"{sum(v == 'pew' for v in source.values())} Pew-sourced; skipped {dict(skipped)}")


def main(argv: list[str] | None = None) -> int:
    return run_converter(argv, __doc__.splitlines()[0], REPO_ROOT / "data" / "goqa", default_source, convert)


if __name__ == "__main__":
    sys.exit(main())
