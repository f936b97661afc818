"""A real HTTP test server speaking the OpenAI Batch API wire format (files + batches).

Run: ``python tests/servers/batch_server.py --port 0 --log FILE [--faults JSON] [--hold]``; the
first stdout line is ``PORT <n>``. Endpoints, as the official ``openai`` client calls them:

- ``POST /v1/files`` (multipart: ``purpose``, ``file``) -> a file object;
- ``POST /v1/batches`` (``input_file_id``, ``endpoint``, ``completion_window``, ``metadata``);
- ``GET /v1/batches/{id}`` -> the batch, one step further along on each retrieve
  (validating -> in_progress -> completed); ``--hold`` keeps every batch ``in_progress`` until
  ``POST /control/release`` (so a test can kill a client mid-poll);
- ``GET /v1/batches`` -> every batch, newest first (one page);
- ``GET /v1/files/{id}/content`` -> the file's bytes (input, output or error JSONL).

Answers are the scripted respondent's (``respondent.py``), the same as ``chat_server.py``'s.
Faults (``--faults`` JSON list) pick a batch by creation order (1-based) or a line by a marker
in its prompt::

    {"batch": 2, "outcome": "failed"}     # validation failed: no files, batch-level errors
    {"batch": 1, "outcome": "expired"}    # the first half answered, the rest error batch_expired
    {"batch": 1, "outcome": "cancelled"}  # like expired, error batch_cancelled
    {"batch": 1, "outcome": "drop_line"}  # completed, but the last line is in neither file
    {"marker": "BADLINE"}                 # that line: HTTP 400 in the error file
    {"marker": "NOTEXT"}                  # that line: HTTP 200 with content null
    {"marker": "SERVERERR"}               # that line: HTTP 500 in the error file
    {"marker": "NOCODE"}                  # that line: HTTP 200, a text with no number in it

The log (JSONL, flushed at once) has one entry per call: ``upload`` (file id, line count, the
custom ids), ``create`` (batch id, file id, lines), ``retrieve`` (batch id, status), ``content``.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import respondent  # noqa: E402  (sibling module; the server runs as a script)

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


class State:
    def __init__(self, log_path: str | None, faults: list[dict[str, Any]], hold: bool):
        self.lock = threading.Lock()
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.retrieves: dict[str, int] = {}
        self.faults = faults
        self.hold = hold
        self.log_path = log_path

    def log(self, entry: dict[str, Any]) -> None:
        if not self.log_path:
            return
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"at": time.time(), **entry}) + "\n")
            handle.flush()

    def add_file(self, data: bytes, purpose: str, filename: str) -> dict[str, Any]:
        file_id = f"file-{uuid.uuid4().hex[:16]}"
        obj = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
               "filename": filename, "purpose": purpose, "status": "processed"}
        self.files[file_id] = {"object": obj, "data": data}
        return obj

    def batch_fault(self, number: int) -> str | None:
        for rule in self.faults:
            if rule.get("batch") == number:
                return rule["outcome"]
        return None

    def line_fault(self, prompt: str) -> str | None:
        for rule in self.faults:
            marker = rule.get("marker")
            if marker and marker in prompt:
                return marker
        return None


def chat_body(body: dict[str, Any]) -> dict[str, Any]:
    """A chat completion for a batch line's body (scripted respondent, as chat_server answers)."""
    messages = body.get("messages") or []
    want_logprobs = bool(body.get("logprobs"))
    top_k = int(body.get("top_logprobs") or 0)
    max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 16)
    if want_logprobs:
        top = respondent.scripted_top_logprobs(messages)[: max(top_k, 1)]
        text = top[0][0]
        logprobs = {"content": [{"token": text, "logprob": top[0][1], "bytes": None, "top_logprobs": [
            {"token": t, "logprob": lp, "bytes": None} for t, lp in top]}]}
    else:
        text = respondent.scripted_answer(messages, body.get("seed"))
        logprobs = None
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "scripted"), "system_fingerprint": "fp_batch_test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": logprobs,
                     "finish_reason": "length" if max_tokens <= 1 else "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    }


def line_result(state: State, line: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """("output" | "error", the result line) for one input line."""
    body = line.get("body") or {}
    prompt = respondent.prompt_text(body.get("messages") or [])
    fault = state.line_fault(prompt)
    base = {"id": f"batch_req_{uuid.uuid4().hex[:12]}", "custom_id": line.get("custom_id")}
    request_id = f"req_{uuid.uuid4().hex[:10]}"
    if fault == "BADLINE":
        return "error", {**base, "response": {"status_code": 400, "request_id": request_id, "body": {
            "error": {"message": "Invalid value for 'messages'", "type": "invalid_request_error"}}},
            "error": None}
    if fault == "SERVERERR":
        return "error", {**base, "response": {"status_code": 500, "request_id": request_id, "body": {
            "error": {"message": "The server had an error", "type": "server_error"}}}, "error": None}
    reply = chat_body(body)
    if fault == "NOTEXT":
        reply["choices"][0]["message"]["content"] = None
    if fault == "NOCODE":
        reply["choices"][0]["message"]["content"] = "I would rather not pick one."
    return "output", {**base, "response": {"status_code": 200, "request_id": request_id, "body": reply},
                      "error": None}


def finish_batch(state: State, batch: dict[str, Any]) -> None:
    """Write the batch's output and error files and set its terminal status."""
    data = state.files[batch["input_file_id"]]["data"]
    lines = [json.loads(x) for x in data.decode("utf-8").splitlines() if x.strip()]
    fault = batch["_fault"]
    now = int(time.time())
    if fault == "failed":
        batch.update(status="failed", failed_at=now, errors={"object": "list", "data": [
            {"code": "invalid_request", "message": "model 'no-such-model' does not exist", "param": "body.model",
             "line": 1}]}, request_counts={"total": len(lines), "completed": 0, "failed": 0})
        return
    out, err = [], []
    cut = len(lines) // 2 if fault in ("expired", "cancelled") else len(lines)
    for index, line in enumerate(lines):
        if index >= cut:
            code = "batch_expired" if fault == "expired" else "batch_cancelled"
            err.append({"id": f"batch_req_{uuid.uuid4().hex[:12]}", "custom_id": line.get("custom_id"),
                        "response": None, "error": {"code": code, "message":
                                                    f"This request could not be executed before the batch was {fault}."}})
            continue
        if fault == "drop_line" and index == len(lines) - 1:
            continue
        kind, result = line_result(state, line)
        (out if kind == "output" else err).append(result)
    for name, rows in (("output_file_id", out), ("error_file_id", err)):
        if rows:
            payload = "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")
            batch[name] = state.add_file(payload, "batch_output", f"{batch['id']}_{name}.jsonl")["id"]
    status = {"expired": "expired", "cancelled": "cancelled"}.get(fault or "", "completed")
    batch.update(status=status, finalizing_at=now, **{f"{status}_at": now},
                 request_counts={"total": len(lines), "completed": len(out), "failed": len(err)})


def public(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_json(self, status: int, payload: Any) -> None:
        self.send_bytes(status, json.dumps(payload).encode("utf-8"), "application/json")

    def send_bytes(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def not_found(self, what: str) -> None:
        self.send_json(404, {"error": {"message": f"No such {what}", "type": "invalid_request_error"}})

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:
        raw = self.read_body()
        path = self.path.split("?")[0]
        state = self.state
        if path == "/v1/files":
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + raw)
            fields: dict[str, Any] = {}
            for part in message.iter_parts():
                fields[part.get_param("name", header="content-disposition")] = (
                    part.get_filename(), part.get_payload(decode=True))
            filename, data = fields.get("file", (None, b""))
            purpose = (fields.get("purpose", (None, b""))[1] or b"").decode()
            with state.lock:
                obj = state.add_file(data, purpose, filename or "upload.jsonl")
                ids = [json.loads(x).get("custom_id") for x in data.decode("utf-8").splitlines() if x.strip()]
                state.log({"op": "upload", "file_id": obj["id"], "lines": len(ids), "bytes": len(data),
                           "custom_ids": ids})
            self.send_json(200, obj)
            return
        if path == "/v1/batches":
            body = json.loads(raw or b"{}")
            with state.lock:
                if body.get("input_file_id") not in state.files:
                    self.not_found("file")
                    return
                number = len(state.batches) + 1
                batch_id = f"batch_{uuid.uuid4().hex[:16]}"
                data = state.files[body["input_file_id"]]["data"]
                lines = sum(1 for x in data.decode("utf-8").splitlines() if x.strip())
                batch = {
                    "id": batch_id, "object": "batch", "endpoint": body.get("endpoint"), "errors": None,
                    "input_file_id": body["input_file_id"], "completion_window": body.get("completion_window"),
                    "status": "validating", "output_file_id": None, "error_file_id": None,
                    "created_at": int(time.time()), "in_progress_at": None, "expires_at": int(time.time()) + 86400,
                    "finalizing_at": None, "completed_at": None, "failed_at": None, "expired_at": None,
                    "cancelling_at": None, "cancelled_at": None,
                    "request_counts": {"total": lines, "completed": 0, "failed": 0},
                    "metadata": body.get("metadata"), "_fault": state.batch_fault(number),
                }
                state.batches[batch_id] = batch
                state.log({"op": "create", "batch_id": batch_id, "input_file_id": body["input_file_id"],
                           "lines": lines, "number": number})
            self.send_json(200, public(batch))
            return
        if path == "/control/release":
            with state.lock:
                state.hold = False
                state.log({"op": "release"})
            self.send_json(200, {"released": True})
            return
        self.not_found("route")

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        state = self.state
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["v1", "batches"]:
            with state.lock:
                batch = state.batches.get(parts[2])
                if batch is None:
                    self.not_found("batch")
                    return
                count = state.retrieves[batch["id"]] = state.retrieves.get(batch["id"], 0) + 1
                if batch["status"] not in TERMINAL:
                    if batch["status"] == "validating" and batch["_fault"] != "failed":
                        batch.update(status="in_progress", in_progress_at=int(time.time()))
                    elif not state.hold and (count >= 2 or batch["_fault"] == "failed"):
                        finish_batch(state, batch)
                state.log({"op": "retrieve", "batch_id": batch["id"], "status": batch["status"]})
                payload = public(batch)
            self.send_json(200, payload)
            return
        if parts == ["v1", "batches"]:  # the list, newest first, one page
            with state.lock:
                data = [public(b) for b in reversed(list(state.batches.values()))]
                state.log({"op": "list", "count": len(data)})
            self.send_json(200, {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                                 "last_id": data[-1]["id"] if data else None, "has_more": False})
            return
        if len(parts) == 4 and parts[:2] == ["v1", "files"] and parts[3] == "content":
            with state.lock:
                entry = state.files.get(parts[2])
                state.log({"op": "content", "file_id": parts[2]})
            if entry is None:
                self.not_found("file")
                return
            self.send_bytes(200, entry["data"], "application/octet-stream")
            return
        self.not_found("route")


# --------------------------------------------------------------------------- for tests


class BatchServerHandle:
    """A started server process: ``url`` (OpenAI base URL), its log, ``release()``."""

    def __init__(self, port: int, log_path: Path, proc: Any):
        self.port, self.log_path, self.proc = port, log_path, proc
        self.url = f"http://127.0.0.1:{port}/v1"

    def log(self, op: str | None = None) -> list[dict[str, Any]]:
        from tests.servers.logs import read_log  # here: this file also runs as the server's script

        return [e for e in read_log(self.log_path) if op is None or e["op"] == op]

    def submitted_ids(self) -> list[str]:
        """Every custom id uploaded, in order (repeats mean a request was paid for twice)."""
        return [cid for entry in self.log("upload") for cid in entry["custom_ids"]]

    def release(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{self.port}/control/release",
                                                      data=b"{}", method="POST"), timeout=10).read()


def start(tmp_path: Path, *, faults: list[dict[str, Any]] | None = None, hold: bool = False,
          log_name: str = "batch-server.jsonl") -> BatchServerHandle:
    """Start this script as a process on a free port (stop it with ``handle.proc.kill()``)."""
    import subprocess

    log_path = Path(tmp_path) / log_name
    command = [sys.executable, str(Path(__file__).resolve()), "--port", "0", "--log", str(log_path)]
    if faults:
        command += ["--faults", json.dumps(faults)]
    if hold:
        command.append("--hold")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"batch server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return BatchServerHandle(int(line.split()[1]), log_path, proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", default=None)
    parser.add_argument("--faults", default=None)
    parser.add_argument("--hold", action="store_true")
    args = parser.parse_args(argv)
    faults = json.loads(args.faults) if args.faults else []
    Handler.state = State(args.log, faults, args.hold)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
