"""``option_probs`` replies: probabilities or an error, never a code read from the text."""

import pytest

from silspec.answers import NO_LOGPROBS, Reply, Verdict, score
from silspec.plan.model import PlanItem
from silspec.spec.model import Parser

ITEM = PlanItem(id="s.Q", code="Q", text="Q", codes=(1, 2, 3), labels=("a", "b", "c"), midpoint=2)
UNFILLED = "not filled: option_probs answers are never mixed with one-hot defaults"


def verdict(reply, parser=Parser(name="p")):
    return score(reply, answers="option_probs", parser=parser, item=ITEM)


def test_probabilities_are_the_answer_whatever_the_text_says():
    assert verdict(Reply(text="3", option_probs={1: 0.5, 2: 0.5, 3: 0.0})) == Verdict(
        "answered", probs={1: 0.5, 2: 0.5, 3: 0.0})


@pytest.mark.parametrize("probs", [None, {}, {1: 0.0, 2: 0.0, 3: 0.0}, {1: float("nan"), 2: 1.0}, {1: -0.5, 2: 1.5}])
def test_no_usable_probabilities_is_an_error_even_with_a_readable_text(probs):
    assert verdict(Reply(text="2", option_probs=probs)) == Verdict("error", NO_LOGPROBS)


def test_the_backend_note_is_kept_in_the_reason_and_midpoint_never_fills():
    parser = Parser(name="p", on_error="midpoint", on_invalid="midpoint")
    got = verdict(Reply(text="2", note="no probability on any option token"), parser)
    assert got == Verdict("error", f"{NO_LOGPROBS} (no probability on any option token); {UNFILLED}")
    assert got.code is None and not got.defaulted


def test_probabilities_that_are_not_numbers_are_an_error():
    got = verdict(Reply(option_probs={1: "high", 2: 0.5}))
    assert got.outcome == "error" and got.reason.startswith("option probabilities that are not numbers")


def test_a_failed_request_follows_on_error_drop():
    assert verdict(Reply(failure="HTTP 500"), Parser(name="p", on_error="drop")) == Verdict("error", "HTTP 500", dropped=True)
