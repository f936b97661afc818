"""A small, fully synthetic analysis (two conditions, three items, defaults, a comparison)."""

from __future__ import annotations

from silspec.analysis.pipeline import analyse
from silspec.run.records import AnswerRecord
from silspec.spec.model import (
    Analysis, Benchmark, Bootstrap, Category, Comparison, Condition, Item, Metric, Model, Parser,
    Scale, Spec, Study, Survey, Template,
)

SCALE = Scale(name="four", categories=tuple(Category(c, f"l{c}") for c in (1, 2, 3, 4)))


def small_spec() -> Spec:
    items = tuple(
        Item(id=f"s.{code}", code=code, survey="s", text=code, scale=SCALE,
             benchmarks=(Benchmark("main", (10.0, 40.0, 40.0, 12.0), unit="percent"),))
        for code in ("Q1", "Q2", "Q3")
    )
    return Spec(
        path="x.sil", root="/tmp", study=Study(name="small", title="A <small> study", seed=1),
        surveys={"s": Survey(name="s", items=items, n=500)},
        parsers={"p": Parser(name="p", on_error="midpoint")},
        models={c: Model(name=c, backend="replay", model_id=f"m-{c}") for c in ("a", "b")},
        conditions={c: Condition(name=c, model=c, items=tuple(i.id for i in items), parser="p", prompt=Template("t", "x")) for c in ("a", "b")},
        analysis=Analysis(
            metrics=(Metric("js"), Metric("ks"), Metric("wasserstein")),
            bootstrap=Bootstrap(resamples=200, seed=1),
            comparisons=(Comparison(a="a", b="b", metrics=("js",), without=("Q3",)),),
        ),
    )


def small_records() -> list[AnswerRecord]:
    plan = {
        "a": {"Q1": [1, 2, 2, 2, 3, 3, 4, 2], "Q2": [2] * 8, "Q3": [1, 1, 2, 3, 3, 3, 4, 4]},
        "b": {"Q1": [1, 2, 2, 3, 3, 3, 4, None], "Q2": [2, 3, 2, 3, None, None, None, None], "Q3": [2, 2, 2, 3, 3, 3, 3, 1]},
    }
    out = []
    for condition, items in plan.items():
        for item, codes in items.items():
            for i, code in enumerate(codes):
                out.append(AnswerRecord(
                    request_id=f"{condition}-{item}-{i}", condition=condition, model=condition,
                    model_id=f"m-{condition}", item=f"s.{item}", persona=f"P{i}", replicate=0,
                    answers="sampled", params={}, prompt_hash="", outcome="error" if code is None else "answered",
                    raw_text=None if code is None else f"{code}", error="HTTP 429" if code is None else None,
                ))
    return out


def small_results():
    return analyse(small_spec(), small_records())
