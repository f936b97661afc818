"""The chat-completions wire format as pure functions: the request body for one ``Request`` and
the ``BackendAnswer`` in one decoded reply.

Why a module of its own: the live ``openai`` backend and the Batch API engine
(``silspec.run.batch``) send the same bodies and must read the same replies the same way (one
outcome model: a reply that is not an answer is a ``ReplyError`` with its reason, never text to
be parsed). Both call these functions, which touch no network.
"""

from __future__ import annotations

from typing import Any

from silspec.plan.model import PlanModel, Request, request_params
from silspec.run.backends.base import BackendAnswer, ReplyError
from silspec.run.backends.tokens import from_logprobs, option_distribution

# Parameters the client takes as keyword arguments; anything else goes through ``extra_body``.
CLIENT_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop",
    "frequency_penalty", "presence_penalty", "logit_bias", "reasoning_effort", "n",
    "service_tier", "user", "verbosity",
})
NOT_SENT = frozenset({"thinking"})  # CLOVA-only spellings that an OpenAI endpoint rejects
DEFAULT_TOP_LOGPROBS = 20


def chat_request_body(request: Request, model: PlanModel) -> dict[str, Any]:
    """The JSON body of a ``/v1/chat/completions`` call for ``request`` (what the live backend
    sends, ``extra_body`` merged in, as a Batch API line carries it)."""
    kwargs = chat_request_kwargs(request, model)
    extra = kwargs.pop("extra_body", None) or {}
    return {**kwargs, **extra}


def chat_request_kwargs(request: Request, model: PlanModel) -> dict[str, Any]:
    """The official client's keyword arguments for ``request`` (unknown parameters in ``extra_body``)."""
    params = request_params(request, model)
    top_logprobs = int(params.pop("top_logprobs", DEFAULT_TOP_LOGPROBS))
    kwargs: dict[str, Any] = {
        "model": model.model_id,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
    }
    extra: dict[str, Any] = {}
    for key, value in params.items():
        if key in NOT_SENT:
            continue
        (kwargs if key in CLIENT_PARAMS else extra)[key] = value
    if request.seed is not None:
        kwargs["seed"] = request.seed  # per-replicate seed: replicates differ, reproducibly
    if request.answers == "option_probs":
        kwargs.pop("n", None)
        if "max_completion_tokens" in kwargs:
            kwargs["max_completion_tokens"] = 1
        else:
            kwargs["max_tokens"] = 1
        kwargs["logprobs"] = True
        kwargs["top_logprobs"] = top_logprobs
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def parse_chat_completion(data: Any, request: Request, *, where: str) -> BackendAnswer:
    """The answer in a decoded chat-completion body, checked field by field.

    Read from the JSON itself (not the client's unvalidated objects) so that a field of the
    wrong type is a ``ReplyError`` naming it, never a crash further down. A reply that is
    not an answer is a ``ReplyError`` too (``docs/backends.md``, "Replies that are not
    answers"): nothing here ever turns a missing answer into text to be parsed.
    """
    reply = _Reply(where)
    choice = reply.first_choice(data)
    message = reply.field(choice, "message", dict, "choices[0]")
    content = reply.optional(message, "content", str, "choices[0].message")
    finish = reply.optional(choice, "finish_reason", str, "choices[0]")
    refusal = reply.optional(message, "refusal", str, "choices[0].message")
    reasoning = message.get("reasoning_content")
    reasoning = reasoning if isinstance(reasoning, str) else None
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    meta: dict[str, Any] = {"finish_reason": finish}
    common = dict(
        provider_model=_str_or_none(data.get("model")),
        system_fingerprint=_str_or_none(data.get("system_fingerprint")),
        prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
        completion_tokens=_int_or_none(usage.get("completion_tokens")),
    )
    if refusal:
        raise ReplyError(f"{where}: the reply is a refusal, not an answer", reason="refusal",
                         counts_against_model=False,
                         detail={"refusal": refusal[:500], "finish_reason": finish})
    if finish == "content_filter":
        raise ReplyError(f"{where}: the provider's content filter withheld the reply"
                         " (finish_reason content_filter)", reason="content_filter",
                         counts_against_model=False, detail={"finish_reason": finish})
    if request.answers != "option_probs":
        if finish == "length" and not (content or "").strip():
            raise ReplyError(
                f"{where}: the reply ran out of tokens before writing any text"
                " (finish_reason length with no text; raise max_tokens)",
                reason="length with no text", detail={"finish_reason": finish})
        if content is None:
            raise ReplyError(f"{where}: the reply has no text (content is null)",
                             reason="null content", detail={"finish_reason": finish})
        return BackendAnswer(text=content, reasoning=reasoning, meta=meta, **common)
    first, candidates = reply.first_logprobs(choice)
    if first is None:
        # Not an error raised here: the one answer model (``silspec.answers``) turns an
        # option_probs reply without probabilities into an error outcome, "the endpoint
        # returned no log-probabilities", with this note, and keeps the reply's text.
        meta["note"] = "the endpoint returned no logprobs"
        return BackendAnswer(text=content, option_probs=None, valid_mass=0.0, reasoning=reasoning,
                             meta=meta, **common)
    dist = option_distribution(
        from_logprobs(candidates), request.option_codes, request.option_tokens
    )
    if dist.option_probs is None:
        meta.update(note="no probability on any option token among the top logprobs",
                    first_token=first, candidates=len(candidates),
                    top_tokens=[t for t, _ in candidates[:10]])
        return BackendAnswer(text=content, option_probs=None, valid_mass=0.0, reasoning=reasoning,
                             meta=meta, **common)
    meta["first_token"] = first
    meta["candidates"] = len(candidates)
    absent = [code for code, tokens in dist.matched_tokens.items() if not tokens]
    if absent:  # partial: these options got 0 because the endpoint did not list them
        meta["options_not_in_top_logprobs"] = absent
    return BackendAnswer(
        text=content,
        option_probs=dist.option_probs,
        valid_mass=dist.valid_mass,
        reasoning=reasoning,
        meta=meta,
        **common,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Reply:
    """Typed reads from a decoded reply: a wrong or missing field is a ``ReplyError`` naming it."""

    def __init__(self, where: str):
        self.where = where

    def malformed(self, what: str) -> ReplyError:
        return ReplyError(f"{self.where}: malformed reply ({what})", reason="malformed reply")

    def first_choice(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.malformed(f"the body is {_kind(data)}, not a JSON object")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise self.malformed("no choices" if not choices else f"choices is {_kind(choices)}")
        if not isinstance(choices[0], dict):
            raise self.malformed(f"choices[0] is {_kind(choices[0])}")
        return choices[0]

    def field(self, parent: dict[str, Any], name: str, kind: type, path: str) -> Any:
        value = parent.get(name)
        if not isinstance(value, kind):
            raise self.malformed(f"{path}.{name} is {_kind(value)}, expected {_KIND_NAMES[kind]}")
        return value

    def optional(self, parent: dict[str, Any], name: str, kind: type, path: str) -> Any:
        value = parent.get(name)
        if value is not None and not isinstance(value, kind):
            raise self.malformed(f"{path}.{name} is {_kind(value)}, expected {_KIND_NAMES[kind]}")
        return value

    def first_logprobs(self, choice: dict[str, Any]) -> tuple[str | None, list[tuple[str, float]]]:
        """(first token, its top candidates) or (None, []) when the reply has no logprobs."""
        logprobs = choice.get("logprobs")
        if logprobs is None:
            return None, []
        if not isinstance(logprobs, dict):
            raise self.malformed(f"choices[0].logprobs is {_kind(logprobs)}")
        content = logprobs.get("content")
        if not content:
            return None, []
        if not isinstance(content, list) or not isinstance(content[0], dict):
            raise self.malformed("choices[0].logprobs.content is not a list of token entries")
        first = content[0]
        token, logprob = self._token(first, "choices[0].logprobs.content[0]")
        top = first.get("top_logprobs") or []
        if not isinstance(top, list):
            raise self.malformed(f"top_logprobs is {_kind(top)}")
        candidates = [self._token(entry, f"top_logprobs[{i}]") for i, entry in enumerate(top)]
        return token, candidates or [(token, logprob)]

    def _token(self, entry: Any, path: str) -> tuple[str, float]:
        if not isinstance(entry, dict):
            raise self.malformed(f"{path} is {_kind(entry)}")
        token, logprob = entry.get("token"), entry.get("logprob")
        if not isinstance(token, str):
            raise self.malformed(f"{path}.token is {_kind(token)}, expected text")
        if isinstance(logprob, bool) or not isinstance(logprob, (int, float)):
            raise self.malformed(f"{path}.logprob is {_kind(logprob)}, expected a number")
        return token, float(logprob)


_KIND_NAMES = {str: "text", dict: "an object", list: "a list"}


def _kind(value: Any) -> str:
    """A JSON value's kind for messages: 'null', 'an integer (5)', 'text', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
