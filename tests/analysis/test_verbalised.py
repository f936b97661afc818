"""`verbalised` answers in the pipeline: stated distributions scored like option_probs."""

import math

import pytest

from silspec.analysis.pipeline import analyse
from silspec.analysis.metrics import js_divergence
from silspec.run.records import AnswerRecord
from silspec.spec.model import (
    Analysis, Benchmark, Bootstrap, Category, Condition, Item, Model, Parser, Scale, Spec, Study, Survey, Template,
)

CODES = (1, 2, 3, 4)

# ------------------------------------------------------------------------------ the pipeline

SCALE = Scale(name="four", categories=tuple(Category(c, f"l{c}") for c in CODES) + (Category(-8, "DK", missing=True),))
BENCH = (10.0, 40.0, 40.0, 10.0)


def spec_with(parser: Parser, bootstrap=None) -> Spec:
    item = Item(id="s.Q1", code="Q1", survey="s", text="Q1", scale=SCALE, benchmarks=(Benchmark("main", BENCH, unit="percent"),))
    return Spec(
        path="x.sil", root="/tmp", study=Study(name="t", seed=3),
        surveys={"s": Survey(name="s", items=(item,), n=1000)},
        parsers={"p": parser},
        models={"m": Model(name="m", backend="replay", model_id="m")},
        conditions={"v": Condition(name="v", model="m", items=("s.Q1",), parser="p", prompt=Template("t", "x"), answers="verbalised")},
        analysis=Analysis(bootstrap=bootstrap),
    )


def stated(persona, text, *, error=None, replicate=0):
    return AnswerRecord(
        request_id=f"{persona}-{replicate}", condition="v", model="m", model_id="m", item="s.Q1", persona=persona,
        replicate=replicate, answers="verbalised", params={}, prompt_hash="", outcome="error" if error else "answered",
        raw_text=text, error=error,
    )


ANSWERS = [
    stated("P1", '{"1": 10, "2": 50, "3": 30, "4": 10}'),
    stated("P2", "1: 0%\n2: 20%\n3: 60%\n4: 20%"),
    stated("P3", "no idea"),
    stated("P4", None, error="HTTP 429"),
    stated("P5", "I refuse to guess", ),
]


def test_valid_stated_distributions_average_over_personas_like_option_probs():
    results = analyse(spec_with(Parser(name="p", refusal=("refuse",))), ANSWERS)
    row = results.item_metrics("v")[0]
    assert row.answers == "verbalised" and row.n == 2
    assert row.probs == pytest.approx((0.05, 0.35, 0.45, 0.15))
    assert row.values["js"] == pytest.approx(js_divergence([0.05, 0.35, 0.45, 0.15], BENCH))
    assert math.isnan(row.values["ks_pvalue"])  # no sample size, as for option_probs
    (compliance,) = results.compliance
    assert (compliance.n, compliance.answered, compliance.invalid, compliance.refused, compliance.error) == (5, 2, 1, 1, 1)
    assert compliance.defaulted == 0


def test_on_invalid_midpoint_puts_all_mass_on_the_midpoint_and_records_a_default():
    results = analyse(spec_with(Parser(name="p", refusal=("refuse",), on_invalid="midpoint")), ANSWERS)
    with_defaults = results.item_metrics("v", "with_defaults")[0]
    valid_only = results.item_metrics("v", "valid_only")[0]
    # two stated rows + two midpoint fills (code 3) over four personas
    assert with_defaults.n == 4
    assert with_defaults.probs == pytest.approx(((0.1 + 0) / 4, (0.5 + 0.2) / 4, (0.3 + 0.6 + 2) / 4, (0.1 + 0.2) / 4))
    assert valid_only.probs == pytest.approx((0.05, 0.35, 0.45, 0.15))
    (compliance,) = results.compliance
    assert compliance.defaulted == 2 and compliance.default_code == 3 and compliance.defaulted_from_error == 0
    assert any(w.kind == "defaults" and "code 3" in w.message for w in results.warnings)


def test_bootstrap_resamples_personas_of_stated_distributions():
    results = analyse(spec_with(Parser(name="p"), bootstrap=Bootstrap(resamples=300, seed=1)), ANSWERS[:2])
    interval = results.item_metrics("v")[0].intervals["js"]
    one = js_divergence([0.1, 0.5, 0.3, 0.1], BENCH)
    two = js_divergence([0.0, 0.2, 0.6, 0.2], BENCH)
    # resamples are P1+P1, P1+P2, P2+P2: the interval spans those values
    assert interval.low == pytest.approx(min(one, two)) and interval.high == pytest.approx(max(one, two))
