"""Start the test chat server as a real process, for backend, executor and crash tests.

Plain functions plus pytest fixtures, importable as ``tests.servers.fixtures`` (the
``tests/run/conftest.py`` puts the repository root on ``sys.path``)::

    with start_chat_server(tmp_path, faults=[{"fault": "429", "requests": [1]}]) as server:
        server.url          # "http://127.0.0.1:PORT/v1" (OpenAI base URL)
        server.root_url     # "http://127.0.0.1:PORT"   (CLOVA base URL)
        server.requests()   # the parsed JSONL request log
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import attrs
import pytest

from tests.servers.logs import read_log

SERVER_SCRIPT = Path(__file__).resolve().parent / "chat_server.py"
TEST_API_KEY = "sk-test-SECRET-0123456789abcdef"  # what tests put in the environment


@attrs.frozen
class ServerHandle:
    url: str  # OpenAI-style base URL, ending in /v1
    port: int
    log_path: Path
    proc: subprocess.Popen

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[dict[str, Any]]:
        """The request log so far, one dict per chat request."""
        return read_log(self.log_path)


@contextlib.contextmanager
def start_chat_server(
    tmp_path: Path,
    *,
    faults: list[dict[str, Any]] | None = None,
    model_path: str | os.PathLike | None = None,
    api_key: str | None = None,
    latency_ms: float = 0.0,
    log_name: str = "server.jsonl",
    startup_timeout_s: float = 120.0,
) -> Iterator[ServerHandle]:
    """Start ``chat_server.py`` on a free port, wait for its PORT line, kill it on exit."""
    log_path = Path(tmp_path) / log_name
    command = [sys.executable, str(SERVER_SCRIPT), "--port", "0", "--log", str(log_path)]
    if faults:
        command += ["--faults", json.dumps(faults)]
    if model_path is not None:
        command += ["--model-path", str(model_path)]
    if api_key is not None:
        command += ["--api-key", api_key]
    if latency_ms:
        command += ["--latency-ms", str(latency_ms)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        port = _wait_for_port(proc, startup_timeout_s)
        yield ServerHandle(url=f"http://127.0.0.1:{port}/v1", port=port, log_path=log_path, proc=proc)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _wait_for_port(proc: subprocess.Popen, timeout_s: float) -> int:
    found: list[str] = []

    def read_first_line() -> None:
        assert proc.stdout is not None
        found.append(proc.stdout.readline())

    reader = threading.Thread(target=read_first_line, daemon=True)
    reader.start()
    reader.join(timeout_s)
    line = found[0] if found else ""
    if not line.startswith("PORT "):
        proc.kill()
        stderr = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"test server did not start (first line {line!r}): {stderr[-2000:]}")
    return int(line.split()[1])


@pytest.fixture
def chat_server(tmp_path: Path) -> Iterator[ServerHandle]:
    """A scripted server with no faults and no key check."""
    with start_chat_server(tmp_path) as server:
        yield server


@pytest.fixture
def chat_server_factory(tmp_path: Path) -> Iterator[Any]:
    """Call with ``start_chat_server`` keywords; every server started is stopped at teardown."""
    with contextlib.ExitStack() as stack:
        counter = iter(range(1_000_000))

        def start(**opts: Any) -> ServerHandle:
            opts.setdefault("log_name", f"server-{next(counter)}.jsonl")
            return stack.enter_context(start_chat_server(tmp_path, **opts))

        yield start


def make_request(
    prompt: str = "How much confidence do you have in banks? Answer 1-5.",
    *,
    answers: str = "sampled",
    codes: tuple[int, ...] = (1, 2, 3, 4, 5),
    tokens: tuple[str, ...] | None = None,
    system: str | None = "You are a survey respondent.",
    seed: int | None = 7,
    persona: str = "P001",
    item: str = "gss.CONFINAN",
    replicate: int = 0,
    condition: str = "base",
    model: str = "m",
) -> Any:
    """A plan ``Request`` built by hand (tests of backends need no plan compiler)."""
    from silspec.plan.hashing import request_id
    from silspec.plan.model import Message, Request

    messages = ((Message("system", system),) if system else ()) + (Message("user", prompt),)
    tokens = tokens if tokens is not None else tuple(str(c) for c in codes)
    rid = request_id(
        backend="test", model_id=model, params={}, answers=answers, option_codes=codes,
        option_tokens=tokens, messages=messages, replicate=replicate, seed=seed,
    )
    return Request(
        id=rid, condition=condition, model=model, item=item, persona=persona,
        replicate=replicate, answers=answers, messages=messages, option_codes=codes,
        option_tokens=tokens, seed=seed,
    )


def wire_messages(request: Any) -> list[dict[str, str]]:
    """The messages as they travel (what the scripted respondent hashes)."""
    return [{"role": m.role, "content": m.content} for m in request.messages]
