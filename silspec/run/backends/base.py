"""The one protocol every backend speaks, and the errors the executor understands.

A backend answers one ``Request`` at a time (the executor supplies concurrency); a backend
that batches internally (``hf``) may also implement ``answer_batch``. Backends raise
``TransientError`` for what a retry can fix (429, 5xx, timeouts, dropped connections) and
``PermanentError`` for what it cannot (400, auth, a missing replay row); anything else is a
bug and is recorded as a permanent error by the executor.

A backend may also implement ``preflight(requests) -> list[str]`` (plain or ``async``): the
executor calls it once per model with every request it is about to ask, before asking anything.
Each string is a problem that would make requests fail for a reason a retry cannot fix (a
replay file lacking answers, a wrong file); a non-empty list stops that model with the problems
as its message, and its requests are left unasked (other models go on). Backends without the
hook are assumed fine. ``run_preflight`` is the one place that calls it.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from attrs import field, frozen

from silspec.plan.model import PlanModel, Request


@frozen
class BackendAnswer:
    text: str | None = None  # sampled / verbalised: the raw completion
    option_probs: dict[int, float] | None = None  # option_probs: code -> prob, renormalised
    valid_mass: float | None = None  # probability mass that fell on valid code tokens
    provider_model: str | None = None  # what the provider says it ran
    system_fingerprint: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning: str | None = None  # thinking content, kept but never parsed
    meta: dict[str, Any] = field(factory=dict)  # JSON-able extras (finish_reason, batch id, ...)


class BackendError(Exception):
    """Base of backend failures; the message must never contain an API key."""

    #: True for a failure replayed from recorded data (the ``replay`` backend): it is stored as
    #: an error, never retried, never counted against the model, and it is not a failure of
    #: *this* run (``silspec run`` exits 0 when recorded failures are the only errors).
    recorded: bool = False


class TransientError(BackendError):
    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class PermanentError(BackendError):
    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class ReplyError(PermanentError):
    """The call succeeded but its reply is not an answer: no text (``content: null``, a
    ``refusal``, ``finish_reason`` ``content_filter``, ``length`` with nothing written) or
    fields of the wrong type. (An ``option_probs`` reply without the options' probabilities is
    passed on with ``option_probs=None`` and a ``meta["note"]``: the answer model scores it as
    an error, "the endpoint returned no log-probabilities", keeping the reply's text.)

    Stored as an *error* with ``reason`` (never parsed into an invalid answer and never filled
    with a default), so ``--retry-errors`` asks it again and ``on_error`` decides its score.
    ``reason`` is a short stable phrase ("content_filter", "refusal", "length with no text",
    "null content", "malformed reply"); the message adds
    the detail. ``counts_against_model``: False for a per-request verdict of the provider (a
    refusal, a filter), which must not stop the model after 20 in a row the way a wrong model
    id or a broken endpoint does.
    """

    def __init__(self, message: str, *, reason: str, status: int | None = None,
                 counts_against_model: bool = True, detail: Mapping[str, Any] | None = None):
        super().__init__(message, status=status)
        self.reason = reason
        self.counts_against_model = counts_against_model
        # JSON-able specifics kept in the stored row's meta (the refusal text, the finish
        # reason), so the message itself stays the same across requests and groups well.
        self.detail = dict(detail or {})


@runtime_checkable
class Backend(Protocol):
    name: ClassVar[str]
    answer_modes: ClassVar[frozenset[str]]  # which AnswerModes it can serve

    async def answer(self, request: Request) -> BackendAnswer: ...

    async def aclose(self) -> None: ...


class BackendFactory(Protocol):
    name: str
    answer_modes: frozenset[str]

    def __call__(self, model: PlanModel, *, env: Mapping[str, str]) -> Backend: ...


class BatchingBackend(Backend, Protocol):
    max_batch: int

    async def answer_batch(self, requests: Sequence[Request]) -> list[BackendAnswer | BackendError]: ...


class PreflightingBackend(Backend, Protocol):
    """Optional hook: problems found before asking anything (empty = fine). ``requests`` can be
    read more than once but is not a sequence: a large plan's requests are compiled again on each
    reading (``silspec.plan.stream``), so keep what is needed, not the requests."""

    def preflight(self, requests: Iterable[Request]) -> list[str]: ...


async def run_preflight(backend: Any, requests: Iterable[Request]) -> list[str]:
    """The backend's preflight problems; [] when it has no hook. A crash in the hook is a problem."""
    hook = getattr(backend, "preflight", None)
    if hook is None:
        return []
    try:
        problems = hook(requests)
        if inspect.isawaitable(problems):
            problems = await problems
    except BackendError as exc:
        return [str(exc)]
    except Exception as exc:  # noqa: BLE001 - a broken hook must not ask 50,000 doomed requests
        return [f"preflight failed: {type(exc).__name__}: {exc}"]
    return [str(p) for p in problems or ()]
