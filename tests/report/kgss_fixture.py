"""The KGSS paper's replay, built in Python: a Spec and AnswerRecords from the shipped CSVs.

Used until (and alongside) ``specs/kgss_paper_replay.sil`` and the replay runner: it pins the
analysis to the paper's numbers independently of the language front end.
"""

from __future__ import annotations

import csv
from pathlib import Path

from silspec.run.records import AnswerRecord
from silspec.spec.model import (
    Analysis,
    Benchmark,
    Bootstrap,
    Category,
    Comparison,
    Condition,
    Item,
    Metric,
    Model,
    Parser,
    Scale,
    Spec,
    Study,
    Survey,
    Template,
)

ROOT = Path(__file__).resolve().parents[2]
REPLAY = ROOT / "data" / "kgss2023" / "replay"
BENCHMARKS = ROOT / "data" / "kgss2023" / "benchmarks.csv"
REFERENCE = ROOT / "data" / "kgss2023" / "reference"
ITEMS = ("CONFINAN", "CONLEGIS", "KRPROUD", "NORTHWHO", "UNIFI", "PARTYLR")
N_CODES = {"CONFINAN": 3, "CONLEGIS": 3, "KRPROUD": 4, "NORTHWHO": 4, "UNIFI": 4, "PARTYLR": 5}
FILES = {"gpt52": "gpt52_seed42.csv", "clova": "clova_hcx007_seed42.csv"}


def inputs_present() -> bool:
    return BENCHMARKS.exists() and all((REPLAY / f).exists() for f in FILES.values())


def _benchmarks() -> dict[str, dict[str, list[float]]]:
    table: dict[str, dict[str, dict[int, float]]] = {}
    with BENCHMARKS.open(encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            table.setdefault(row["item"], {}).setdefault(row["benchmark"], {})[int(row["code"])] = float(row["value"])
    return {item: {name: [v for _, v in sorted(codes.items())] for name, codes in by.items()} for item, by in table.items()}


def build_spec(*, default_benchmark: str = "paper", bootstrap: bool = True) -> Spec:
    bench = _benchmarks()
    items = []
    for code in ITEMS:
        scale = Scale(
            name=f"s{code}",
            categories=tuple(Category(c, f"label {c}") for c in range(1, N_CODES[code] + 1)),
        )
        benchmarks = tuple(
            Benchmark(name=name, values=tuple(values), unit="percent", renormalise=name == "paper")
            for name, values in bench[code].items()
        )
        items.append(
            Item(
                id=f"kgss2023.{code}",
                code=code,
                survey="kgss2023",
                text=code,
                scale=scale,
                benchmarks=benchmarks,
                default_benchmark=default_benchmark,
            )
        )
    parser = Parser(name="paper", on_invalid="midpoint", on_error="midpoint")
    prompt = Template(name="p", source="{{ item.text }}")
    item_ids = tuple(f"kgss2023.{c}" for c in ITEMS)
    return Spec(
        path="specs/kgss_paper_replay.sil",
        root=str(ROOT),
        study=Study(name="kgss_paper_replay", title="KGSS 2023 replay", seed=42),
        surveys={"kgss2023": Survey(name="kgss2023", items=tuple(items), n=1230)},
        parsers={"paper": parser},
        models={
            "gpt52": Model(name="gpt52", backend="replay", model_id="gpt-5.2"),
            "clova": Model(name="clova", backend="replay", model_id="HCX-007"),
        },
        conditions={
            name: Condition(name=name, model=name, items=item_ids, parser="paper", prompt=prompt, population="paper")
            for name in ("gpt52", "clova")
        },
        analysis=Analysis(
            metrics=(Metric("js"), Metric("ks"), Metric("chi2"), Metric("wasserstein")),
            bootstrap=Bootstrap(resamples=1000, level=0.95, seed=1) if bootstrap else None,
            comparisons=(Comparison(a="gpt52", b="clova", metrics=("js",), without=("UNIFI",)),),
        ),
    )


def load_records() -> list[AnswerRecord]:
    records = []
    for condition, name in FILES.items():
        with (REPLAY / name).open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                error = row.get("error") or None
                records.append(
                    AnswerRecord(
                        request_id=f"{condition}:{row['item']}:{row['persona_id']}",
                        condition=condition,
                        model=condition,
                        model_id=row.get("model") or condition,
                        item=f"kgss2023.{row['item']}",
                        persona=row["persona_id"],
                        replicate=0,
                        answers="sampled",
                        params={},
                        prompt_hash="",
                        outcome="error" if error else "answered",
                        raw_text=row.get("response_raw") or None,
                        error=error,
                        attempts=int(row.get("attempts") or 1),
                    )
                )
    return records
