"""How answer codes are shown to a model: one single-token label per code, in some order.

One mapping for every backend (CLARIFICATIONS, "Answers as option probabilities"): under
``option_labels = auto`` codes are shown as their own digits unless two codes share a first
character (1 and 10 on a 10-point scale, -1 and -2), in which case letters A, B, C... label the
options *by presented position* (A is whatever is shown first). ``option_labels = codes`` keeps
the digits even then: the options are scored as full strings (docs/backends.md). Letters follow position, not code, because that is what
shuffling an option order is meant to randomise.

Shuffled orders are seeded per request from a sha256 of the request's coordinates, so a
request's order does not depend on which other requests are in the plan (``--limit``,
``--condition``) or on ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import hashlib
import string
from typing import Literal, Sequence

from silspec.plan.errors import PlanError

OptionLabels = Literal["auto", "codes", "letters"]
OptionOrder = Literal["fixed", "shuffled", "reversed"]

LETTERS = string.ascii_uppercase


def codes_collide(codes: Sequence[int]) -> bool:
    """True when two codes' strings start with the same character (a shared first token)."""
    firsts = [str(code)[0] for code in codes]
    return len(set(firsts)) != len(firsts)


def uses_letters(codes: Sequence[int], option_labels: OptionLabels) -> bool:
    if option_labels == "letters":
        return True
    if option_labels == "codes":
        return False
    return codes_collide(codes)


def presented_codes(
    codes: Sequence[int], order: OptionOrder, shuffle_key: str | None = None
) -> tuple[int, ...]:
    """Codes in the order shown. ``shuffle_key`` identifies the request when order is shuffled."""
    if order == "fixed":
        return tuple(codes)
    if order == "reversed":
        return tuple(reversed(codes))
    if order == "shuffled":
        if shuffle_key is None:
            raise ValueError("a shuffled option order needs a per-request shuffle key")
        # Sorting by iid uniform keys is a uniform random permutation; sha256 gives the keys.
        prefix = shuffle_key.encode("utf-8") + b"\x1f"
        return tuple(
            sorted(codes, key=lambda code: hashlib.sha256(prefix + str(code).encode()).digest())
        )
    raise ValueError(f"unknown option order {order!r}")


def option_tokens(
    presented: Sequence[int], *, letters: bool, answers: str = "sampled"
) -> tuple[str, ...]:
    """The token a model answers with for each presented code."""
    if letters:
        if len(presented) > len(LETTERS):
            raise PlanError(
                f"{len(presented)} answer options cannot be labelled with single letters A-Z"
            )
        return tuple(LETTERS[: len(presented)])
    # Codes sharing a first character (1 and 10) under `option_labels = codes` are scored as full
    # strings by backends that can (hf; openai with prompt_logprobs); lint refuses the others
    # (check/rules/options.py) and the openai backend refuses them at run time too.
    return tuple(str(code) for code in presented)


def scale_labels(tokens: Sequence[str], labels: Sequence[str]) -> str:
    """``"1=매우 신뢰, 2=보통, ..."``: the KGSS paper's inline format."""
    return ", ".join(f"{token}={label}" for token, label in zip(tokens, labels))
