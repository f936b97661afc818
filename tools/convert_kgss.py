"""Convert the KGSS indigenous-LLM paper's files into silspec project data (data/kgss2023/).

Why a script: every shipped number must be traceable to `shared/data/kgss2023-indigenous-llm-paper/`
(read its PROVENANCE.md) and re-creatable byte for byte. Numbers are copied verbatim; the only
derivations are documented in data/kgss2023/PROVENANCE.md (quota row sums, replay reshaping).

    python tools/convert_kgss.py [--source DIR] [--out DIR]

It also re-parses all 600 recorded CLOVA texts with first-integer-in-range and checks that this
reproduces the recorded parsed values (the proof that CLOVA's "defaults" were failed requests).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from pathlib import Path

from _common import REPO_ROOT, run_converter, shared_data_root, write_csv

ITEMS = ("CONFINAN", "CONLEGIS", "KRPROUD", "NORTHWHO", "UNIFI", "PARTYLR")  # the paper's six, its order
PERSONA_ATTRIBUTES = ("age_group", "gender", "education", "region", "occupation")
REPLAY_COLUMNS = ("persona_id", "item", "response_raw", "model", "error", "attempts")
FIRST_INTEGER = re.compile(r"\d+")  # the paper's rule (Appendix B.4): first integer, then range check


def default_source() -> Path:
    return shared_data_root("kgss2023-indigenous-llm-paper") / "kgss2023-indigenous-llm-paper"


def fmt(value: float) -> str:
    """Numbers as the source wrote them (17.3, 65.4), never re-rounded."""
    return repr(float(value))


def convert_benchmarks(src: Path, out: Path) -> None:
    paper = json.loads((src / "kgss_benchmarks_2023.paper.json").read_text(encoding="utf-8"))["distributions"]
    codebook: dict[str, dict[str, str]] = {}
    missing_rows: list[list[object]] = []
    with (src / "kgss_codebook_tables_2003_2023.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["year"] != "2023" or row["variable"] not in ITEMS:
                continue
            code = row["code"]
            if code == "N":
                continue
            if code.startswith("-"):
                missing_rows.append([row["variable"], code, row["label_ko"], row["value"]])
            else:
                codebook.setdefault(row["variable"], {})[code] = row["value"]
    rows: list[list[object]] = []
    for item in ITEMS:
        for code, value in paper[item].items():
            rows.append([item, "paper", int(code), fmt(value)])
        for code, value in codebook[item].items():
            rows.append([item, "codebook_2023", int(code), value])
    write_csv(out / "benchmarks.csv", ("item", "benchmark", "code", "value"), rows)
    missing_rows.sort(key=lambda r: (ITEMS.index(r[0]), -int(r[1])))
    write_csv(out / "codebook_2023_nonsubstantive.csv", ("item", "code", "label", "value"), missing_rows)
    sums = {item: round(sum(paper[item].values()), 6) for item in ITEMS}
    print(f"benchmarks.csv: {len(rows)} rows; paper sums {sums}")


def read_wide(src: Path) -> list[dict[str, str]]:
    # utf-8-sig: the paper's CSVs start with a byte-order mark
    with (src / "results" / "gpt52_seed42_persona_responses_wide.csv").open(encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def convert_personas(src: Path, out: Path) -> None:
    wide = read_wide(src)
    rows = [[r["persona_id"], *(r[a] for a in PERSONA_ATTRIBUTES)] for r in wide]
    assert [r[0] for r in rows] == [f"P{i:03d}" for i in range(1, 101)], "expected P001..P100"
    write_csv(out / "paper_personas.csv", ("persona_id", *PERSONA_ATTRIBUTES), rows)
    print(f"paper_personas.csv: {len(rows)} personas")


def convert_quotas(src: Path, out: Path) -> None:
    spec = json.loads((src / "persona_quota_spec.paper_code.json").read_text(encoding="utf-8"))
    joint = spec["age_gender_counts_n100"]
    header = ("attribute", "value", "count", "share", "given:age_group")
    rows: list[list[object]] = []
    for age, by_gender in joint.items():  # derived: the age quota is the row sum of the joint table
        rows.append(["age_group", age, sum(by_gender.values()), "", ""])
    for age, by_gender in joint.items():
        for gender, count in by_gender.items():
            rows.append(["gender", gender, count, "", age])
    for age, shares in spec["education_prob_by_age"].items():
        for education, share in shares.items():
            rows.append(["education", education, "", fmt(share), age])
    for region, share in spec["region_prob"].items():
        rows.append(["region", region, "", fmt(share), ""])
    total = sum(r[2] for r in rows if r[0] == "age_group")
    assert total == 100, total
    write_csv(out / "persona_quotas.csv", header, rows)
    print(f"persona_quotas.csv: {len(rows)} rows (age x gender counts sum to {total})")


def convert_gpt_replay(src: Path, out: Path) -> None:
    config = json.loads((src / "results" / "gpt52_seed42_run_config.json").read_text(encoding="utf-8"))
    wide = {r["persona_id"]: r for r in read_wide(src)}
    with (src / "results" / "gpt52_seed42_persona_responses_long.csv").open(encoding="utf-8-sig") as f:
        long_rows = list(csv.DictReader(f))
    by_key = {(r["persona_id"], r["variable"]): r for r in long_rows}
    assert len(by_key) == len(long_rows) == 600
    rows: list[list[object]] = []
    for item in ITEMS:
        for pid in sorted(wide):
            r = by_key[(pid, item)]
            # the long file's recorded answer must equal the wide file's: one source of truth
            assert r["response"] == wide[pid][item], (pid, item)
            assert r["response_used_default"] == "False" and not r["response_error"], (pid, item)
            rows.append([pid, item, r["response_raw"], config["model"], r["response_error"], r["response_attempts"]])
    write_csv(out / "replay" / "gpt52_seed42.csv", REPLAY_COLUMNS, rows)
    print(f"replay/gpt52_seed42.csv: {len(rows)} answers, model {config['model']}")


def first_integer_in_range(text: str, codes: range) -> int | None:
    match = FIRST_INTEGER.search(text)
    if match is None:
        return None
    value = int(match.group())
    return value if value in codes else None


def convert_clova_replay(src: Path, out: Path) -> dict[str, str]:
    valid = {"CONFINAN": range(1, 4), "CONLEGIS": range(1, 4), "KRPROUD": range(1, 5),
             "NORTHWHO": range(1, 5), "UNIFI": range(1, 5), "PARTYLR": range(1, 6)}
    rows: list[list[object]] = []
    thinking: dict[str, str] = {}
    reproduced = errors = 0
    for item in ITEMS:
        doc = json.loads((src / "results" / f"clova_hcx007_seed42_{item}_clova_results.json").read_text(encoding="utf-8"))
        thinking[item] = doc["configuration"]["thinking"]
        (result,) = doc["results"]
        answers = sorted(result["raw_responses"], key=lambda a: a["persona_id"])
        assert [a["persona_id"] for a in answers] == [f"P{i:03d}" for i in range(1, 101)], item
        for a in answers:
            raw, error = a["raw"], a["error"]
            if error:  # a failed request: no text, never a model answer
                assert raw == "" and a["used_default"] and a["parsed"] is None, (item, a["persona_id"])
                errors += 1
            reparsed = first_integer_in_range(raw, valid[item]) if raw else None
            reproduced += reparsed == a["parsed"]
            rows.append([a["persona_id"], item, raw, result["model"], error or "", a["attempts"]])
    write_csv(out / "replay" / "clova_hcx007_seed42.csv", REPLAY_COLUMNS, rows)
    print(f"replay/clova_hcx007_seed42.csv: {len(rows)} answers, {errors} failed requests (HTTP 429, empty text)")
    print(f"CLOVA re-parse check: first-integer-in-range reproduces the recorded parsed values {reproduced}/{len(rows)}")
    if reproduced != len(rows):
        raise SystemExit("CLOVA re-parse check FAILED")
    print(f"CLOVA thinking effort per item (as recorded): {thinking}")
    return thinking


def copy_reference(src: Path, out: Path) -> None:
    for name in ("clova_hcx007_seed42_js_excluding_errors.json", "gpt52_seed42_metrics.json"):
        shutil.copyfile(src / "results" / name, out / "reference" / name)
    print("reference/: copied the authors' metrics files verbatim")


def convert(src: Path, out: Path) -> None:
    (out / "reference").mkdir(parents=True, exist_ok=True)
    convert_benchmarks(src, out)
    convert_personas(src, out)
    convert_quotas(src, out)
    convert_gpt_replay(src, out)
    convert_clova_replay(src, out)
    copy_reference(src, out)


def main(argv: list[str] | None = None) -> int:
    return run_converter(argv, __doc__.splitlines()[0], REPO_ROOT / "data" / "kgss2023", default_source, convert)


if __name__ == "__main__":
    sys.exit(main())
