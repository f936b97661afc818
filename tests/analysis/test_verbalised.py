"""`verbalised` answers: the model states a distribution; parse it, score it like option_probs."""

import math

import pytest

from silspec.analysis.parse import SUM_TOLERANCE, parse_distribution
from silspec.analysis.pipeline import analyse
from silspec.analysis.metrics import js_divergence
from silspec.run.records import AnswerRecord
from silspec.spec.model import (
    Analysis, Benchmark, Bootstrap, Category, Condition, Item, Model, Parser, Scale, Spec, Study, Survey, Template,
)

CODES = (1, 2, 3, 4)
LABELS = ("매우 신뢰", "다소 신뢰", "별로 신뢰하지 않음", "전혀 신뢰하지 않음")
LETTERS = ("A", "B", "C", "D")


def parse(text, tokens=None, **kw):
    return parse_distribution(text, CODES, LABELS, tokens, **kw)


@pytest.mark.parametrize(
    "text",
    [
        '{"1": 20, "2": 30, "3": 40, "4": 10}',
        '{"1": 0.2, "2": 0.3, "3": 0.4, "4": 0.1}',
        'Sure. {"1": "20%", "2": "30%", "3": "40%", "4": "10%"} Hope that helps.',
        '{"distribution": {"1": 20, "2": 30, "3": 40, "4": 10}}',
        "1: 20%\n2: 30%\n3: 40%\n4: 10%",
        "1 = 0.2, 2 = 0.3, 3 = 0.4, 4 = 0.1",
        "- 1 (매우 신뢰): 20%\n- 2 (다소 신뢰): 30%\n- 3: 40%\n- 4: 10%",
        "매우 신뢰: 20; 다소 신뢰: 30; 별로 신뢰하지 않음: 40; 전혀 신뢰하지 않음: 10",
        "My estimate:\n1: 20%\n2: 30%\n3: 40%\n4: 10%.",
    ],
)
def test_the_same_distribution_in_every_accepted_form(text):
    parsed = parse(text)
    assert parsed.outcome == "valid" and parsed.note is None
    assert parsed.probs == pytest.approx((0.2, 0.3, 0.4, 0.1))


def test_letter_tokens_as_keys_and_codes_left_out_get_zero():
    parsed = parse("A = 0.3, B = 0.3, C = 0.4", LETTERS)
    assert parsed.probs == pytest.approx((0.3, 0.3, 0.4, 0.0))
    assert parse('{"b": 50, "d": 50}', LETTERS).probs == pytest.approx((0, 0.5, 0, 0.5))


def test_a_near_sum_is_renormalised_with_a_note():
    parsed = parse("1: 33, 2: 33, 3: 33")
    assert parsed.outcome == "valid"
    assert parsed.probs == pytest.approx((1 / 3, 1 / 3, 1 / 3, 0))
    assert "99" in parsed.note and "renormalised" in parsed.note
    assert parse("A: 0.52, B: 0.52", LETTERS).outcome == "valid"  # 1.04 within 5 %


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("The answer is 3", "no distribution"),
        ("", "no distribution"),
        ("1: 60, 2: 60", "sum to 120"),
        ("1: 0.5, 2: 0.3", "sum to 0.8"),
        ("5: 100", "unknown option '5'"),
        ("1: -10, 2: 110", "negative"),
        ("1: 0, 2: 0", "zero"),
        ('{"1": 50, "2": "lots"}', "not a number"),
        ("1: 50, 1 (매우 신뢰): 50", "given twice"),
    ],
)
def test_invalid_stated_distributions_say_why(text, fragment):
    parsed = parse(text)
    assert parsed.outcome == "invalid" and parsed.probs is None
    assert fragment in parsed.note


def test_tolerance_boundary_is_the_documented_one():
    inside = 100 * (1 + SUM_TOLERANCE) - 0.5
    outside = 100 * (1 + SUM_TOLERANCE) + 0.5
    assert parse(f"1: {inside - 50}, 2: 50").outcome == "valid"
    assert parse(f"1: {outside - 50}, 2: 50").outcome == "invalid"


def test_refusal_phrase_without_a_distribution_is_a_refusal():
    assert parse("I cannot answer that.", refusal=("cannot answer",)).outcome == "refusal"
    # a distribution beats a refusal phrase
    assert parse("I cannot answer that, but 1: 50, 2: 50", refusal=("cannot answer",)).outcome == "valid"


def test_mass_on_non_substantive_codes_is_dropped_and_the_rest_renormalised():
    parsed = parse("1: 45, 2: 45, DK: 10", non_substantive={"DK": -8, "-8": -8})
    assert parsed.probs == pytest.approx((0.5, 0.5, 0, 0))
    assert "non-substantive" in parsed.note
    assert parse("1: 45, 2: 45, DK: 10").outcome == "invalid"  # DK not declared


def test_mismatched_lengths_are_a_clear_error():
    with pytest.raises(ValueError, match="4 codes but 3 labels"):
        parse_distribution("1: 100", CODES, LABELS[:3])
    with pytest.raises(ValueError, match="option tokens"):
        parse_distribution("1: 100", CODES, LABELS, ("A",))


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
        replicate=replicate, answers="verbalised", params={}, prompt_hash="", outcome="error" if error else "ok",
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
    assert (compliance.n, compliance.valid, compliance.invalid, compliance.refusal, compliance.error) == (5, 2, 1, 1, 1)
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
