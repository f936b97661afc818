"""The one scorer: a reply in, a ``Verdict`` out, for the runner and the analysis alike.

The runner calls ``score`` as each reply arrives (to store the verdict and to decide a
re-ask); the analysis reads the stored verdict and calls ``score`` again only when the
scoring definition changed since the run (``scorer_hash`` differs: another parser in the
spec, another silspec). Both pass what the plan carries (``PlanItem``: substantive codes,
labels, midpoint, non-substantive codes) and the condition's ``Parser``, never the spec.

Policies: invalid answers and refusals follow ``Parser.on_invalid``, errors ``Parser.on_error``.
``midpoint`` fills ``PlanItem.midpoint`` and marks the verdict ``defaulted``; ``drop`` marks it
``dropped`` (left out of the analysis); ``none`` and ``reask`` (which only acts during a run)
keep it as a missing answer. An ``option_probs`` answer is a probability vector, so it is never
filled with a one-hot midpoint: there ``midpoint`` leaves the answer missing and the reason
says so (the report warns).
"""

from __future__ import annotations

import functools
import hashlib
import math
from pathlib import Path
from typing import Mapping, Sequence

from attrs import frozen

from silspec.answers.outcomes import NO_LOGPROBS, NO_TEXT, Outcome, Verdict
from silspec.answers.stated import parse_distribution
from silspec.answers.text import extract_code, is_refusal
from silspec.plan.hashing import canonical_json
from silspec.plan.model import PlanItem
from silspec.plan.serialize import converter
from silspec.spec.model import Parser

NO_FILL_FOR_PROBABILITIES = "not filled: option_probs answers are never mixed with one-hot defaults"


@frozen
class Reply:
    """What came back for one request, as the runner got it and the store keeps it.

    ``failure``: the request failed (the backend's message); nothing else is looked at.
    ``note``: the backend's remark on missing option probabilities (``meta["note"]``).
    """

    text: str | None = None
    option_probs: Mapping[int, float] | None = None
    failure: str | None = None
    note: str | None = None


def score(
    reply: Reply,
    *,
    answers: str,
    parser: Parser,
    item: PlanItem,
    option_tokens: Sequence[str] | None = None,
) -> Verdict:
    """The verdict on one reply to a question about ``item`` asked in mode ``answers``.

    ``option_tokens`` (aligned with ``item.codes``) are what the model was asked to answer
    with, when they are not the codes themselves (letters A-J).
    """
    if len(item.labels) != len(item.codes):
        raise ValueError(f"{item.id}: {len(item.codes)} codes but {len(item.labels)} labels")
    if option_tokens is not None and len(option_tokens) != len(item.codes):
        raise ValueError(f"{len(item.codes)} codes but {len(option_tokens)} option tokens")
    if reply.failure is not None:
        return apply_policy(parser.on_error, "error", reply.failure, item, answers)
    if answers == "option_probs":
        return _score_probabilities(reply, parser, item)
    text = reply.text
    if text is not None and not isinstance(text, str):
        reason = f"the reply's text is of type {type(text).__name__}, not a string"
        return apply_policy(parser.on_error, "error", reason, item, answers)
    if text is None or not text.strip():
        return apply_policy(parser.on_error, "error", NO_TEXT, item, answers)
    if answers == "verbalised":
        return _score_stated(text, parser, item, option_tokens)
    return _score_code(text, parser, item, option_tokens)


def wants_reask(verdict: Verdict, parser: Parser) -> bool:
    """Re-ask only replies that held text but no answer (not refusals, not errors)."""
    return parser.on_invalid == "reask" and parser.reask > 0 and verdict.outcome == "invalid"


def apply_policy(policy: str, outcome: Outcome, reason: str | None, item: PlanItem, answers: str) -> Verdict:
    """The parser's policy for an answer that is not ``answered``."""
    if policy == "midpoint":
        if answers == "option_probs":
            return Verdict(outcome, _join(reason, NO_FILL_FOR_PROBABILITIES))
        return Verdict(outcome, reason, code=item.midpoint, defaulted=True)
    if policy == "drop":
        return Verdict(outcome, reason, dropped=True)
    if policy in ("none", "reask"):  # re-asking happens during a run, never in analysis
        return Verdict(outcome, reason)
    raise ValueError(f"unknown parser policy {policy!r} (expected none, midpoint, drop, reask)")


def non_substantive_keys(item: PlanItem) -> dict[str, int]:
    """Keys a stated distribution may put mass on that are not answers: ``-8`` or its label."""
    keys: dict[str, int] = {}
    for code, label in zip(item.missing, item.missing_labels):
        keys[str(code)] = code
        if label.strip():
            keys[label] = code
    return keys


# ------------------------------------------------------------------------------- per mode


def _score_probabilities(reply: Reply, parser: Parser, item: PlanItem) -> Verdict:
    try:
        probs = {int(k): float(v) for k, v in (reply.option_probs or {}).items()}
    except (TypeError, ValueError):
        reason = f"option probabilities that are not numbers: {reply.option_probs!r:.80}"
        return apply_policy(parser.on_error, "error", reason, item, "option_probs")
    if not probs or not all(math.isfinite(v) and v >= 0 for v in probs.values()) or sum(probs.values()) <= 0:
        reason = NO_LOGPROBS if not reply.note else f"{NO_LOGPROBS} ({reply.note})"
        return apply_policy(parser.on_error, "error", reason, item, "option_probs")
    return Verdict("answered", probs=probs)


def _score_stated(text: str, parser: Parser, item: PlanItem, option_tokens: Sequence[str] | None) -> Verdict:
    stated = parse_distribution(
        text, item.codes, item.labels, option_tokens,
        refusal=parser.refusal, non_substantive=non_substantive_keys(item),
    )
    if stated.outcome == "answered" and stated.probs is not None:
        return Verdict("answered", stated.note, probs=dict(zip(item.codes, stated.probs)))
    return apply_policy(parser.on_invalid, stated.outcome, stated.note, item, "verbalised")


def _score_code(text: str, parser: Parser, item: PlanItem, option_tokens: Sequence[str] | None) -> Verdict:
    valid_codes = tuple(item.codes) if parser.valid == "scale" else tuple(parser.valid)
    code = extract_code(text, parser, valid_codes, item.codes, item.labels, option_tokens)
    if code is not None and code in valid_codes:
        return Verdict("answered", code=code)
    if is_refusal(text, parser.refusal):
        return apply_policy(parser.on_invalid, "refused", "no admissible code; refusal phrase", item, "sampled")
    reason = "no admissible code" if code is None else f"code {code} is not admissible"
    return apply_policy(parser.on_invalid, "invalid", reason, item, "sampled")


def _join(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)


# ---------------------------------------------------------------------------- definition


@functools.cache
def _rules_digest() -> str:
    """sha256 over this package's source: any change to the scoring rules changes it."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def scorer_hash(
    *, answers: str, parser: Parser, item: PlanItem, option_tokens: Sequence[str] | None = None
) -> str:
    """What a stored verdict was decided by: the rules, the parser, the item, the mode.

    Stored per answer; the analysis re-scores an answer whose hash differs from the one the
    current spec gives, and says so in the report.
    """
    tokens = None if option_tokens is None else tuple(option_tokens)
    if tokens is not None and list(tokens) == [str(c) for c in item.codes]:
        tokens = None  # the codes themselves read like no tokens at all
    return _definition_hash(answers, parser, item, tokens)


@functools.lru_cache(maxsize=4096)  # one value per (condition, item): computed once, not per answer
def _definition_hash(answers: str, parser: Parser, item: PlanItem, tokens: tuple[str, ...] | None) -> str:
    definition = {
        "rules": _rules_digest(),
        "answers": answers,
        "parser": {k: v for k, v in converter.unstructure(parser).items() if k != "name"},
        "item": [list(item.codes), list(item.labels), item.midpoint, list(item.missing), list(item.missing_labels)],
        "option_tokens": None if tokens is None else list(tokens),
    }
    return hashlib.sha256(canonical_json(definition).encode("utf-8")).hexdigest()[:16]
