"""The ``openai`` backend: any OpenAI-compatible chat-completions endpoint, spoken directly.

``POST {base_url}/chat/completions`` with ``Authorization: Bearer <key>`` and a JSON body, over
the shared ``aiohttp`` transport (``_wire.py``; why not the SDK: its per-request machinery was
most of a run's CPU). The body is what the official client sent: the client's keyword
parameters plus ``extra_body`` merged in at the top level. One attempt per call: the executor
retries. ``option_probs`` asks for one token with ``top_logprobs`` and maps the first token's
candidates to codes with ``silspec.run.backends.tokens.option_distribution`` (whitespace-stripped
exact match, variants summed, renormalised, valid mass kept). The reply is read from its JSON
with every field's type checked; a reply that is not an answer raises ``ReplyError`` (see
``docs/backends.md``).
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar, Mapping

from silspec.plan.model import PlanModel, Request, request_params
from silspec.plan.redact import url_secrets
from silspec.run.backends._http import error_for_status, missing_key_error
from silspec.run.backends._wire import WireClient, encode_json
from silspec.run.backends.base import BackendAnswer, PermanentError, ReplyError, TransientError
from silspec.run.backends.prompt_logprobs import score_options
from silspec.run.backends.tokens import from_logprobs, labels_need_full_strings, option_distribution

# Parameters the official client took as keyword arguments; anything else went through its
# ``extra_body``. Both end up at the top level of the JSON body, extra ones last (an extra
# parameter that names a client one, e.g. a vLLM ``top_k``, never shadows it by accident).
CLIENT_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop",
    "frequency_penalty", "presence_penalty", "logit_bias", "reasoning_effort", "n",
    "service_tier", "user", "verbosity",
})
NOT_SENT = frozenset({"thinking"})  # CLOVA-only spellings that an OpenAI endpoint rejects
DEFAULT_TOP_LOGPROBS = 20
LOCAL_PLACEHOLDER_KEY = "no-key"
DEFAULT_BASE_URL = "https://api.openai.com/v1"  # the official client's default
MIN_CONNECTIONS = 100  # prompt_logprobs sends n + 1 calls per request at once


class OpenAIBackend:
    name: ClassVar[str] = "openai"
    answer_modes: ClassVar[frozenset[str]] = frozenset({"sampled", "option_probs", "verbalised"})

    def __init__(self, model: PlanModel, *, env: Mapping[str, str]):
        self.model = model
        self._where = f"model {model.name!r}"
        # No key variable named: a local server (vLLM, llama.cpp) that ignores the key.
        self._key = env.get(model.api_key_env) if model.api_key_env else LOCAL_PLACEHOLDER_KEY
        if not self._key:
            raise missing_key_error(model.api_key_env, model.name)
        self._secrets = (self._key, *url_secrets(model.base_url))
        # As the official client: the model's base URL, else OPENAI_BASE_URL, else OpenAI's.
        base_url = (model.base_url or env.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
                    or DEFAULT_BASE_URL)
        self._wire = WireClient(where=self._where, timeout_s=model.timeout_s, secrets=self._secrets,
                                max_connections=max(MIN_CONNECTIONS, 2 * max(model.concurrency, 1)))
        self._url, self._auth = self._wire.endpoint(base_url.rstrip("/") + "/chat/completions")
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._auth is None:  # credentials in the URL replace the bearer key, as in httpx
            self._headers["Authorization"] = f"Bearer {self._key}"
        for header, variable in (("OpenAI-Organization", "OPENAI_ORG_ID"), ("OpenAI-Project", "OPENAI_PROJECT_ID")):
            value = env.get(variable) or os.environ.get(variable)  # read by the official client too
            if value:
                self._headers[header] = value

    async def answer(self, request: Request) -> BackendAnswer:
        body = self._request_body(request)
        if request.answers == "option_probs" and labels_need_full_strings(request.option_tokens):
            return await self._full_string_answer(request, body)
        return self._to_answer(request, await self._post(body))

    async def aclose(self) -> None:
        await self._wire.aclose()

    async def _post(self, body: dict[str, Any]) -> Any:
        """One call: the decoded JSON reply, or the backend error for its status / transport."""
        try:
            payload = encode_json(body)
        except (TypeError, ValueError) as exc:  # a parameter JSON cannot carry (NaN, an object)
            raise PermanentError(f"{self._where}: the request cannot be encoded ({exc})") from None
        response = await self._wire.post(self._url, payload, self._headers, self._auth)
        if response.status >= 400:
            raise error_for_status(response.status, _error_message(response.status, response.text),
                                   response.headers, secrets=self._secrets, what=self._where)
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise TransientError(
                f"{self._where}: malformed response ({type(exc).__name__}: {exc})"
            ) from None

    async def _full_string_answer(self, request: Request, body: dict[str, Any]) -> BackendAnswer:
        """Labels sharing a prefix ("1", "10"): scored from prompt log-probabilities
        (``prompt_logprobs.py``) when the model allows it, else refused (never first tokens)."""
        if self.model.options.get("prompt_logprobs") is not True:
            raise PermanentError(
                f"{self._where}: option labels {list(request.option_tokens)} share a prefix, and first-token "
                "log-probabilities cannot tell them apart; set `prompt_logprobs = true` (vLLM) or use letter labels"
            )
        return await score_options(self._post, body, request, self._where)

    # ----------------------------------------------------------------------------- request
    def _request_body(self, request: Request) -> dict[str, Any]:
        params = request_params(request, self.model)
        top_logprobs = int(params.pop("top_logprobs", DEFAULT_TOP_LOGPROBS))
        body: dict[str, Any] = {
            "model": self.model.model_id,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        extra: dict[str, Any] = {}
        for key, value in params.items():
            if key in NOT_SENT:
                continue
            (body if key in CLIENT_PARAMS else extra)[key] = value
        if request.seed is not None:
            body["seed"] = request.seed  # per-replicate seed: replicates differ, reproducibly
        if request.answers == "option_probs":
            body.pop("n", None)
            if "max_completion_tokens" in body:
                body["max_completion_tokens"] = 1
            else:
                body["max_tokens"] = 1
            body["logprobs"] = True
            body["top_logprobs"] = top_logprobs
        body.update(extra)  # the official client's extra_body: merged at the top level
        return body

    # ----------------------------------------------------------------------------- response
    def _to_answer(self, request: Request, data: Any) -> BackendAnswer:
        """The answer in a decoded chat-completion body, checked field by field.

        Read from the JSON itself (not the client's unvalidated objects) so that a field of the
        wrong type is a ``ReplyError`` naming it, never a crash further down. A reply that is
        not an answer is a ``ReplyError`` too (``docs/backends.md``, "Replies that are not
        answers"): nothing here ever turns a missing answer into text to be parsed.
        """
        where = f"model {self.model.name!r}"
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

def _error_message(status: int, text: str) -> str:
    """The provider's error message, as the official client read it: ``error.message`` (or a
    top-level ``message``) of a JSON body, else the body itself."""
    text = text.strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text or f"Error code: {status}"
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return f"Error code: {status} - {body}"


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
