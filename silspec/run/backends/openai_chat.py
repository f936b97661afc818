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

from silspec.plan.model import PlanModel, Request
from silspec.plan.redact import url_secrets
from silspec.run.backends._http import error_for_status, missing_key_error
from silspec.run.backends._wire import WireClient, encode_json
from silspec.run.backends.base import BackendAnswer, PermanentError, TransientError
from silspec.run.backends.chat_completion import chat_request_body, parse_chat_completion
from silspec.run.backends.prompt_logprobs import score_options
from silspec.run.backends.tokens import labels_need_full_strings

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
        body = chat_request_body(request, self.model)
        if request.answers == "option_probs" and labels_need_full_strings(request.option_tokens):
            return await self._full_string_answer(request, body)
        return parse_chat_completion(await self._post(body), request, where=self._where)

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
