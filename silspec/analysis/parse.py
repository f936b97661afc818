"""Turn a model's raw text into a response code, and say honestly how it got there.

Re-parsing stored text is how analysis stays authoritative: the parser can change after a run
without asking any model again. Every answer ends in one of four outcomes:

- ``valid``   a code among the admissible ones was found;
- ``invalid`` text came back but held no admissible code;
- ``refusal`` text came back, held no admissible code and matched a refusal phrase;
- ``error``   the request failed (no text): HTTP 429 after retries, timeouts, ...

Invalid answers and refusals follow ``Parser.on_invalid``; errors follow ``Parser.on_error``.
``midpoint`` fills ``codes[len(codes) // 2]`` (``Scale.midpoint``) and marks the answer
``defaulted``; ``drop`` removes it from the analysis; ``none`` (and ``reask``, which only acts
during a run) keeps it as a missing answer. A valid answer is never a default.
"""

from __future__ import annotations

import json
import re
from typing import Literal, Mapping, Sequence

from attrs import frozen

from silspec.spec.model import Parser

ParsedOutcome = Literal["valid", "invalid", "refusal", "error"]

_INTEGER = re.compile(r"-?\d+")
_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


@frozen
class ParsedAnswer:
    code: int | None
    outcome: ParsedOutcome
    defaulted: bool = False
    default_reason: str | None = None  # "invalid" | "refusal" | "error" when defaulted
    dropped: bool = False  # the policy says: leave this answer out of the analysis


def midpoint_of(codes: Sequence[int]) -> int:
    """``codes[len(codes) // 2]``: the same rule as ``Scale.midpoint`` (3 on 1-4)."""
    if not codes:
        raise ValueError("midpoint of an empty code list")
    return codes[len(codes) // 2]


def parse_answer(
    text: str | None,
    parser: Parser,
    codes: Sequence[int],
    labels: Sequence[str],
    *,
    option_tokens: Sequence[str] | None = None,
    error: bool = False,
) -> ParsedAnswer:
    """Parse one answer; ``codes``/``labels`` are the item's substantive codes in scale order.

    ``option_tokens`` (aligned with ``codes``) are what the model was asked to answer with;
    when they are not the codes themselves (letters A-J), a standalone token maps to its code.
    ``error`` marks a failed request: its text, if any, is not parsed.
    """
    if len(labels) != len(codes):
        raise ValueError(f"{len(codes)} codes but {len(labels)} labels")
    if option_tokens is not None and len(option_tokens) != len(codes):
        raise ValueError(f"{len(codes)} codes but {len(option_tokens)} option tokens")
    valid_codes = tuple(codes) if parser.valid == "scale" else tuple(parser.valid)
    if error:
        return _apply_policy(parser.on_error, "error", codes)
    text = text or ""
    code = _extract(text, parser, valid_codes, codes, labels, option_tokens)
    if code is not None and code in valid_codes:
        return ParsedAnswer(code=code, outcome="valid")
    lowered = text.casefold()
    refused = any(phrase.casefold() in lowered for phrase in parser.refusal if phrase)
    outcome: ParsedOutcome = "refusal" if refused else "invalid"
    return _apply_policy(parser.on_invalid, outcome, codes)


def _apply_policy(policy: str, outcome: ParsedOutcome, codes: Sequence[int]) -> ParsedAnswer:
    if policy == "midpoint":
        return ParsedAnswer(
            code=midpoint_of(codes), outcome=outcome, defaulted=True, default_reason=outcome
        )
    if policy == "drop":
        return ParsedAnswer(code=None, outcome=outcome, dropped=True)
    if policy in ("none", "reask"):  # re-asking happens during a run, never in analysis
        return ParsedAnswer(code=None, outcome=outcome)
    raise ValueError(f"unknown parser policy {policy!r} (expected none, midpoint, drop, reask)")


# ------------------------------------------------------------------------------- extraction


def _extract(
    text: str,
    parser: Parser,
    valid_codes: Sequence[int],
    codes: Sequence[int],
    labels: Sequence[str],
    option_tokens: Sequence[str] | None,
) -> int | None:
    if parser.extract == "first_integer":
        if option_tokens is not None and not _tokens_are_codes(option_tokens, codes):
            return _first_token(text, option_tokens, codes)
        return _first_integer_in(text, valid_codes)
    if parser.extract == "regex":
        if not parser.pattern:
            raise ValueError(f"parser {parser.name!r}: extract = regex needs a pattern")
        match = re.search(parser.pattern, text, re.DOTALL)
        if match is None:
            return None
        found = match.group(1) if match.groups() else match.group(0)
        return _value_to_code(found, valid_codes, codes, labels, option_tokens)
    if parser.extract == "label":
        return _first_label(text, codes, labels)
    if parser.extract == "integer_or_label":
        # Small models often answer with the label ("A great deal") instead of its number.
        found = _first_integer_in(text, valid_codes)
        return found if found is not None else _first_label(text, codes, labels)
    if parser.extract == "json":
        return _json_field(text, parser.pattern or "answer", valid_codes, codes, labels, option_tokens)
    raise ValueError(f"parser {parser.name!r}: unknown extract {parser.extract!r}")


def _tokens_are_codes(option_tokens: Sequence[str], codes: Sequence[int]) -> bool:
    return all(t.strip() == str(c) for t, c in zip(option_tokens, codes))


def _integers(text: str) -> list[int]:
    """Integers in order; a '-' glued to a preceding word or digit ("1-4") is not a sign."""
    found = []
    for match in _INTEGER.finditer(text):
        token = match.group()
        start = match.start()
        if token.startswith("-") and start > 0 and text[start - 1].isalnum():
            token = token[1:]
        found.append(int(token))
    return found


def _first_integer_in(text: str, valid_codes: Sequence[int]) -> int | None:
    """The paper's rule: the first integer in the text that is an admissible code.

    Re-parsing the KGSS paper's 600 CLOVA and 600 GPT-5.2 texts with it reproduces the
    recorded parsed values exactly.
    """
    allowed = set(valid_codes)
    for value in _integers(text):
        if value in allowed:
            return value
    return None


def _first_token(text: str, option_tokens: Sequence[str], codes: Sequence[int]) -> int | None:
    """First standalone option token (e.g. "B"), for letter-labelled options."""
    by_token = {t.strip().casefold(): c for t, c in zip(option_tokens, codes)}
    pattern = re.compile(
        r"(?<![\w])(" + "|".join(re.escape(t) for t in sorted(by_token, key=len, reverse=True)) + r")(?![\w])",
        re.IGNORECASE,
    )
    match = pattern.search(text)
    return by_token[match.group(1).casefold()] if match else None


def _first_label(text: str, codes: Sequence[int], labels: Sequence[str]) -> int | None:
    """The label mentioned first; at one position the longest label wins ("매우 신뢰" > "신뢰")."""
    lowered = text.casefold()
    best: tuple[int, int, int] | None = None  # (position, -length, code)
    for code, label in zip(codes, labels):
        needle = label.strip().casefold()
        if not needle:
            continue
        position = lowered.find(needle)
        if position >= 0:
            candidate = (position, -len(needle), code)
            if best is None or candidate < best:
                best = candidate
    return best[2] if best else None


def _value_to_code(
    found: object,
    valid_codes: Sequence[int],
    codes: Sequence[int],
    labels: Sequence[str],
    option_tokens: Sequence[str] | None,
) -> int | None:
    if isinstance(found, bool):
        return None
    if isinstance(found, int):
        return found
    if isinstance(found, float):
        return int(found) if found.is_integer() else None
    if not isinstance(found, str):
        return None
    stripped = found.strip()
    if option_tokens is not None:
        for token, code in zip(option_tokens, codes):
            if stripped.casefold() == token.strip().casefold():
                return code
    integer = _first_integer_in(stripped, valid_codes)
    if integer is not None:
        return integer
    return _first_label(stripped, codes, labels)


def _json_field(
    text: str,
    field_name: str,
    valid_codes: Sequence[int],
    codes: Sequence[int],
    labels: Sequence[str],
    option_tokens: Sequence[str] | None,
) -> int | None:
    """The named field of the first JSON object in the text (models wrap JSON in prose)."""
    candidates = [text.strip()] + [m.group(0) for m in _JSON_OBJECT.finditer(text)]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, dict) and field_name in value:
            return _value_to_code(value[field_name], valid_codes, codes, labels, option_tokens)
    return None


# -------------------------------------------------------------------- verbalised distributions

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

    ``probs`` is aligned with the codes and sums to 1 when the outcome is ``valid``; ``note``
    says why an answer is invalid, or what was adjusted in a valid one (renormalisation,
    mass on non-substantive codes dropped).
    """

    probs: tuple[float, ...] | None
    outcome: ParsedOutcome
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
    lowered = text.casefold()
    if any(phrase.casefold() in lowered for phrase in refusal if phrase):
        return ParsedDistribution(None, "refusal", "no distribution; refusal phrase")
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
    import math

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
    return ParsedDistribution(probs, "valid", "; ".join(notes) or None)
