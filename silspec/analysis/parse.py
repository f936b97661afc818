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
from typing import Literal, Sequence

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
