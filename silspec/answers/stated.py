"""Reading a stated distribution out of a model's text (``verbalised`` answers).

``docs/metrics.md`` gives the rules; which outcome a reply ends as is decided in
``silspec.answers.score`` from the ``ParsedDistribution`` returned here.
"""

from __future__ import annotations

import json
import math
import re
from typing import Literal, Mapping, Sequence

from attrs import frozen

from silspec.answers.text import is_refusal

# A stated distribution may miss 100 % (or 1) by rounding: 33/33/33 sums to 99. Within this
# share of the full scale it is renormalised (with a note); beyond it the answer is invalid,
# because a model that says 60/60/60 has not stated a distribution.
SUM_TOLERANCE = 0.05

# one "key: value" per segment (line, comma or semicolon), the value ending the segment
_SEGMENT_SPLIT = re.compile(r"[\n,;]")
_PAIR = re.compile(
    r"(?P<key>[^:=]+?)\s*[:=]\s*(?P<value>[-+]?\d+(?:\.\d+)?|[-+]?\.\d+)\s*(?P<percent>%)?\s*\.?\s*$"
)
_FLAT_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_NUMBER_WITH_PERCENT = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d+)?|\.\d+))\s*(%)?\s*$")
_LEADING_KEY = re.compile(r"^\s*(?:[-*•]\s*)?[\"'(\[]?\s*([^\s\"')\].:=]+)")


@frozen
class ParsedDistribution:
    """A distribution the model stated (``verbalised``), over the item's substantive codes.

    ``probs`` is aligned with the codes and sums to 1 when the outcome is ``answered``; ``note``
    says why an answer is invalid, or what was adjusted in an answered one (renormalisation,
    mass on non-substantive codes dropped).
    """

    probs: tuple[float, ...] | None
    outcome: Literal["answered", "invalid", "refused"]
    note: str | None = None


def parse_distribution(
    text: str | None,
    codes: Sequence[int],
    labels: Sequence[str],
    option_tokens: Sequence[str] | None = None,
    *,
    refusal: Sequence[str] = (),
    non_substantive: Mapping[str, int] | None = None,
) -> ParsedDistribution:
    """Parse a stated distribution: a JSON object or ``key: value`` lines / comma lists.

    Keys may be option tokens, codes or labels (case-insensitive); values percents ("20",
    "20%") or proportions ("0.2"), told apart by their sum (or a ``%`` sign). Codes not
    mentioned get 0. Invalid: nothing parses, an unknown key, a code given twice, a negative
    value, all zero, or a sum off 100 % / 1 by more than ``SUM_TOLERANCE`` of it. Keys in
    ``non_substantive`` (e.g. ``{"-8": -8, "dk": -8}``) count towards the sum and are then
    dropped, the substantive codes renormalised.
    """
    if len(labels) != len(codes):
        raise ValueError(f"{len(codes)} codes but {len(labels)} labels")
    if option_tokens is not None and len(option_tokens) != len(codes):
        raise ValueError(f"{len(codes)} codes but {len(option_tokens)} option tokens")
    text = text or ""
    pairs = _json_pairs(text)
    if pairs is None:
        matches = (_PAIR.search(segment) for segment in _SEGMENT_SPLIT.split(text))
        pairs = [(m.group("key"), m.group("value") + (m.group("percent") or "")) for m in matches if m]
    parsed = _to_distribution(pairs, codes, labels, option_tokens, non_substantive or {}) if pairs else None
    if parsed is not None:
        return parsed
    if is_refusal(text, refusal):
        return ParsedDistribution(None, "refused", "no distribution; refusal phrase")
    return ParsedDistribution(None, "invalid", "no distribution found")


def _json_pairs(text: str) -> list[tuple[str, object]] | None:
    """Key/value pairs of the first JSON object with a flat mapping (one wrapper level allowed)."""
    candidates = [text.strip()] + [m.group(0) for m in _FLAT_JSON_OBJECT.finditer(text)]
    for candidate in candidates:
        try:
            value = json.loads(candidate, object_pairs_hook=list)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0][1], list):
            value = value[0][1]  # {"distribution": {...}}
        if isinstance(value, list) and value and all(isinstance(p, tuple) for p in value):
            return [(str(k), v) for k, v in value]
    return None


def _key_lookup(
    codes: Sequence[int], labels: Sequence[str], option_tokens: Sequence[str] | None
) -> dict[str, int]:
    """Casefolded key → code; option tokens first, then codes, then labels."""
    lookup: dict[str, int] = {}
    for label, code in zip(labels, codes):
        if label.strip():
            lookup[label.strip().casefold()] = code
    for code in codes:
        lookup[str(code)] = code
    for token, code in zip(option_tokens or (), codes):
        lookup[token.strip().casefold()] = code
    return lookup


def _resolve_key(key: str, lookup: Mapping[str, int]) -> int | None:
    cleaned = key.strip().strip("\"'`*").strip().casefold()
    if cleaned in lookup:
        return lookup[cleaned]
    leading = _LEADING_KEY.match(cleaned)  # "1 (매우 신뢰)", "- A", "(b)"
    if leading and leading.group(1) in lookup:
        return lookup[leading.group(1)]
    words = cleaned.split()
    if len(words) > 1 and words[-1].strip("\"'()[]") in lookup:  # "but 1: 50"
        return lookup[words[-1].strip("\"'()[]")]
    return None


def _number(value: object) -> tuple[float, bool] | None:
    """(value, written with %) or None when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value), False
    if isinstance(value, str):
        match = _NUMBER_WITH_PERCENT.match(value)
        if match:
            return float(match.group(1)), match.group(2) is not None
    return None


def _to_distribution(
    pairs: Sequence[tuple[str, object]],
    codes: Sequence[int],
    labels: Sequence[str],
    option_tokens: Sequence[str] | None,
    non_substantive: Mapping[str, int],
) -> ParsedDistribution | None:
    """None when no key names an option (prose with numbers is not a distribution)."""
    lookup = _key_lookup(codes, labels, option_tokens)
    extra = {k.strip().casefold(): v for k, v in non_substantive.items()}
    mass = {code: 0.0 for code in codes}
    seen: set[int] = set()
    dropped = 0.0
    any_percent = False
    for key, raw in pairs:
        number = _number(raw)
        if number is None:
            return ParsedDistribution(None, "invalid", f"value of {key.strip()!r} is not a number: {raw!r}")
        value, percent_sign = number
        any_percent = any_percent or percent_sign
        if not math.isfinite(value) or value < 0:
            return ParsedDistribution(None, "invalid", f"value of {key.strip()!r} is negative or not finite: {value:g}")
        code = _resolve_key(key, lookup)
        if code is None:
            other = _resolve_key(key, extra)
            if other is None and len(key.split()) > 1 and not _LEADING_KEY.match(key.strip()).group(1).isdigit():
                continue  # prose before a number ("my estimate: ..."), not an option
            if other is None:
                return ParsedDistribution(None, "invalid", f"unknown option {key.strip()!r}")
            dropped += value
            continue
        if code in seen:
            return ParsedDistribution(None, "invalid", f"code {code} given twice")
        seen.add(code)
        mass[code] = value
    if not seen and dropped == 0:
        return None
    total = sum(mass.values()) + dropped
    if total <= 0:
        return ParsedDistribution(None, "invalid", "all values are zero")
    if any_percent or total > 1 + SUM_TOLERANCE:
        full, unit = 100.0, "%"
    else:
        full, unit = 1.0, ""
    if abs(total - full) > SUM_TOLERANCE * full:
        return ParsedDistribution(None, "invalid", f"values sum to {total:g}{unit}, not 100 % or 1")
    substantive = sum(mass.values())
    if substantive <= 0:
        return ParsedDistribution(None, "invalid", "no mass on a substantive code")
    notes = []
    if abs(total - full) > 1e-9 * full:
        notes.append(f"sum {total:g}{unit} renormalised")
    if dropped > 0:
        notes.append(f"{dropped:g}{unit} on non-substantive codes dropped")
    probs = tuple(mass[code] / substantive for code in codes)
    return ParsedDistribution(probs, "answered", "; ".join(notes) or None)
