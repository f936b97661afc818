"""The parse the runner does as answers arrive: for the stored "as seen live" columns and re-ask.

Analysis re-parses stored text and is authoritative; this only needs to agree with it, so it
delegates to ``silspec.analysis.parse.parse_answer`` and keeps a minimal first-integer parse
for when that module is missing (a partial install, or while it is being written).
"""

from __future__ import annotations

import re
from typing import Sequence

from attrs import frozen

from silspec.spec.model import Parser

_INTEGER = re.compile(r"-?\d+")


@frozen
class LiveParse:
    code: int | None
    outcome: str  # valid | invalid | refusal | error
    defaulted: bool = False


def parse_live(
    text: str | None,
    parser: Parser,
    codes: Sequence[int],
    labels: Sequence[str],
    *,
    option_tokens: Sequence[str] | None = None,
    error: bool = False,
) -> LiveParse:
    try:
        from silspec.analysis.parse import parse_answer
    except ImportError:
        return _fallback(text, parser, codes, error=error)
    parsed = parse_answer(text, parser, codes, labels, option_tokens=option_tokens, error=error)
    return LiveParse(parsed.code, parsed.outcome, parsed.defaulted)


def _fallback(text: str | None, parser: Parser, codes: Sequence[int], *, error: bool) -> LiveParse:
    midpoint = codes[len(codes) // 2] if codes else None
    if error:
        if parser.on_error == "midpoint":
            return LiveParse(midpoint, "error", True)
        return LiveParse(None, "error")
    valid = tuple(codes) if parser.valid == "scale" else tuple(parser.valid)
    for match in _INTEGER.finditer(text or ""):
        if int(match.group()) in valid:
            return LiveParse(int(match.group()), "valid")
    lowered = (text or "").casefold()
    outcome = "refusal" if any(p.casefold() in lowered for p in parser.refusal if p) else "invalid"
    if parser.on_invalid == "midpoint":
        return LiveParse(midpoint, outcome, True)
    return LiveParse(None, outcome)


def wants_reask(parsed: LiveParse, parser: Parser) -> bool:
    """Re-ask only answers that came back but held no admissible code (not refusals)."""
    return parser.on_invalid == "reask" and parser.reask > 0 and parsed.outcome == "invalid"
