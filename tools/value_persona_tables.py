"""Write the text tables of the value-persona study's other persona conditions (data/wvs7/).

Why: the paper's sociodemographic and few-shot baselines condition the model on the same
respondents as the value personas, only with different text. Both are descriptor-like tables
(`item,code,text`) that `specs/wvs_value_personas.sil` declares, so one respondent row renders
into every condition's persona and the conditions are paired. Deterministic; no microdata.

    python tools/value_persona_tables.py [--out DIR]

- `sociodemographic_descriptors.csv`: Q260 sex, Q262 age (one row per age 15-110), Q275
  education (ISCED 2011 levels), Q288 income step (1-10), H_URBRURAL urban/rural, as plain
  second-person sentences; answer labels from the WVS-7 codebook (WorldValuesBench copy).
- `fewshot_examples.csv`: the paper's few-shot ablation shows "survey responses ... directly as
  examples": for each Inglehart-Welzel item and code, the question with its scale and the
  respondent's answer, in the paper's own question format (Appendix A.1). Y002 and Y003 are
  indices, not questions: they are shown as the index with its construction (our wording).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _common import REPO_ROOT, write_csv

SEX = {1: "You are a man.", 2: "You are a woman."}
EDUCATION = {
    0: "Your highest level of education is early childhood education or none (ISCED 0).",
    1: "Your highest level of education is primary education (ISCED 1).",
    2: "Your highest level of education is lower secondary education (ISCED 2).",
    3: "Your highest level of education is upper secondary education (ISCED 3).",
    4: "Your highest level of education is post-secondary non-tertiary education (ISCED 4).",
    5: "Your highest level of education is short-cycle tertiary education (ISCED 5).",
    6: "Your highest level of education is a bachelor's degree or equivalent (ISCED 6).",
    7: "Your highest level of education is a master's degree or equivalent (ISCED 7).",
    8: "Your highest level of education is a doctorate or equivalent (ISCED 8).",
}
URBAN = {1: "You live in an urban area.", 2: "You live in a rural area."}
AGES = range(15, 111)

# (item, question, scale as "code=label" pairs) in the paper's prompt format (Appendix A.1)
FEWSHOT = (
    ("Q164", "How important is God in your life?",
     {1: "Not at all important", **{c: str(c) for c in range(2, 10)}, 10: "Very important"}),
    ("Y003", "Autonomy index: which qualities children should learn at home (obedience and religious "
     "faith vs independence and determination)?", {-2: "Least autonomy", -1: "-1", 0: "0", 1: "1", 2: "Most autonomy"}),
    ("Q184", "Can abortion always be justified, never be justified, or something in between?",
     {1: "Never justifiable", **{c: str(c) for c in range(2, 10)}, 10: "Always justifiable"}),
    ("Q254", "How proud are you to be of your nationality?",
     {1: "Very proud", 2: "Quite proud", 3: "Not very proud", 4: "Not at all proud", 5: "I am not of this nationality"}),
    ("Q45", "If greater respect for authority takes place in the near future, do you think it would be a good "
     "thing, a bad thing, or don't you mind?", {1: "Good thing", 2: "Don't mind", 3: "Bad thing"}),
    ("Y002", "Post-materialist index: your first and second priorities among maintaining order, giving people "
     "more say, fighting rising prices and protecting freedom of speech?", {1: "Materialist", 2: "Mixed", 3: "Postmaterialist"}),
    ("Q46", "Taking all things together, would you say you are happy?",
     {1: "Very happy", 2: "Quite happy", 3: "Not very happy", 4: "Not at all happy"}),
    ("Q182", "Can homosexuality always be justified, never be justified, or something in between?",
     {1: "Never justifiable", **{c: str(c) for c in range(2, 10)}, 10: "Always justifiable"}),
    ("Q209", "Signing a petition: have you done this, might you do it, or would you never do it?",
     {1: "Have done", 2: "Might do", 3: "Would never do"}),
    ("Q57", "Generally speaking, would you say that most people can be trusted or that you need to be very "
     "careful in dealing with people?", {1: "Most people can be trusted", 2: "Need to be very careful"}),
)


def sociodemographic_rows() -> list[list[object]]:
    rows: list[list[object]] = []
    rows += [["Q260", code, text] for code, text in SEX.items()]
    rows += [["Q262", age, f"You are {age} years old."] for age in AGES]
    rows += [["Q275", code, text] for code, text in EDUCATION.items()]
    rows += [["Q288", step, f"On your country's income scale from 1 (lowest group) to 10 (highest group), your household is in group {step}."]
             for step in range(1, 11)]
    rows += [["H_URBRURAL", code, text] for code, text in URBAN.items()]
    return rows


def fewshot_rows() -> list[list[object]]:
    rows: list[list[object]] = []
    for item, question, scale in FEWSHOT:
        shown = ", ".join(f"{code}={label}" for code, label in scale.items())
        for code in scale:
            rows.append([item, code, f"Question:\n{question}\n\nScale: {shown}\n\nAnswer: {code}"])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "data" / "wvs7")
    args = parser.parse_args(argv)
    write_csv(args.out / "sociodemographic_descriptors.csv", ("item", "code", "text"), sociodemographic_rows())
    write_csv(args.out / "fewshot_examples.csv", ("item", "code", "text"), fewshot_rows())
    print(f"wrote sociodemographic_descriptors.csv and fewshot_examples.csv to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
