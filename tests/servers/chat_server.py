"""A real HTTP test server speaking the OpenAI chat-completions and CLOVA v3 wire formats.

Run: ``python tests/servers/chat_server.py --port 0 [--model-path DIR] [--faults JSON|@FILE]
[--log FILE] [--api-key KEY] [--latency-ms MS]``; the first stdout line is ``PORT <n>``.

Answers come from the scripted respondent (``respondent.py``: deterministic, predictable) or,
with ``--model-path``, from a transformers causal LM (real next-token probabilities for the
logprobs path). Faults are a JSON list of rules, checked in order; the first that matches wins::

    {"fault": "429", "requests": [1, 2], "retry_after": 2}     # the 1st and 2nd chat requests
    {"fault": "503", "every": 5}                                # every 5th chat request
    {"fault": "500", "marker": "FLAKY", "times": 2}             # each prompt with FLAKY fails twice
    {"fault": "slow", "marker": "SLOW", "seconds": 3}           # sleep before answering
    {"fault": "429", "marker": "X", "retry_after_date": 2}      # Retry-After as an HTTP date
    {"fault": "drop" | "malformed" | "400" | "401" | "404" | "422" | "500" | "503", ...}
    {"fault": "500", "rate": 0.1}                               # a deterministic 10% of attempts
    {"fault": "429", "retry_after_raw": "Thu, 01 Jan 2099 00:00:00 GMT"}  # Retry-After as written

Reply faults answer HTTP 200 with a body that is not an answer (``REPLY_FAULTS``)::

    {"fault": "null_content"}      # message.content null, finish_reason "stop"
    {"fault": "refusal"}           # content null, message.refusal set
    {"fault": "content_filter"}    # content "", finish_reason "content_filter"
    {"fault": "length_empty"}      # content "", finish_reason "length"
    {"fault": "int_content"}       # message.content 5 (an integer)
    {"fault": "no_choices"}        # no "choices" key at all
    {"fault": "no_logprobs"}       # logprobs null even when asked for
    {"fault": "partial_logprobs", "keep": ["1", " 1", "I"]}  # top_logprobs cut to these tokens

``times`` counts per distinct prompt (messages hash) for marker/rate rules, globally otherwise.
The request log (JSONL, one line per chat request, flushed at once) records the request count,
time, path, the body's and the messages' sha256, the status sent, the fault, and the body.
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import hashlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import respondent  # noqa: E402  (sibling module; the server runs as a script)

STATUS_TEXT = {
    400: "invalid request",
    401: "Incorrect API key provided",
    404: "model not found",
    422: "unprocessable entity",
    429: "Rate limit reached",
    500: "internal server error",
    503: "service unavailable",
}


REPLY_FAULTS = frozenset({
    "null_content", "refusal", "content_filter", "length_empty", "int_content", "no_choices",
    "no_logprobs", "partial_logprobs",
})


def break_openai_reply(payload: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    """A well-formed chat completion turned into the reply shape ``rule`` names."""
    kind = rule["fault"]
    if kind == "no_choices":
        payload.pop("choices", None)
        return payload
    for choice in payload["choices"]:
        message = choice["message"]
        if kind == "null_content":
            message["content"] = None
            choice["finish_reason"] = "stop"
        elif kind == "refusal":
            message["content"] = None
            message["refusal"] = "I can't help with that request."
            choice["finish_reason"] = "stop"
        elif kind == "content_filter":
            message["content"] = ""
            choice["finish_reason"] = "content_filter"
        elif kind == "length_empty":
            message["content"] = ""
            choice["finish_reason"] = "length"
        elif kind == "int_content":
            message["content"] = 5
        elif kind == "no_logprobs":
            choice["logprobs"] = None
        elif kind == "partial_logprobs" and choice.get("logprobs"):
            keep = set(rule.get("keep") or [])
            for entry in choice["logprobs"]["content"]:
                entry["top_logprobs"] = [t for t in entry["top_logprobs"] if t["token"] in keep]
    return payload


def break_clova_reply(payload: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    kind = rule["fault"]
    result = payload["result"]
    if kind == "no_choices":
        payload["result"] = None
    elif kind == "null_content":
        result["message"]["content"] = None
    elif kind == "length_empty":
        result["message"]["content"] = ""
        result["finishReason"] = "length"
    elif kind == "int_content":
        result["message"]["content"] = 5
    return payload


class State:
    """Everything the handler threads share, behind one lock."""

    def __init__(self, args: argparse.Namespace):
        self.lock = threading.Lock()
        self.count = 0
        self.rule_fired: dict[tuple[int, str], int] = {}
        self.attempts_by_prompt: dict[str, int] = {}
        self.faults: list[dict[str, Any]] = load_faults(args.faults)
        self.api_key: str | None = args.api_key
        self.latency_s = args.latency_ms / 1000.0
        self.log_handle = open(args.log, "a", encoding="utf-8") if args.log else None
        self.model = LocalModel(args.model_path) if args.model_path else None

    def next_request(self, messages_hash: str) -> tuple[int, int]:
        with self.lock:
            self.count += 1
            attempt = self.attempts_by_prompt.get(messages_hash, 0) + 1
            self.attempts_by_prompt[messages_hash] = attempt
            return self.count, attempt

    def choose_fault(self, n: int, attempt: int, messages_hash: str, prompt: str) -> dict | None:
        with self.lock:
            for index, rule in enumerate(self.faults):
                if not rule_matches(rule, n, attempt, messages_hash, prompt):
                    continue
                per_prompt = "marker" in rule or "rate" in rule
                key = (index, messages_hash if per_prompt else "*")
                fired = self.rule_fired.get(key, 0)
                if "times" in rule and fired >= int(rule["times"]):
                    continue
                self.rule_fired[key] = fired + 1
                return rule
        return None

    def log(self, entry: dict[str, Any]) -> None:
        if self.log_handle is None:
            return
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True)
        with self.lock:
            self.log_handle.write(line + "\n")
            self.log_handle.flush()


def auth_summary(header: str | None) -> str | None:
    """The scheme of an Authorization header, and for basic auth the user name; no secret."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return scheme
    try:
        user = base64.b64decode(value).decode("utf-8").partition(":")[0]
    except (ValueError, UnicodeDecodeError):
        user = "?"
    return f"Basic {user}"


def load_faults(spec: str | None) -> list[dict[str, Any]]:
    if not spec:
        return []
    text = Path(spec[1:]).read_text(encoding="utf-8") if spec.startswith("@") else spec
    rules = json.loads(text)
    if isinstance(rules, dict):
        rules = [rules]
    for rule in rules:
        if "fault" not in rule:
            raise SystemExit(f"fault rule without 'fault': {rule}")
    return rules


def rule_matches(rule: dict, n: int, attempt: int, messages_hash: str, prompt: str) -> bool:
    if "requests" in rule and n not in rule["requests"]:
        return False
    if "every" in rule and n % int(rule["every"]) != 0:
        return False
    if "marker" in rule and rule["marker"] not in prompt:
        return False
    if "rate" in rule:
        digest = hashlib.sha256(f"{messages_hash}|{attempt}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= float(rule["rate"]):
            return False
    return True


class LocalModel:
    """A transformers causal LM behind the server: chat template, greedy text, first-token
    log-probabilities (the same rendering as silspec's ``hf`` backend)."""

    def __init__(self, path: str):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        self.model.eval()
        self.name = Path(path).name
        self.lock = threading.Lock()

    def render(self, messages: list[dict]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        return "\n\n".join(m["content"] for m in messages) + "\n"

    def complete(self, messages: list[dict], max_tokens: int, top_k: int) -> dict[str, Any]:
        torch = self.torch
        text = self.render(messages)
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with self.lock, torch.no_grad():
            logits = self.model(input_ids=ids).logits[0, -1].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            k = min(max(top_k, 1), logprobs.shape[-1])
            top = torch.topk(logprobs, k)
            new_ids = [int(top.indices[0])]
            if max_tokens > 1:
                out = self.model.generate(
                    ids, max_new_tokens=max_tokens, do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                )
                new_ids = out[0, ids.shape[1]:].tolist()
        candidates = [
            (self.tokenizer.decode([int(i)]), float(lp)) for lp, i in zip(top.values, top.indices)
        ]
        return {
            "text": self.tokenizer.decode(new_ids, skip_special_tokens=True),
            "top": candidates,
            "prompt_tokens": int(ids.shape[1]),
            "completion_tokens": len(new_ids),
        }


    def score_prompt(self, messages: list[dict], *, continue_final: bool, top_k: int) -> dict[str, Any]:
        """vLLM's ``prompt_logprobs = 0``: each prompt token's log-probability (one entry per
        position, the first None), plus the next token's top-k; ``continue_final`` leaves the
        final assistant message open (vLLM's ``continue_final_message``)."""
        torch = self.torch
        if continue_final:
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=False, continue_final_message=True
            )
        else:
            text = self.render(messages)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        with self.lock, torch.no_grad():
            logprobs = torch.log_softmax(self.model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)
        prompt = [None] + [
            {str(token): {"logprob": float(logprobs[i - 1, token]), "rank": None,
                          "decoded_token": self.tokenizer.decode([token])}}
            for i, token in enumerate(ids) if i > 0
        ]
        top = torch.topk(logprobs[-1], min(max(top_k, 1), logprobs.shape[-1]))
        candidates = [(self.tokenizer.decode([int(i)]), float(lp)) for lp, i in zip(top.values, top.indices)]
        return {"prompt_logprobs": prompt, "top": candidates, "prompt_tokens": len(ids)}


def logprob_entry(token: str, logprob: float, top: list[tuple[str, float]]) -> dict[str, Any]:
    return {
        "token": token,
        "logprob": logprob,
        "bytes": list(token.encode("utf-8")),
        "top_logprobs": [
            {"token": t, "logprob": lp, "bytes": list(t.encode("utf-8"))} for t, lp in top
        ],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY each keep-alive response
    # waits ~40 ms for the client's delayed ACK, which would dominate throughput benchmarks.
    disable_nagle_algorithm = True
    server_version = "silspec-test-server/1"
    state: State  # set on the class before serving

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the JSONL log is the record
        pass

    # ------------------------------------------------------------------ transport helpers
    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_raw(status, body, headers)

    def send_raw(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        if getattr(self, "_pending_log", None) is not None:
            self._write_log(status, self._fault)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return raw, json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return raw, None

    # ------------------------------------------------------------------ routes
    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            name = self.state.model.name if self.state.model else "scripted"
            self.send_json(200, {"object": "list", "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "silspec-tests"}
            ]})
        elif self.path == "/health":
            self.send_json(200, {"ok": True, "requests": self.state.count})
        else:
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        if path.startswith(("http://", "https://")):  # absolute form: the client went through a proxy
            self.via_proxy = True
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        if path.rstrip("/") in ("/v1/chat/completions", "/chat/completions"):
            self.chat(flavour="openai")
        elif path.startswith(("/v3/chat-completions/", "/testapp/v3/chat-completions/")):
            self.chat(flavour="clova", model_name=path.rsplit("/", 1)[-1])
        else:
            self.send_json(404, {"error": {"message": f"no route {path}"}})

    def chat(self, flavour: str, model_name: str | None = None) -> None:
        state = self.state
        raw, body = self.read_body()
        messages = (body or {}).get("messages") or []
        messages_hash = respondent.messages_sha256(messages) if messages else ""
        n, attempt = state.next_request(messages_hash)
        entry = {
            "n": n, "t": time.time(), "path": self.path, "flavour": flavour,
            "body_sha256": hashlib.sha256(raw).hexdigest(), "messages_sha256": messages_hash,
            "attempt": attempt, "body": body,
            "request_id_header": self.headers.get("X-NCP-CLOVASTUDIO-REQUEST-ID"),
            # how the client authenticated (never the secret itself): "Bearer", or "Basic user"
            "auth": auth_summary(self.headers.get("Authorization")),
            "organization_header": self.headers.get("OpenAI-Organization"),
            "via_proxy": getattr(self, "via_proxy", False),
        }
        # Logged just before the response goes out (send_raw), so a client that has its answer
        # always finds the request in the log.
        self._pending_log = entry
        self._fault = None
        status, fault = self.respond(flavour, model_name, body, messages, messages_hash, n, attempt)
        if self._pending_log is not None:  # a dropped connection sends nothing
            self._write_log(status, fault)

    def _write_log(self, status: int, fault: str | None) -> None:
        entry, self._pending_log = self._pending_log, None
        if entry is not None:
            entry.update(status=status, fault=fault)
            self.state.log(entry)

    def respond(self, flavour, model_name, body, messages, messages_hash, n, attempt):
        state = self.state
        if state.latency_s:
            time.sleep(state.latency_s)
        if state.api_key is not None:
            sent = self.headers.get("Authorization", "")
            if sent != f"Bearer {state.api_key}":
                # Like some real providers, echo what was sent: the client must not repeat it.
                self._fault = "auth"
                self.send_error_body(flavour, 401, f"Incorrect API key provided: {sent[7:]}")
                return 401, "auth"
        if body is None or not isinstance(messages, list) or not messages:
            self._fault = "bad-body"
            self.send_error_body(flavour, 400, "body must be JSON with a non-empty messages list")
            return 400, "bad-body"
        rule = state.choose_fault(n, attempt, messages_hash, respondent.prompt_text(messages))
        if rule is not None:
            kind = str(rule["fault"])
            self._fault = kind
            if kind == "slow":
                time.sleep(float(rule.get("seconds", 5)))
            elif kind == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return 0, "drop"
            elif kind == "malformed":
                self.send_raw(200, b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "mess')
                return 200, "malformed"
            elif kind in REPLY_FAULTS:
                if flavour == "clova":
                    payload = break_clova_reply(self.clova_payload(model_name or "", body, messages), rule)
                else:
                    payload = break_openai_reply(self.openai_payload(body, messages), rule)
                self.send_json(200, payload)
                return 200, kind
            else:
                status = int(kind)
                headers = {}
                if "retry_after" in rule:
                    headers["Retry-After"] = str(rule["retry_after"])
                if "retry_after_date" in rule:
                    when = time.time() + float(rule["retry_after_date"])
                    headers["Retry-After"] = email.utils.formatdate(when, usegmt=True)
                if "retry_after_raw" in rule:
                    headers["Retry-After"] = str(rule["retry_after_raw"])
                self.send_error_body(flavour, status, STATUS_TEXT.get(status, "error"), headers)
                return status, kind
        if flavour == "clova":
            self.send_json(200, self.clova_payload(model_name or "", body, messages))
        else:
            self.send_json(200, self.openai_payload(body, messages))
        return 200, (rule or {}).get("fault")

    def send_error_body(self, flavour: str, status: int, message: str, headers=None) -> None:
        if flavour == "clova":
            payload = {"status": {"code": f"{status}00", "message": message}, "result": None}
        else:
            payload = {"error": {"message": message, "type": "test_error", "code": str(status)}}
        self.send_json(status, payload, headers)

    # ------------------------------------------------------------------ answers
    def answer_choices(self, body: dict, messages: list, max_tokens: int, top_k: int):
        """[(text, top_logprobs)] per choice plus token usage."""
        model = self.state.model
        count = int(body.get("n") or 1)
        if model is not None:
            result = model.complete(messages, max_tokens, top_k)
            choices = [(result["text"], result["top"])] * count
            return choices, result["prompt_tokens"], result["completion_tokens"]
        top = respondent.scripted_top_logprobs(messages)[:top_k]
        seed = body.get("seed")
        choices = [(respondent.scripted_answer(messages, seed, i), top) for i in range(count)]
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
        return choices, prompt_tokens, 1

    def prompt_logprobs_payload(self, body: dict, messages: list) -> dict[str, Any]:
        """A vLLM-style reply to ``prompt_logprobs`` (served model only): one generated token."""
        model = self.state.model
        top_k = int(body.get("top_logprobs") or 0)
        scored = model.score_prompt(messages, continue_final=bool(body.get("continue_final_message")), top_k=top_k)
        token, logprob = scored["top"][0]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model.name,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": token},
                "logprobs": {"content": [logprob_entry(token, logprob, scored["top"][:top_k])]} if body.get("logprobs") else None,
                "finish_reason": "length",
            }],
            "prompt_logprobs": scored["prompt_logprobs"],
            "usage": {"prompt_tokens": scored["prompt_tokens"], "completion_tokens": 1,
                      "total_tokens": scored["prompt_tokens"] + 1},
        }

    def openai_payload(self, body: dict, messages: list) -> dict[str, Any]:
        if body.get("prompt_logprobs") is not None and self.state.model is not None:
            return self.prompt_logprobs_payload(body, messages)
        max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 16)
        top_k = int(body.get("top_logprobs") or 0)
        want_logprobs = bool(body.get("logprobs"))
        choices, prompt_tokens, completion_tokens = self.answer_choices(
            body, messages, max_tokens, max(top_k, 1)
        )
        out = []
        for index, (text, top) in enumerate(choices):
            logprobs = None
            if want_logprobs:
                first_token, first_logprob = top[0] if top else (text, 0.0)
                logprobs = {"content": [logprob_entry(first_token, first_logprob, top[:top_k])]}
            out.append({
                "index": index,
                "message": {"role": "assistant", "content": text},
                "logprobs": logprobs,
                "finish_reason": "length" if max_tokens <= 1 else "stop",
            })
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.state.model.name if self.state.model else body.get("model", "scripted"),
            "system_fingerprint": "fp_silspec_test",
            "choices": out,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens * len(out),
                "total_tokens": prompt_tokens + completion_tokens * len(out),
            },
        }

    def clova_payload(self, model_name: str, body: dict, messages: list) -> dict[str, Any]:
        max_tokens = int(body.get("maxCompletionTokens") or body.get("maxTokens") or 16)
        choices, prompt_tokens, completion_tokens = self.answer_choices(body, messages, max_tokens, 1)
        effort = ((body.get("thinking") or {}).get("effort")) or "none"
        message = {"role": "assistant", "content": choices[0][0]}
        if effort != "none":
            message["thinkingContent"] = f"thinking ({effort}) about the question"
        return {
            "status": {"code": "20000", "message": "OK"},
            "result": {
                "message": message,
                "finishReason": "stop",
                "created": int(time.time() * 1000),
                "seed": body.get("seed") or 0,
                "usage": {
                    "promptTokens": prompt_tokens,
                    "completionTokens": completion_tokens,
                    "totalTokens": prompt_tokens + completion_tokens,
                },
            },
        }


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the stdlib default of 5 drops connections under load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model-path")
    parser.add_argument("--faults", help="JSON list of fault rules, or @FILE")
    parser.add_argument("--log", help="JSONL request log")
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    Handler.state = State(args)
    server = Server((args.host, args.port), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
