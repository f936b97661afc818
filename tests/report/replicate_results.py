"""Synthetic results with 3 replicates per persona (samples = 3) and a comparison."""

from __future__ import annotations

from silspec.analysis.pipeline import analyse
from silspec.run.records import AnswerRecord
from silspec.spec.model import (
    Analysis, Benchmark, Category, Comparison, Condition, Item, Metric, Model, Parser, Scale, Spec, Study, Survey, Template,
)

SCALE = Scale(name="four", categories=tuple(Category(c, f"l{c}") for c in (1, 2, 3, 4)))
CODES = {
    "a": {0: [1, 1, 1, 4], 1: [1, 1, 4, 4], 2: [1, 4, 4, 4]},
    "b": {0: [1, 2, 3, 4], 1: [2, 2, 3, 3], 2: [1, 2, 3, 3]},
}


def replicate_spec(seed: int = 3) -> Spec:
    items = tuple(
        Item(id=f"s.{code}", code=code, survey="s", text=code, scale=SCALE, benchmarks=(Benchmark("main", (10.0, 40.0, 40.0, 10.0), unit="percent"),))
        for code in ("Q1", "Q2", "Q3")
    )
    return Spec(
        path="x.sil", root="/tmp", study=Study(name="reps", seed=seed),
        surveys={"s": Survey(name="s", items=items, n=1000)},
        parsers={"p": Parser(name="p")},
        models={c: Model(name=c, backend="replay", model_id=f"m-{c}") for c in ("a", "b")},
        conditions={c: Condition(name=c, model=c, items=tuple(i.id for i in items), parser="p", prompt=Template("t", "x"), samples=3) for c in ("a", "b")},
        analysis=Analysis(metrics=(Metric("js"), Metric("wasserstein")), comparisons=(Comparison(a="a", b="b", metrics=("js",)),)),
    )


def replicate_records() -> list[AnswerRecord]:
    return [
        AnswerRecord(
            request_id=f"{c}{item}{p}{r}", condition=c, model=c, model_id=f"m-{c}", item=f"s.{item}", persona=f"P{p}",
            replicate=r, answers="sampled", params={}, prompt_hash="", outcome="answered", raw_text=str(code),
        )
        for c, by_replicate in CODES.items()
        for item in ("Q1", "Q2", "Q3")
        for r, codes in by_replicate.items()
        for p, code in enumerate(codes)
    ]


def replicate_results():
    return analyse(replicate_spec(), replicate_records())
