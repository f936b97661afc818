"""The parse the runner does as answers arrive: for the stored "as seen live" columns and re-ask.

Analysis re-parses stored text and is authoritative; this only needs to agree with it, so it
delegates to ``silspec.analysis.parse`` (one integer for ``sampled``, a stated distribution for
``verbalised``) rather than keeping a second parser.
"""

from __future__ import annotations

from typing import Sequence

from attrs import frozen

from silspec.spec.model import Parser


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
    answers: str = "sampled",
) -> LiveParse:
    from silspec.analysis.parse import parse_answer, parse_distribution

    if answers == "verbalised" and not error:
        stated = parse_distribution(text, codes, labels, option_tokens, refusal=parser.refusal)
        return LiveParse(None, stated.outcome, False)
    parsed = parse_answer(text, parser, codes, labels, option_tokens=option_tokens, error=error)
    return LiveParse(parsed.code, parsed.outcome, parsed.defaulted)


def wants_reask(parsed: LiveParse, parser: Parser) -> bool:
    """Re-ask only answers that came back but held no admissible code (not refusals)."""
    return parser.on_invalid == "reask" and parser.reask > 0 and parsed.outcome == "invalid"
