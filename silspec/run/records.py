"""What the store keeps per answered request: the contract between the runner and analysis.

One ``AnswerRecord`` per request id (unique). The verdict (``outcome``, ``reason``,
``parsed_code``, ``probs``, ``defaulted``, ``dropped``) is decided once, by
``silspec.answers.score`` when the reply arrives, and stored with ``scorer``: the hash of the
definition that decided it. Analysis, report and verify read these fields; the analysis scores
an answer again only when the current spec's ``scorer_hash`` differs (and says so).
"""

from __future__ import annotations

from typing import Any

from attrs import field, frozen

from silspec.answers.outcomes import NO_LOGPROBS, NO_TEXT, REQUEST_FAILED, Outcome, Verdict
from silspec.answers.score import Reply


@frozen
class AnswerRecord:
    request_id: str
    condition: str
    model: str  # model block name
    model_id: str  # model id asked for
    item: str  # qualified item id
    persona: str
    replicate: int
    answers: str  # answer mode
    params: dict[str, Any]  # answer-changing parameters sent
    prompt_hash: str
    outcome: Outcome  # answered | invalid | refused | error (silspec.answers.outcomes)
    raw_text: str | None = None
    option_probs: dict[int, float] | None = None  # as the backend returned them
    valid_mass: float | None = None
    parsed_code: int | None = None  # the code the answer counts as (the model's or a policy fill)
    defaulted: bool = False  # parsed_code is a policy fill (midpoint)
    error: str | None = None  # why the row is an error: the last transport error (never a key) or the scorer's reason
    reason: str | None = None  # the verdict's reason (why not answered; what was adjusted)
    probs: dict[int, float] | None = None  # the distribution the answer counts as (option_probs, verbalised)
    dropped: bool = False  # the parser's policy leaves this answer out of the analysis
    scorer: str | None = None  # scorer_hash of the definition that decided the verdict; None: stored before verdicts were
    error_status: int | None = None
    attempts: int = 1
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    provider_model: str | None = None
    system_fingerprint: str | None = None
    country: str | None = None
    started_at: str | None = None  # ISO 8601 UTC
    finished_at: str | None = None
    meta: dict[str, Any] = field(factory=dict)


@frozen
class AttemptRecord:
    """Append-only: every attempt, including failed and re-asked ones."""

    request_id: str
    attempt: int
    raw_text: str | None
    error: str | None
    error_status: int | None
    latency_s: float | None
    at: str


def stored_verdict(record: AnswerRecord) -> Verdict:
    """The verdict as the store keeps it (what the runner decided)."""
    return Verdict(
        outcome=record.outcome,
        reason=record.reason,
        code=record.parsed_code,
        probs={int(k): float(v) for k, v in record.probs.items()} if record.probs is not None else None,
        defaulted=record.defaulted,
        dropped=record.dropped,
    )


def stored_reply(record: AnswerRecord) -> Reply:
    """The reply as the store keeps it, for scoring it again under another definition.

    An error row is a failed request unless the scorer itself made it one (a reply without
    text or log-probabilities): that one is scored again from what came back.
    """
    made_by_scorer = (
        record.outcome == "error"
        and record.scorer is not None
        and (record.reason or "").startswith((NO_TEXT, NO_LOGPROBS))
    )
    failure = None
    if record.outcome == "error" and not made_by_scorer:
        failure = record.error or REQUEST_FAILED
    note = record.meta.get("note") if record.meta else None
    return Reply(
        text=record.raw_text,
        option_probs=record.option_probs,
        failure=failure,
        note=note if isinstance(note, str) else None,
    )
