"""What the store keeps per answered request: the contract between the runner and analysis.

One ``AnswerRecord`` per request id (unique). ``outcome`` is the transport outcome decided at
run time; the analysis re-parses ``raw_text`` with the spec's parser and is authoritative for
``parsed_code`` / ``parse_outcome`` / ``defaulted`` (the stored values are what the runner saw).
"""

from __future__ import annotations

from typing import Any, Literal

from attrs import field, frozen

Outcome = Literal["ok", "error"]
ParseOutcome = Literal["valid", "invalid", "refusal", "error"]


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
    outcome: Outcome
    raw_text: str | None = None
    option_probs: dict[int, float] | None = None
    valid_mass: float | None = None
    parsed_code: int | None = None
    parse_outcome: ParseOutcome | None = None
    defaulted: bool = False
    error: str | None = None  # last error message (never a key)
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
