"""Convert WVS wave 7 AGGREGATES into silspec project data (data/wvs7/). Never microdata.

Why: the two WVS specs need per-country answer distributions with a provenance trail, and the
WVS conditions of use forbid redistributing respondent records. Every file written here holds
country-level shares only.

    python tools/convert_wvs.py [--source DIR] [--out DIR]

Inputs (shared/data/): wvs7-country-marginals/ (computed from WVS-7 v5.0 microdata: weighted and
unweighted shares), wvs7-simllmculturedist/ (the NAACL 2025 first-token paper's own files) and
wvs7-codebook-worldvaluesbench/ (WVS-7 value labels and question wordings).

The spec of the first-token paper's whole question set is generated from data/wvs7/ by
tools/first_token_spec.py (run it after this converter).
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

from _common import REPO_ROOT, run_converter, shared_data_root, write_csv


VALUE_PERSONA_COUNTRIES = ("COL", "JOR", "JPN", "PRI", "TWN")  # seed 003's countries present in WVS-7 v5.0
# The United Kingdom is in WVS-7 v5.0 but its microdata file did not reach us: its shares come from
# SimLLMCultureDist (unweighted, Q1-Q198 only), so 28 of the 35 target questions (Q199-Q238 absent).
VALUE_PERSONA_PARTIAL = ("GBR",)

# First-token study (seed 002): splits of the authors' construct_sft_data.py.
EXCLUDED_QUESTIONS = {82, *range(94, 106)}
QUESTION_GROUPS = {
    "Q1": [q for q in range(1, 164) if q not in EXCLUDED_QUESTIONS],  # train questions (150)
    "Q2": list(range(164, 199)),  # valid questions (35)
    "Q3": list(range(199, 260)),  # test questions (61; the paper's count of 59 excludes two we cannot identify)
}
C2_AFRICA = ("EGY", "ETH", "KEN", "LBY", "MAR", "NGA", "TUN", "ZWE")
C3_MEDIUM_GDP = ("MYS", "THA", "CZE", "GRC", "NGA", "MAR", "PER", "COL", "MEX", "PRI", "NZL")
# Q223 (party voted for) has country-specific party codes, not one scale: the authors' 0-10 rule
# keeps a few meaningless codes of it; the full spec leaves it out (docs/studies/first-token.md).
UNSCALED_QUESTIONS = {223}
# The subset of questions the shipped spec declares (simple ordinal scales, 1-10 codes).
FIRST_TOKEN_ITEMS = {
    "Q1": ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q46", "Q57", "Q64", "Q69", "Q71", "Q73"),
    "Q2": ("Q164", "Q171", "Q173", "Q180", "Q181", "Q182", "Q184", "Q185", "Q187"),
    "Q3": ("Q199", "Q209", "Q210", "Q211", "Q235", "Q236", "Q237", "Q238"),
}
# ISO 3166-1 numeric -> alpha-3 for the C1 countries whose microdata (hence iso3 row) we lack.
ISO_NUMERIC_EXTRA = {124: "CAN", 156: "CHN", 826: "GBR", 344: "HKG", 360: "IDN", 528: "NLD", 792: "TUR", 840: "USA"}


def default_source() -> Path:
    return shared_data_root("wvs7-country-marginals")


def fill_zero_codes(rows: list[list[object]]) -> list[list[object]]:
    """Add value 0 for a code nobody in a country chose (the sources list only codes that occur).

    The item's codes are the union over all countries in the table, so every (country, item)
    lists the same codes and a benchmark table never silently lacks one.
    """
    codes_by_item: dict[str, set[int]] = defaultdict(set)
    cells: dict[tuple[str, str], dict[int, object]] = defaultdict(dict)
    for country, item, code, value in rows:
        codes_by_item[item].add(code)
        cells[(country, item)][code] = value
    filled = []
    for (country, item), values in cells.items():  # dicts keep first-seen order
        for code in sorted(codes_by_item[item]):
            filled.append([country, item, code, values.get(code, 0)])
    return filled


def qnum(item: str) -> int:
    return int(item[1:])


def value_personas(src: Path, out: Path) -> None:
    doc = json.loads((src / "wvs7-country-marginals" / "target_countries_selected_items.json").read_text(encoding="utf-8"))
    items = doc["items_requested"]
    rows: list[list[object]] = []
    n_rows: list[list[object]] = []
    for country in VALUE_PERSONA_COUNTRIES:
        for item in items:
            record = doc["countries"][country]["items"][item]
            for code, pct in sorted(record["pct_weighted"].items(), key=lambda kv: int(kv[0])):
                rows.append([country, item, int(code), pct])  # verbatim, percent of valid answers
            n_missing = sum(record["missing_counts"].values())
            n_rows.append([country, item, record["n_valid"], n_missing])
    for country in VALUE_PERSONA_PARTIAL:
        available = doc["countries"][country]["items"]
        for item in items:
            if item not in available:
                continue  # named in PROVENANCE.md and the spec; lint's SIL413 lists the cells
            shares = available[item]["pct_unweighted"]
            for code, pct in sorted(shares.items(), key=lambda kv: int(kv[0])):
                rows.append([country, item, int(code), pct])  # verbatim, unweighted percent
    rows = fill_zero_codes(rows)
    value_items(doc, out)
    write_csv(out / "value_personas_benchmarks.csv", ("country", "item", "code", "value"), rows)
    write_csv(out / "value_personas_n.csv", ("country", "item", "n_valid", "n_missing"), n_rows)
    print(f"value_personas_benchmarks.csv: {len(rows)} rows ({len(VALUE_PERSONA_COUNTRIES)} countries x {len(items)} items"
          f" + {', '.join(VALUE_PERSONA_PARTIAL)} where available)")


def value_items(doc: dict, out: Path) -> None:
    """The 10 Inglehart-Welzel items' own shares (what value personas are drawn from), per
    country: weighted percent of valid answers (Y003 valid on -2..2), GBR unweighted where its
    source has the item. Lets a report compare the sampled personas with the population."""
    items = [code for axis in doc["inglehart_welzel_items"].values() for code, _ in axis]
    rows: list[list[object]] = []
    for country in (*VALUE_PERSONA_COUNTRIES, *VALUE_PERSONA_PARTIAL):
        available = doc["countries"][country]["items"]
        for item in items:
            if item not in available:
                continue
            record = available[item]
            shares = record.get("pct_weighted") or record["pct_unweighted"]
            for code, pct in sorted(shares.items(), key=lambda kv: int(kv[0])):
                rows.append([country, item, int(code), pct])
    rows = fill_zero_codes(rows)
    write_csv(out / "value_items_benchmarks.csv", ("country", "item", "code", "value"), rows)
    print(f"value_items_benchmarks.csv: {len(rows)} rows")


def country_table(src: Path) -> dict[int, str]:
    marginal_countries = json.loads((src / "wvs7-country-marginals" / "wvs7_v5_countries.json").read_text(encoding="utf-8"))
    by_number = {meta["B_COUNTRY"]: iso3 for iso3, meta in marginal_countries.items()}
    by_number.update(ISO_NUMERIC_EXTRA)
    return by_number


def full_question_set() -> list[str]:
    """Every question of the paper's Q1/Q2/Q3 groups that has one answer scale (246)."""
    return [f"Q{q}" for group in QUESTION_GROUPS.values() for q in group if q not in UNSCALED_QUESTIONS]


def first_token(src: Path, out: Path) -> None:
    iso_by_number = country_table(src)
    names = json.loads((src / "wvs7-simllmculturedist" / "config_setting.B_COUNTRY_to_name.json").read_text(encoding="utf-8"))
    items = first_token_items(src)
    wanted = set(items)

    # C1 x Q1-Q198: the authors' own shares (verbatim; train file rounded to 2 dp by the authors).
    authors: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    c1: set[str] = set()
    with (src / "wvs7-simllmculturedist" / "wvs7_simllm_q1_q198_long.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            iso3 = iso_by_number[int(row["B_COUNTRY"])]
            c1.add(iso3)
            if row["question"] in wanted:
                authors[(iso3, row["question"])].append((int(row["code"]), row["pct"]))

    # Everything else from the microdata marginals, with the authors' rule: unweighted, codes 0-10.
    counts: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    with (src / "wvs7-country-marginals" / "wvs7_v5_country_marginals_long.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["variable"] in wanted and 0 <= int(row["code"]) <= 10:
                counts[(row["iso3"], row["variable"])].append((int(row["code"]), int(row["n"])))

    held_out = sorted(set(C2_AFRICA) | set(C3_MEDIUM_GDP))
    rows: list[list[object]] = []
    sources = defaultdict(int)
    for country in sorted(c1) + held_out:
        for item in sorted(wanted, key=qnum):
            if country in c1 and qnum(item) <= 198:
                cells = sorted(authors.get((country, item), []))
                sources["authors"] += bool(cells)
                rows.extend([country, item, code, pct] for code, pct in cells)
                continue
            cells = sorted(counts.get((country, item), []))
            total = sum(n for _, n in cells)
            if not total:
                sources["absent"] += 1
                continue
            sources["marginals"] += 1
            rows.extend([country, item, code, f"{100 * n / total:.4f}"] for code, n in cells)
    rows = fill_scale_codes(rows, {item: [code for code, _ in meta["options"]] for item, meta in items.items()})
    write_csv(out / "first_token_benchmarks.csv", ("country", "item", "code", "value"), rows)
    write_csv(out / "first_token_questions.csv", ("item", "group", "ordered", "text_source", "labels_source", "text"),
              [[item, m["group"], "yes" if m["ordered"] else "no", m["text_source"], m["labels_source"], m["text"]]
               for item, m in items.items()])
    write_csv(out / "first_token_options.csv", ("item", "code", "label"),
              [[item, code, label] for item, m in items.items() for code, label in m["options"]])
    print(f"first_token_questions.csv, first_token_options.csv: {len(items)} questions")
    print(f"first_token_benchmarks.csv: {len(rows)} rows; (country, item) pairs by source {dict(sources)}")

    group_rows: list[list[object]] = []
    for name, members in (("C1", sorted(c1)), ("C2", C2_AFRICA), ("C3", C3_MEDIUM_GDP)):
        group_rows.extend([name, "country", m, ""] for m in members)
    for name, questions in QUESTION_GROUPS.items():
        declared = set(FIRST_TOKEN_ITEMS[name])
        group_rows.extend([name, "item", f"Q{q}", "yes" if f"Q{q}" in declared else ""] for q in questions)
    write_csv(out / "groups.csv", ("group", "kind", "member", "in_spec"), group_rows)

    country_rows = []
    for number, iso3 in sorted(iso_by_number.items(), key=lambda kv: kv[1]):
        country_rows.append([iso3, number, names.get(str(number), "")])
    write_csv(out / "countries.csv", ("iso3", "B_COUNTRY", "name"), country_rows)
    print(f"groups.csv: C1 {len(c1)} countries, C2 {len(C2_AFRICA)}, C3 {len(C3_MEDIUM_GDP)}; countries.csv: {len(country_rows)}")


def fill_scale_codes(rows: list[list[object]], codes_by_item: dict[str, list[int]]) -> list[list[object]]:
    """Value 0 for every scale code a country's source does not list (nobody chose it).

    The item's codes come from its scale (the codebook), not from the data, so a code no country
    chose is still a zero row and every (country, item) lists exactly its scale's codes.
    """
    cells: dict[tuple[str, str], dict[int, object]] = defaultdict(dict)
    for country, item, code, value in rows:
        if code not in codes_by_item[item]:
            raise SystemExit(f"{country} {item}: code {code} is not on the item's scale {codes_by_item[item]}")
        cells[(country, item)][code] = value
    return [[country, item, code, values.get(code, 0)]
            for (country, item), values in cells.items() for code in codes_by_item[item]]


def first_token_items(src: Path) -> dict[str, dict]:
    """Question text and options of every question of the full set, each with its source.

    Text: the authors' own wording (their train/valid files) for Q1-Q198; for Q199-Q259 (their
    test file is not in our sources) WorldValuesBench's wording of the WVS-7 question. Options:
    the authors' option lists for Q164-Q198 (their valid file, verbatim); the WVS-7 codebook's
    value labels (codes 0-10, the authors' rule) elsewhere, inner points of 10-point scales
    labelled by their number as the authors do.
    """
    folder = src / "wvs7-codebook-worldvaluesbench"
    codebook = json.loads((folder / "codebook.json").read_text(encoding="utf-8"))
    metadata = json.loads((folder / "question_metadata.json").read_text(encoding="utf-8"))
    authors_text = json.loads((src / "wvs7-simllmculturedist" / "question_texts.json").read_text(encoding="utf-8"))
    authors_options: dict[str, list[str]] = {}
    for record in json.loads((src / "wvs7-simllmculturedist" / "sft_wvs_valid.json").read_text(encoding="utf-8")):
        authors_options.setdefault(f"Q{record['id']}", [o.split(")", 1)[1] for o in record["options"]])
    group_of = {f"Q{q}": name for name, group in QUESTION_GROUPS.items() for q in group}
    items: dict[str, dict] = {}
    for item in full_question_set():
        choices = {int(code): label for code, label in codebook[item]["choices"].items() if 0 <= int(code) <= 10}
        codes = sorted(choices)
        if item in authors_options:
            labels, labels_source = authors_options[item], "authors"
            if len(labels) != len(codes):
                raise SystemExit(f"{item}: the authors list {len(labels)} options, the codebook {len(codes)} codes")
        else:
            labels, labels_source = [choices[c] or str(c) for c in codes], "codebook"
        if isinstance(authors_text.get(item), str):  # Q144 is NaN in the derived file
            text, text_source = authors_text[item].strip(), "authors"
        else:
            text, text_source = metadata[item]["question"].strip(), "worldvaluesbench"
        ordered = metadata.get(item, {}).get("answer_data_type", "ordinal") == "ordinal" and 0 not in codes
        items[item] = {"group": group_of[item], "text": " ".join(text.split()), "text_source": text_source,
                       "labels_source": labels_source, "ordered": ordered, "options": list(zip(codes, labels))}
    return items


def convert(src: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    value_personas(src, out)
    first_token(src, out)


def main(argv: list[str] | None = None) -> int:
    return run_converter(argv, __doc__.splitlines()[0], REPO_ROOT / "data" / "wvs7", default_source, convert)


if __name__ == "__main__":
    sys.exit(main())
