"""The shared option-token mapping and the HTTP helpers every API backend uses."""

from __future__ import annotations

import email.utils
import math

import pytest

from silspec.run.backends._http import error_for_status, parse_retry_after, redact
from silspec.run.backends.base import PermanentError, TransientError
from silspec.run.backends.tokens import from_logprobs, option_distribution, token_variants


def test_whitespace_variants_are_summed_then_renormalised():
    dist = option_distribution(
        [("3", 0.3), (" 3", 0.1), ("3\n", 0.05), ("1", 0.2), ("I", 0.25), ("30", 0.1)],
        (1, 2, 3), ("1", "2", "3"),
    )
    assert dist.valid_mass == pytest.approx(0.65)
    assert dist.option_probs == pytest.approx({1: 0.2 / 0.65, 2: 0.0, 3: 0.45 / 0.65})
    assert dist.matched_tokens[3] == ("3", " 3", "3\n")


def test_letters_are_case_sensitive():
    dist = option_distribution([("a", 0.5), (" A", 0.2), ("B", 0.1)], (1, 2), ("A", "B"))
    assert dist.valid_mass == pytest.approx(0.3)
    assert dist.option_probs == pytest.approx({1: 2 / 3, 2: 1 / 3})


def test_no_mass_on_options_gives_none():
    dist = option_distribution([("I", 0.9)], (1, 2), ("1", "2"))
    assert dist.option_probs is None and dist.valid_mass == 0.0


def test_bad_option_tokens_are_rejected():
    with pytest.raises(ValueError, match="share the option token"):
        option_distribution([], (1, 2), ("1", " 1"))
    with pytest.raises(ValueError, match="empty"):
        option_distribution([], (1,), (" ",))
    with pytest.raises(ValueError, match="2 option codes but 1"):
        option_distribution([], (1, 2), ("1",))


def test_logprobs_become_probabilities_and_variants_are_bare_and_spaced():
    assert from_logprobs([("x", math.log(0.25))]) == [("x", pytest.approx(0.25))]
    assert token_variants(" 3 ") == ("3", " 3")


def test_retry_after_forms():
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 20, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(20.0)
    assert parse_retry_after({"Retry-After": email.utils.formatdate(now - 5, usegmt=True)}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


@pytest.mark.parametrize("status, kind", [(429, TransientError), (408, TransientError),
                                          (500, TransientError), (502, TransientError),
                                          (400, PermanentError), (401, PermanentError),
                                          (403, PermanentError), (404, PermanentError),
                                          (422, PermanentError)])
def test_status_classification(status, kind):
    error = error_for_status(status, "boom", {"Retry-After": "2"})
    assert type(error) is kind and error.status == status
    if kind is TransientError:
        assert error.retry_after == 2.0


def test_redact_removes_whole_and_partial_keys():
    key = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX"
    text = f"bad key {key}; also sk-proj-...QRSTUVWX and {key[:8]}"
    cleaned = redact(text, [key, None])
    assert key not in cleaned and key[-8:] not in cleaned and key[:8] not in cleaned
