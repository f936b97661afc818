"""The ``openai`` backend: any OpenAI-compatible chat-completions endpoint, via the official client.

One attempt per call (``max_retries=0``: the executor retries). ``option_probs`` asks for one
token with ``top_logprobs`` and maps the first token's candidates to codes with
``silspec.run.backends.tokens.option_distribution`` (whitespace-stripped exact match, variants
summed, renormalised, valid mass kept).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Mapping

from silspec.plan.model import PlanModel, Request, request_params
from silspec.run.backends._http import error_for_status, missing_key_error, redact
from silspec.run.backends.base import BackendAnswer, BackendError, PermanentError, TransientError
from silspec.run.backends.prompt_logprobs import score_options
from silspec.run.backends.tokens import from_logprobs, labels_need_full_strings, option_distribution

# Parameters the client takes as keyword arguments; anything else goes through ``extra_body``.
CLIENT_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop",
    "frequency_penalty", "presence_penalty", "logit_bias", "reasoning_effort", "n",
    "service_tier", "user", "verbosity",
})
NOT_SENT = frozenset({"thinking"})  # CLOVA-only spellings that an OpenAI endpoint rejects
DEFAULT_TOP_LOGPROBS = 20
LOCAL_PLACEHOLDER_KEY = "no-key"


class OpenAIBackend:
    name: ClassVar[str] = "openai"
    answer_modes: ClassVar[frozenset[str]] = frozenset({"sampled", "option_probs", "verbalised"})

    def __init__(self, model: PlanModel, *, env: Mapping[str, str]):
        from openai import AsyncOpenAI

        self.model = model
        # No key variable named: a local server (vLLM, llama.cpp) that ignores the key.
        self._key = env.get(model.api_key_env) if model.api_key_env else LOCAL_PLACEHOLDER_KEY
        if not self._key:
            raise missing_key_error(model.api_key_env, model.name)
        base_url = model.base_url or env.get("OPENAI_BASE_URL") or None
        self._client = AsyncOpenAI(
            api_key=self._key,
            base_url=base_url,
            max_retries=0,
            timeout=model.timeout_s,
        )

    async def answer(self, request: Request) -> BackendAnswer:
        kwargs = self._request_kwargs(request)
        if request.answers == "option_probs" and labels_need_full_strings(request.option_tokens):
            return await self._full_string_answer(request, kwargs)
        try:
            completion = await self._client.chat.completions.create(**kwargs)
        except Exception as exc:  # classified below; never re-raised with the key in it
            raise self._classify(exc) from None
        try:
            return self._to_answer(request, completion)
        except (AttributeError, IndexError, KeyError, TypeError) as exc:
            raise TransientError(f"malformed chat completion: {type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        await self._client.close()

    async def _full_string_answer(self, request: Request, kwargs: dict[str, Any]) -> BackendAnswer:
        """Labels sharing a prefix ("1", "10"): scored from prompt log-probabilities
        (``prompt_logprobs.py``) when the model allows it, else refused (never first tokens)."""
        where = f"model {self.model.name!r}"
        if self.model.options.get("prompt_logprobs") is not True:
            raise PermanentError(
                f"{where}: option labels {list(request.option_tokens)} share a prefix, and first-token "
                "log-probabilities cannot tell them apart; set `prompt_logprobs = true` (vLLM) or use letter labels"
            )
        try:
            return await score_options(self._client.chat.completions.create, kwargs, request, where)
        except BackendError:
            raise
        except Exception as exc:  # classified below; never re-raised with the key in it
            raise self._classify(exc) from None

    # ----------------------------------------------------------------------------- request
    def _request_kwargs(self, request: Request) -> dict[str, Any]:
        params = request_params(request, self.model)
        top_logprobs = int(params.pop("top_logprobs", DEFAULT_TOP_LOGPROBS))
        kwargs: dict[str, Any] = {
            "model": self.model.model_id,
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

    # ----------------------------------------------------------------------------- response
    def _to_answer(self, request: Request, completion: Any) -> BackendAnswer:
        choice = completion.choices[0]
        usage = completion.usage
        meta: dict[str, Any] = {"finish_reason": choice.finish_reason}
        common = dict(
            provider_model=getattr(completion, "model", None),
            system_fingerprint=getattr(completion, "system_fingerprint", None),
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
        )
        reasoning = getattr(choice.message, "reasoning_content", None)
        text = choice.message.content
        if request.answers != "option_probs":
            return BackendAnswer(text=text, reasoning=reasoning, meta=meta, **common)
        content = getattr(choice.logprobs, "content", None) or []
        if not content:
            meta["note"] = "the endpoint returned no logprobs"
            return BackendAnswer(text=text, option_probs=None, valid_mass=0.0, meta=meta, **common)
        first = content[0]
        candidates = [(t.token, t.logprob) for t in (first.top_logprobs or [])]
        if not candidates:
            candidates = [(first.token, first.logprob)]
        dist = option_distribution(
            from_logprobs(candidates), request.option_codes, request.option_tokens
        )
        meta["first_token"] = first.token
        meta["candidates"] = len(candidates)
        if dist.option_probs is None:
            meta["note"] = "no probability on any option token among the top logprobs"
        return BackendAnswer(
            text=text,
            option_probs=dist.option_probs,
            valid_mass=dist.valid_mass,
            reasoning=reasoning,
            meta=meta,
            **common,
        )

    # ----------------------------------------------------------------------------- errors
    def _classify(self, exc: Exception) -> Exception:
        import openai

        secrets = (self._key,)
        where = f"model {self.model.name!r}"
        if isinstance(exc, openai.APIStatusError):
            message = _error_message(exc)
            return error_for_status(
                exc.status_code, message, exc.response.headers, secrets=secrets, what=where
            )
        if isinstance(exc, openai.APITimeoutError):
            return TransientError(f"{where}: timed out after {self.model.timeout_s:g} s")
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            detail = redact(f"{type(cause).__name__}: {cause}", secrets)
            return TransientError(f"{where}: connection failed ({detail})")
        if isinstance(exc, (openai.APIResponseValidationError, json.JSONDecodeError, ValueError)):
            detail = redact(f"{type(exc).__name__}: {exc}", secrets)
            return TransientError(f"{where}: malformed response ({detail})")
        detail = redact(f"{type(exc).__name__}: {exc}", secrets)
        return PermanentError(f"{where}: unexpected client error ({detail})")


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(exc, "message", "") or "")
