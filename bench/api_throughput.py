"""API throughput: silspec's executor against what the machine and the client allow, same run.

Three ways to send the same N chat requests at concurrency C to the test server
(``tests/servers/chat_server.py``, a real process):

- **floor**:   bare asyncio streams, C keep-alive HTTP/1.1 connections, no client library;
- **plain**:   the official ``AsyncOpenAI`` client under an ``asyncio.Semaphore`` (how the KGSS
               study's scripts ask), no store;
- **silspec**: ``run_plan`` — the executor, the ``openai`` backend, live parsing, and a SQLite
               commit per answer and per attempt.

Prints requests/s and the ratios silspec/floor and silspec/plain. With ``--latency-ms`` the
server sleeps per request and the ideal is ``C / latency``; ``--sweep`` runs the issue's grid
(100 ms latency, concurrency 10/50/100) and reports achieved / ideal, plus a sequential loop.

    python bench/api_throughput.py                      # 5,000 requests at concurrency 100
    python bench/api_throughput.py --sweep --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from silspec.plan.hashing import plan_hash, request_id  # noqa: E402
from silspec.plan.model import (  # noqa: E402
    Message, Persona, Plan, PlanCondition, PlanHeader, PlanItem, PlanModel, Request,
)
from silspec.spec.model import Parser  # noqa: E402

CODES = (1, 2, 3, 4, 5)


def prompts(n: int, tag: str) -> list[str]:
    return [f"[{tag} {i}] How much do you agree? Answer with one number from 1 to 5." for i in range(n)]


def build_plan(texts: list[str], base_url: str, concurrency: int) -> Plan:
    model = PlanModel(name="bench", backend="openai", model_id="bench-model", base_url=base_url,
                      concurrency=concurrency, timeout_s=60.0)
    item = PlanItem(id="s.Q", code="Q", text="Q", codes=CODES, labels=tuple(map(str, CODES)), midpoint=3)
    requests = []
    for i, text in enumerate(texts):
        messages = (Message("user", text),)
        rid = request_id(backend="openai", model_id=model.model_id, params={}, answers="sampled",
                         option_codes=CODES, option_tokens=tuple(map(str, CODES)), messages=messages,
                         replicate=0, seed=None)
        requests.append(Request(id=rid, condition="c", model="bench", item=item.id, persona=f"P{i}",
                                replicate=0, answers="sampled", messages=messages, option_codes=CODES,
                                option_tokens=tuple(map(str, CODES))))
    header = PlanHeader(
        silspec_version="bench", study="bench", seed=0, spec_hash="", spec_path="bench.sil", overrides=(),
        models={"bench": model},
        conditions={"c": PlanCondition(name="c", model="bench", parser=Parser("p"), answers="sampled",
                                       items=(item.id,), persona_ids=())},
        items={item.id: item}, personas={"P0": Persona(id="P0")}, templates={},
    )
    return Plan(header=header, requests=tuple(requests), plan_hash=plan_hash(r.id for r in requests))


# ------------------------------------------------------------------------------ the three ways


async def floor(port: int, texts: list[str], concurrency: int) -> float:
    """C keep-alive connections, each sending its share back to back: the transport's limit."""
    queue = list(reversed(texts))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                text = queue.pop()
                body = json.dumps({"model": "bench-model",
                                   "messages": [{"role": "user", "content": text}]}).encode()
                writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Content-Type: application/json\r\nAuthorization: Bearer x\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return len(texts) / (time.perf_counter() - start)


async def plain(base_url: str, texts: list[str], concurrency: int) -> float:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="x", base_url=base_url, max_retries=0, timeout=60.0)
    semaphore = asyncio.Semaphore(concurrency)

    async def ask(text: str) -> str:
        async with semaphore:
            completion = await client.chat.completions.create(
                model="bench-model", messages=[{"role": "user", "content": text}])
            return completion.choices[0].message.content or ""

    start = time.perf_counter()
    await asyncio.gather(*(ask(t) for t in texts))
    rate = len(texts) / (time.perf_counter() - start)
    await client.close()
    return rate


def sequential(base_url: str, texts: list[str]) -> float:
    """One request after another with the sync client (what a naive script does)."""
    from openai import OpenAI

    client = OpenAI(api_key="x", base_url=base_url, max_retries=0, timeout=60.0)
    start = time.perf_counter()
    for text in texts:
        client.chat.completions.create(model="bench-model", messages=[{"role": "user", "content": text}])
    rate = len(texts) / (time.perf_counter() - start)
    client.close()
    return rate


def silspec_run(base_url: str, texts: list[str], concurrency: int) -> float:
    from silspec.run.runner import run_plan

    plan = build_plan(texts, base_url, concurrency)
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        summary = run_plan(plan, run_dir, env={})
        elapsed = time.perf_counter() - start
    if summary.exit_code != 0:
        raise SystemExit(f"silspec run did not complete: {summary}")
    return len(texts) / elapsed


# ----------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--sweep", action="store_true", help="100 ms latency at concurrency 10/50/100")
    args = parser.parse_args()

    from tests.servers.fixtures import start_chat_server

    with tempfile.TemporaryDirectory() as tmp:
        if args.sweep:
            return sweep(Path(tmp), args.requests, start_chat_server)
        with start_chat_server(Path(tmp), latency_ms=args.latency_ms, log_name="bench.jsonl") as server:
            n, c = args.requests, args.concurrency
            asyncio.run(floor(server.port, prompts(200, "warm"), min(c, 20)))  # warm the server
            rates = {
                "floor (bare sockets)": asyncio.run(floor(server.port, prompts(n, "floor"), c)),
                "plain AsyncOpenAI + semaphore": asyncio.run(plain(server.url, prompts(n, "plain"), c)),
                "silspec run_plan": silspec_run(server.url, prompts(n, "silspec"), c),
            }
    print(f"{n} requests, concurrency {c}, server latency {args.latency_ms:g} ms")
    for name, rate in rates.items():
        print(f"  {name:32s} {rate:8.1f} req/s")
    ours = rates["silspec run_plan"]
    print(f"  silspec / floor = {ours / rates['floor (bare sockets)']:.2f}")
    print(f"  silspec / plain = {ours / rates['plain AsyncOpenAI + semaphore']:.2f}")
    return 0


def sweep(tmp: Path, n: int, start_chat_server) -> int:
    latency_s = 0.1
    with start_chat_server(tmp, latency_ms=latency_s * 1000, log_name="sweep.jsonl") as server:
        seq = sequential(server.url, prompts(30, "seq"))
        print(f"server latency {latency_s * 1000:g} ms; {n} requests per cell")
        print(f"  sequential loop (sync client): {seq:.1f} req/s = {seq * latency_s:.2f} of 1/latency")
        print(f"  {'concurrency':>11} {'ideal':>8} {'plain':>8} {'silspec':>8} {'silspec/ideal':>14} {'silspec/plain':>14}")
        for concurrency in (10, 50, 100):
            ideal = concurrency / latency_s
            rate_plain = asyncio.run(plain(server.url, prompts(n, f"plain{concurrency}"), concurrency))
            rate_ours = silspec_run(server.url, prompts(n, f"silspec{concurrency}"), concurrency)
            print(f"  {concurrency:>11} {ideal:>8.0f} {rate_plain:>8.1f} {rate_ours:>8.1f}"
                  f" {rate_ours / ideal:>14.2f} {rate_ours / rate_plain:>14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
