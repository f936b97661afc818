"""`verbalised` replies: reading a stated distribution (``silspec.answers.stated``)."""

import pytest

from silspec.answers import SUM_TOLERANCE, parse_distribution

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
    assert parsed.outcome == "answered" and parsed.note is None
    assert parsed.probs == pytest.approx((0.2, 0.3, 0.4, 0.1))


def test_letter_tokens_as_keys_and_codes_left_out_get_zero():
    parsed = parse("A = 0.3, B = 0.3, C = 0.4", LETTERS)
    assert parsed.probs == pytest.approx((0.3, 0.3, 0.4, 0.0))
    assert parse('{"b": 50, "d": 50}', LETTERS).probs == pytest.approx((0, 0.5, 0, 0.5))


def test_a_near_sum_is_renormalised_with_a_note():
    parsed = parse("1: 33, 2: 33, 3: 33")
    assert parsed.outcome == "answered"
    assert parsed.probs == pytest.approx((1 / 3, 1 / 3, 1 / 3, 0))
    assert "99" in parsed.note and "renormalised" in parsed.note
    assert parse("A: 0.52, B: 0.52", LETTERS).outcome == "answered"  # 1.04 within 5 %


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
    assert parse(f"1: {inside - 50}, 2: 50").outcome == "answered"
    assert parse(f"1: {outside - 50}, 2: 50").outcome == "invalid"


def test_refusal_phrase_without_a_distribution_is_a_refusal():
    assert parse("I cannot answer that.", refusal=("cannot answer",)).outcome == "refused"
    # a distribution beats a refusal phrase
    assert parse("I cannot answer that, but 1: 50, 2: 50", refusal=("cannot answer",)).outcome == "answered"


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


