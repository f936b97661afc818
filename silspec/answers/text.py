"""Reading one code out of a model's text (``sampled`` answers).

The rules are the parser's (``extract``): the first admissible integer (the KGSS paper's rule,
which reproduces its 1,200 recorded parses exactly), a regex group, a label, an integer or
else a label, or a JSON field. Which outcome a reply ends as is decided in
``silspec.answers.score``; this module only finds the code.
"""

from __future__ import annotations

import json
import re
from typing import Sequence

from silspec.spec.model import Parser

_INTEGER = re.compile(r"-?\d+")
_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


def is_refusal(text: str, phrases: Sequence[str]) -> bool:
    """Case-insensitive: does ``text`` contain one of the parser's refusal phrases?"""
    lowered = text.casefold()
    return any(phrase.casefold() in lowered for phrase in phrases if phrase)


def extract_code(
    text: str,
    parser: Parser,
    valid_codes: Sequence[int],
    codes: Sequence[int],
    labels: Sequence[str],
    option_tokens: Sequence[str] | None,
) -> int | None:
    """The code the parser reads in ``text`` (not yet checked against ``valid_codes``)."""
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


