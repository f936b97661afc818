"""The parse the runner does as answers arrive: for the stored "as seen live" columns and re-ask.

Analysis re-parses stored text and is authoritative; this only needs to agree with it, so it
delegates to ``silspec.analysis.parse`` (one integer for ``sampled``, a stated distribution for
``verbalised``) and returns the same ``ParsedAnswer`` rather than keeping a second parser.
"""

from __future__ import annotations

from typing import Sequence

from silspec.analysis.parse import ParsedAnswer, parse_answer, parse_distribution
from silspec.spec.model import Parser


def parse_live(
    text: str | None,
    parser: Parser,
    codes: Sequence[int],
    labels: Sequence[str],
    *,
    option_tokens: Sequence[str] | None = None,
    error: bool = False,
    answers: str = "sampled",
) -> ParsedAnswer:
    if answers == "verbalised" and not error:
        stated = parse_distribution(text, codes, labels, option_tokens, refusal=parser.refusal)
        return ParsedAnswer(None, stated.outcome)
    return parse_answer(text, parser, codes, labels, option_tokens=option_tokens, error=error)


def wants_reask(parsed: ParsedAnswer, parser: Parser) -> bool:
    """Re-ask only answers that came back but held no admissible code (not refusals)."""
    return parser.on_invalid == "reask" and parser.reask > 0 and parsed.outcome == "invalid"
