"""The ``clova`` backend: CLOVA Studio Chat Completions v3 (HyperCLOVA X, e.g. HCX-007).

Wire format (NAVER Cloud API docs, "Chat Completions v3" and "Thinking" pages; see
``docs/backends.md``): ``POST {base}/v3/chat-completions/{modelName}`` with
``Authorization: Bearer <key>``, ``X-NCP-CLOVASTUDIO-REQUEST-ID`` (a fresh uuid4 per attempt) and
a JSON body in camelCase; the answer is ``result.message.content``, the reasoning
``result.message.thinkingContent``, success is ``status.code == "20000"``. Sent over the
``aiohttp`` transport the API backends share (``_wire.py``). One attempt per call: the executor
retries.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar, Mapping

from silspec.plan.model import PlanModel, Request, request_params
from silspec.plan.redact import url_secrets
from silspec.run.backends._http import error_for_status, missing_key_error, redact
from silspec.run.backends._wire import WireClient, encode_json
from silspec.run.backends.base import BackendAnswer, PermanentError, ReplyError, TransientError

DEFAULT_BASE_URL = "https://clovastudio.stream.ntruss.com"

# Spec parameter (snake_case, as in OpenAI) -> CLOVA body field; camelCase spellings pass as is.
PARAM_NAMES = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "repetition_penalty": "repetitionPenalty",
    "max_tokens": "maxTokens",
    "max_completion_tokens": "maxCompletionTokens",
    "seed": "seed",
    "stop": "stop",
    "include_ai_filters": "includeAiFilters",
}
NOT_SENT = frozenset({"top_logprobs", "logprobs"})
# Reasoning models reject maxTokens and take maxCompletionTokens instead.
REASONING_MODEL_PREFIXES = ("HCX-007",)


def body_for(model: PlanModel, request: Request) -> dict[str, Any]:
    """The JSON body for one request (public so docs and tests can show exactly what is sent)."""
    body: dict[str, Any] = {
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
    }
    for key, value in request_params(request, model).items():
        if key in NOT_SENT or value is None:
            continue
        if key == "thinking":
            body["thinking"] = value if isinstance(value, dict) else {"effort": str(value)}
            continue
        body[PARAM_NAMES.get(key, key)] = value
    if request.seed is not None:
        body["seed"] = request.seed
    if model.model_id.upper().startswith(REASONING_MODEL_PREFIXES) and "maxTokens" in body:
        body.setdefault("maxCompletionTokens", body.pop("maxTokens"))
        body.pop("maxTokens", None)
    return body


class ClovaBackend:
    name: ClassVar[str] = "clova"
    answer_modes: ClassVar[frozenset[str]] = frozenset({"sampled", "verbalised"})

    def __init__(self, model: PlanModel, *, env: Mapping[str, str]):
        self.model = model
        self._key = env.get(model.api_key_env) if model.api_key_env else None
        if not self._key:
            raise missing_key_error(model.api_key_env, model.name)
        self._secrets = (self._key, *url_secrets(model.base_url))
        base = (model.base_url or env.get("CLOVASTUDIO_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.url = f"{base}/v3/chat-completions/{model.model_id}"
        self._wire = WireClient(where=f"model {model.name!r}", timeout_s=model.timeout_s,
                                max_connections=max(model.concurrency, 1) * 2, secrets=self._secrets)
        self._endpoint, self._auth = self._wire.endpoint(self.url)

    async def answer(self, request: Request) -> BackendAnswer:
        if request.answers == "option_probs":
            raise PermanentError("the clova backend cannot answer option_probs (no logprobs)")
        where = f"model {self.model.name!r}"
        headers = {
            "Authorization": f"Bearer {self._key}",
            "X-NCP-CLOVASTUDIO-REQUEST-ID": str(uuid.uuid4()),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        body = body_for(self.model, request)
        if self._auth is not None:  # credentials in the URL replace the bearer key, as in httpx
            del headers["Authorization"]
        try:
            payload_bytes = encode_json(body)
        except (TypeError, ValueError) as exc:  # a parameter JSON cannot carry (NaN, an object)
            raise PermanentError(f"{where}: the request cannot be encoded ({exc})") from None
        response = await self._wire.post(self._endpoint, payload_bytes, headers, self._auth)
        payload = _json_or_none(response.content)
        status_block = (payload or {}).get("status") if isinstance(payload, dict) else None
        if response.status >= 400:
            message = (status_block or {}).get("message") or response.text[:200]
            code = (status_block or {}).get("code")
            text = f"{message} (CLOVA code {code})" if code else str(message)
            raise error_for_status(
                response.status, text, response.headers, secrets=self._secrets, what=where
            )
        if not isinstance(payload, dict):
            raise TransientError(f"{where}: malformed response (not a JSON object)")
        code = str((status_block or {}).get("code", ""))
        if code and code != "20000":
            message = redact(str((status_block or {}).get("message", "")), self._secrets)
            raise PermanentError(f"{where}: CLOVA status {code}: {message}")
        result = payload.get("result")
        message = result.get("message") if isinstance(result, dict) else None
        if not isinstance(message, dict):
            raise ReplyError(f"{where}: malformed reply (no result.message object)", reason="malformed reply")
        text = message.get("content")
        finish = result.get("finishReason")
        finish = finish if isinstance(finish, str) else None
        if text is not None and not isinstance(text, str):
            raise ReplyError(f"{where}: malformed reply (result.message.content is"
                             f" {type(text).__name__}, expected text)", reason="malformed reply")
        if finish == "length" and not (text or "").strip():
            raise ReplyError(f"{where}: the reply ran out of tokens before writing any text"
                             " (finishReason length with no text; raise max_tokens)",
                             reason="length with no text", detail={"finish_reason": finish})
        if text is None:
            raise ReplyError(f"{where}: the reply has no text (content is null)",
                             reason="null content", detail={"finish_reason": finish})
        usage = result.get("usage") if isinstance(result.get("usage"), dict) else {}
        meta = {"finish_reason": finish, "request_id": headers["X-NCP-CLOVASTUDIO-REQUEST-ID"]}
        if "seed" in result:
            meta["seed"] = result["seed"]
        reasoning = message.get("thinkingContent")
        return BackendAnswer(
            text=text,
            reasoning=reasoning if isinstance(reasoning, str) else None,
            provider_model=self.model.model_id,
            prompt_tokens=_int_or_none(usage.get("promptTokens")),
            completion_tokens=_int_or_none(usage.get("completionTokens")),
            meta=meta,
        )

    async def aclose(self) -> None:
        await self._wire.aclose()


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
