import pytest

from silspec.plan.errors import PlanError
from silspec.plan.options import (
    codes_collide,
    option_tokens,
    presented_codes,
    scale_labels,
    uses_letters,
)


def test_ten_point_scale_uses_letters_because_1_and_10_share_a_first_token():
    codes = tuple(range(1, 11))
    assert codes_collide(codes)
    assert uses_letters(codes, "auto")
    assert option_tokens(codes, letters=True) == tuple("ABCDEFGHIJ")


def test_short_scale_keeps_its_codes_as_tokens():
    assert not uses_letters((1, 2, 3, 4), "auto")
    assert option_tokens((1, 2, 3, 4), letters=False) == ("1", "2", "3", "4")


def test_explicit_labels_override_auto():
    assert uses_letters((1, 2, 3), "letters")
    assert not uses_letters(tuple(range(1, 11)), "codes")


def test_colliding_codes_stay_codes_for_full_string_scoring():
    """`option_labels = codes` on 1-10: the digits are the labels; backends that cannot score
    full strings are refused by lint (SIL821) and at run time, not by the plan."""
    tokens = option_tokens(tuple(range(1, 11)), letters=False, answers="option_probs")
    assert tokens == tuple(str(c) for c in range(1, 11))


def test_more_than_26_options_cannot_take_letters():
    with pytest.raises(PlanError, match="A-Z"):
        option_tokens(tuple(range(30)), letters=True)


def test_reversed_and_fixed_orders():
    assert presented_codes((1, 2, 3), "fixed") == (1, 2, 3)
    assert presented_codes((1, 2, 3), "reversed") == (3, 2, 1)


def test_shuffled_order_is_seeded_by_key_and_a_permutation():
    codes = tuple(range(1, 11))
    first = presented_codes(codes, "shuffled", "42|c|item|P001|0")
    assert presented_codes(codes, "shuffled", "42|c|item|P001|0") == first
    assert sorted(first) == list(codes)
    orders = {presented_codes(codes, "shuffled", f"42|c|item|P{n:03d}|0") for n in range(50)}
    assert len(orders) > 40  # different requests get different orders


def test_shuffled_order_needs_a_key():
    with pytest.raises(ValueError):
        presented_codes((1, 2), "shuffled")


def test_scale_labels_use_the_papers_format():
    assert scale_labels(("1", "2"), ("매우 신뢰", "보통")) == "1=매우 신뢰, 2=보통"
