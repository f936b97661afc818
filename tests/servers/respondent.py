"""The test server's scripted respondent: deterministic answers that tests can predict.

Stdlib only (the server imports it as a sibling module; tests import it as
``tests.servers.respondent``). Given the chat messages, the options are read from the last user
message: a range such as ``1-5``, ``1~4``, ``1 to 10`` (Korean prompts write ``1~5 척도``) or
letters ``A-E``; without one, ``1-5``. The answer and the option distribution are functions of the
canonical messages hash (the same hash as ``silspec.plan.hashing.messages_hash``), the seed and
the choice index, so a test computes what the server will say.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, Sequence

_RANGE = re.compile(r"(?<![\d.])(\d{1,2})\s*(?:-|–|~|to)\s*(\d{1,2})(?![\d.])")
_LETTERS = re.compile(r"\b([A-J])\s*(?:-|–|~|to)\s*([A-J])\b")

INVALID_MASS = 0.1  # probability the scripted distribution puts on a non-option token
BARE_SHARE = 0.7  # of each option's share, on the bare token ("3"); the rest on " 3"


def canonical_messages(messages: Sequence[dict[str, Any]]) -> str:
    return json.dumps(
        [[m.get("role"), m.get("content")] for m in messages],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def messages_sha256(messages: Sequence[dict[str, Any]]) -> str:
    return hashlib.sha256(canonical_messages(messages).encode("utf-8")).hexdigest()


def prompt_text(messages: Sequence[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages)


def options_for(messages: Sequence[dict[str, Any]]) -> list[str]:
    """Option tokens the respondent may answer with, read from the last user message."""
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    text = users[-1] if users else prompt_text(messages)
    letters = _LETTERS.search(text)
    if letters:
        first, last = ord(letters.group(1)), ord(letters.group(2))
        if first < last:
            return [chr(c) for c in range(first, last + 1)]
    numbers = _RANGE.search(text)
    if numbers:
        low, high = int(numbers.group(1)), int(numbers.group(2))
        if low < high <= low + 20:
            return [str(c) for c in range(low, high + 1)]
    return [str(c) for c in range(1, 6)]


def _digest(messages: Sequence[dict[str, Any]], seed: Any, index: int) -> bytes:
    key = f"{messages_sha256(messages)}|{seed}|{index}"
    return hashlib.sha256(key.encode("utf-8")).digest()


def scripted_answer(messages: Sequence[dict[str, Any]], seed: Any = None, index: int = 0) -> str:
    """The text the server answers for choice ``index`` (an option token)."""
    options = options_for(messages)
    value = int.from_bytes(_digest(messages, seed, index)[:8], "big")
    return options[value % len(options)]


def scripted_distribution(messages: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Option token -> probability over options (sums to 1); the seed does not change it."""
    options = options_for(messages)
    digest = _digest(messages, "dist", 0)
    weights = [1 + digest[i % len(digest)] % 7 for i in range(len(options))]
    total = sum(weights)
    return {option: weight / total for option, weight in zip(options, weights)}


def scripted_top_logprobs(messages: Sequence[dict[str, Any]]) -> list[tuple[str, float]]:
    """First-token (token, logprob) candidates, most probable first: for each option the bare
    token and its space-prefixed variant, plus one invalid token holding ``INVALID_MASS``."""
    candidates: list[tuple[str, float]] = [("I", INVALID_MASS)]
    for option, share in scripted_distribution(messages).items():
        valid = (1 - INVALID_MASS) * share
        candidates.append((option, valid * BARE_SHARE))
        candidates.append((" " + option, valid * (1 - BARE_SHARE)))
    candidates.sort(key=lambda pair: -pair[1])
    return [(token, math.log(prob)) for token, prob in candidates]
