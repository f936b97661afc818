"""API throughput: silspec's runner against a plain SDK loop and the wire's limit, interleaved.

Ways to send the same N chat requests at concurrency C to the test server
(``tests/servers/chat_server.py``, a real process):

- **floor**:   bare asyncio streams, C keep-alive HTTP/1.1 connections, no client library;
- **durable**: the floor plus what any client that keeps every answer must do: decode the reply's
               JSON and commit an answer row with its attempt row to silspec's SQLite store
               through silspec's own group commit (``silspec.run.committer``: the answers of one
               event-loop turn in one transaction, WAL, ``synchronous=NORMAL``), as silspec
               does: the floor of a durable client;
- **plain**:   the official ``AsyncOpenAI`` client under an ``asyncio.Semaphore`` (how the KGSS
               study's scripts ask), no store;
- **silspec**: ``run_plan`` — the executor, the ``openai`` backend, live parsing, and every
               answer with its attempt committed before it counts (every answer checked in the
               store afterwards);
- with ``--transports`` also bare ``httpx2`` and ``aiohttp`` loops (POST + ``json.loads``), the
  two candidate transports for the backends.

The clients are interleaved (A B C A B C ..., ``--rounds`` rounds, default 3) so that a busy
machine slows all of them alike, and the medians are reported: requests/s, client CPU per
request (this process's CPU time / requests: run set-up and store writes included for silspec),
and silspec's ratios to the plain loop and to the floor. Each row also gives the 1-minute load
average at its start: the machine is shared.

The workload: 100 personas x 6 items (600 requests), each a system message with the persona
and a user message with the item, and a larger one (``--big``, default 5,000) of the same shape.

    python bench/api_throughput.py                         # the grid: 600 and 5,000 requests,
                                                           # concurrency 20/50/100, latency 100/0 ms
    python bench/api_throughput.py --sizes 600 --concurrency 100 --latency-ms 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from silspec.plan.hashing import plan_hash, request_id  # noqa: E402
from silspec.plan.model import (  # noqa: E402
    Message, Persona, Plan, PlanCondition, PlanHeader, PlanItem, PlanModel, Request,
)
from silspec.spec.model import Parser  # noqa: E402

CODES = (1, 2, 3, 4, 5)
ITEMS_PER_PERSONA = 6


def workload(n: int, tag: str) -> list[list[dict[str, str]]]:
    """n chat conversations: personas x 6 items, a persona system prompt and an item question."""
    conversations = []
    for i in range(n):
        persona, item = divmod(i, ITEMS_PER_PERSONA)
        system = (f"You are respondent {tag}-{persona}: a {30 + persona % 40}-year-old "
                  f"{'woman' if persona % 2 else 'man'} from region {persona % 17}, with "
                  f"{['primary', 'secondary', 'tertiary'][persona % 3]} education, working in sector "
                  f"{persona % 11}. Answer survey questions as this person would.")
        user = (f"Question {item + 1}: How much do you agree with statement {item + 1}? "
                "Answer with one number from 1 (strongly disagree) to 5 (strongly agree).")
        conversations.append([{"role": "system", "content": system}, {"role": "user", "content": user}])
    return conversations


def build_plan(conversations: list[list[dict[str, str]]], base_url: str, concurrency: int) -> Plan:
    model = PlanModel(name="bench", backend="openai", model_id="bench-model", base_url=base_url,
                      concurrency=concurrency, timeout_s=60.0)
    item = PlanItem(id="s.Q", code="Q", text="Q", codes=CODES, labels=tuple(map(str, CODES)), midpoint=3)
    requests = []
    for i, conversation in enumerate(conversations):
        messages = tuple(Message(m["role"], m["content"]) for m in conversation)
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


# ------------------------------------------------------------------------------ the clients


async def _bare_post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, messages: list) -> bytes:
    """One chat request on a kept-alive connection, written by hand; the reply's body."""
    body = json.dumps({"model": "bench-model", "messages": messages}).encode()
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
    return await reader.readexactly(length)


async def floor(port: int, conversations: list, concurrency: int) -> None:
    """C keep-alive connections, each sending its share back to back: the transport's limit."""
    queue = list(reversed(conversations))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                await _bare_post(reader, writer, queue.pop())
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))


async def durable_floor(port: int, conversations: list, concurrency: int, run_dir: str) -> None:
    """The floor's connections, each reply decoded and stored (answer + attempt, committed with
    the other replies of its event-loop turn, as silspec commits them)."""
    from silspec.run.committer import Committer
    from silspec.run.executor import GuardedStore
    from silspec.run.records import AnswerRecord, AttemptRecord
    from silspec.run.store import Store

    store = Store.open(run_dir)

    def orphaned(record: AnswerRecord, error: BaseException) -> None:
        raise SystemExit(f"durable floor: {record.request_id} was not stored: {error}")

    committer = Committer(GuardedStore(store), orphaned)
    queue = list(reversed(list(enumerate(conversations))))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                n, messages = queue.pop()
                started = time.time()
                reply = json.loads(await _bare_post(reader, writer, messages))
                text = reply["choices"][0]["message"]["content"]
                at = str(time.time())
                attempt = AttemptRecord(f"r{n}", 1, text, None, None, time.time() - started, at)
                await committer.keep(AnswerRecord(
                    request_id=f"r{n}", condition="c", model="bench", model_id="bench-model", item="s.Q",
                    persona=f"P{n}", replicate=0, answers="sampled", params={}, prompt_hash="",
                    outcome="answered", raw_text=text, parsed_code=None, attempts=1,
                    latency_s=time.time() - started, started_at=str(started), finished_at=at, meta={}),
                    attempt, lambda: None)
        finally:
            writer.close()

    try:
        await asyncio.gather(*(connection() for _ in range(concurrency)))
        (stored,) = store._db.execute("SELECT COUNT(*) FROM answers").fetchone()
        if stored != len(conversations):
            raise SystemExit(f"durable floor stored {stored} answers of {len(conversations)}")
    finally:
        store.close()


async def plain(base_url: str, conversations: list, concurrency: int) -> None:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="x", base_url=base_url, max_retries=0, timeout=60.0)
    semaphore = asyncio.Semaphore(concurrency)

    async def ask(messages: list) -> str:
        async with semaphore:
            completion = await client.chat.completions.create(model="bench-model", messages=messages)
            return completion.choices[0].message.content or ""

    await asyncio.gather(*(ask(m) for m in conversations))
    await client.close()


async def httpx2_loop(base_url: str, conversations: list, concurrency: int) -> None:
    import httpx2

    client = httpx2.AsyncClient(timeout=httpx2.Timeout(60.0),
                                limits=httpx2.Limits(max_connections=concurrency))
    semaphore = asyncio.Semaphore(concurrency)
    headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}

    async def ask(messages: list) -> str:
        async with semaphore:
            body = json.dumps({"model": "bench-model", "messages": messages}).encode()
            response = await client.post(base_url + "/chat/completions", content=body, headers=headers)
            return json.loads(response.content)["choices"][0]["message"]["content"]

    await asyncio.gather(*(ask(m) for m in conversations))
    await client.aclose()


async def aiohttp_loop(base_url: str, conversations: list, concurrency: int) -> None:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency),
                                    timeout=aiohttp.ClientTimeout(total=60.0))
    semaphore = asyncio.Semaphore(concurrency)
    headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}

    async def ask(messages: list) -> str:
        async with semaphore:
            body = json.dumps({"model": "bench-model", "messages": messages}).encode()
            async with session.post(base_url + "/chat/completions", data=body, headers=headers) as response:
                content = await response.read()
            return json.loads(content)["choices"][0]["message"]["content"]

    await asyncio.gather(*(ask(m) for m in conversations))
    await session.close()


def silspec_run(base_url: str, conversations: list, concurrency: int) -> None:
    from silspec.run.runner import run_plan

    plan = build_plan(conversations, base_url, concurrency)
    with tempfile.TemporaryDirectory() as run_dir:
        summary = run_plan(plan, run_dir, env={})
        if summary.exit_code != 0:
            raise SystemExit(f"silspec run did not complete: {summary}")
        with sqlite3.connect(Path(run_dir) / "store.sqlite") as db:  # durably stored, every one
            (stored,) = db.execute("SELECT COUNT(DISTINCT request_id) FROM answers").fetchone()
        if stored != len(conversations):
            raise SystemExit(f"silspec stored {stored} answers of {len(conversations)}")


# ----------------------------------------------------------------------------------- measuring


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(run: Callable[[], None], n: int) -> tuple[float, float, float]:
    """(requests/s, client CPU ms per request, load average at the start) of one run."""
    load = os.getloadavg()[0]
    cpu, start = cpu_seconds(), time.perf_counter()
    run()
    elapsed, used = time.perf_counter() - start, cpu_seconds() - cpu
    return n / elapsed, used / n * 1000.0, load


def _in_temp_dir(run: Callable[[str], None]) -> None:
    with tempfile.TemporaryDirectory() as run_dir:
        run(run_dir)


def cell(server, n: int, concurrency: int, rounds: int, transports: bool) -> dict[str, list]:
    clients: dict[str, Callable[[list], None]] = {
        "floor": lambda convs: asyncio.run(floor(server.port, convs, concurrency)),
        "durable": lambda convs: _in_temp_dir(
            lambda d: asyncio.run(durable_floor(server.port, convs, concurrency, d))),
        "plain": lambda convs: asyncio.run(plain(server.url, convs, concurrency)),
        "silspec": lambda convs: silspec_run(server.url, convs, concurrency),
    }
    if transports:
        clients["httpx2"] = lambda convs: asyncio.run(httpx2_loop(server.url, convs, concurrency))
        clients["aiohttp"] = lambda convs: asyncio.run(aiohttp_loop(server.url, convs, concurrency))
    results: dict[str, list] = {name: [] for name in clients}
    for round_no in range(rounds):
        for name, client in clients.items():  # A B C A B C ...: interleaved
            conversations = workload(n, f"{name}{round_no}c{concurrency}")
            results[name].append(measure(lambda: client(conversations), n))
    return results


def report(n: int, concurrency: int, latency_ms: float, results: dict[str, list]) -> dict:
    median = {name: (statistics.median(r for r, _, _ in runs), statistics.median(c for _, c, _ in runs))
              for name, runs in results.items()}
    loads = [load for runs in results.values() for _, _, load in runs]
    ours = median["silspec"][0]
    row = {
        "requests": n, "concurrency": concurrency, "latency_ms": latency_ms,
        "rates": {name: round(rate, 1) for name, (rate, _) in median.items()},
        "cpu_ms_per_request": {name: round(cpu, 3) for name, (_, cpu) in median.items()},
        "silspec/plain": round(ours / median["plain"][0], 2),
        "silspec/floor": round(ours / median["floor"][0], 2),
        "silspec/durable": round(ours / median["durable"][0], 2),
        "durable/floor": round(median["durable"][0] / median["floor"][0], 2),
        "load": [round(min(loads), 2), round(max(loads), 2)],
        "rounds": len(next(iter(results.values()))),
    }
    rates = "  ".join(f"{name} {rate:7.1f}/s {cpu:5.2f}ms" for name, (rate, cpu) in median.items())
    print(f"n={n:5d} c={concurrency:3d} lat={latency_ms:3g}ms | {rates} | silspec/plain "
          f"{row['silspec/plain']:.2f} silspec/floor {row['silspec/floor']:.2f} silspec/durable "
          f"{row['silspec/durable']:.2f} durable/floor {row['durable/floor']:.2f} | load "
          f"{row['load'][0]:.1f}-{row['load'][1]:.1f}", flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[600, 5000])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[20, 50, 100])
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[100.0, 0.0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--transports", action="store_true", help="also bare httpx2 and aiohttp loops")
    parser.add_argument("--json", type=Path, help="write the rows here as JSON")
    args = parser.parse_args()

    from tests.servers.fixtures import start_chat_server

    # every client's imports before the first round: no round pays for one (they stay cached)
    import openai  # noqa: F401
    import silspec.run.runner  # noqa: F401
    import silspec.run.store  # noqa: F401
    from silspec.run.backends import openai_chat  # noqa: F401

    rows = []
    print(f"medians of {args.rounds} interleaved rounds; rate, client CPU per request; load = 1-min average")
    with tempfile.TemporaryDirectory() as tmp:
        for latency_ms in args.latency_ms:
            with start_chat_server(Path(tmp), latency_ms=latency_ms, log_name=f"bench{latency_ms:g}.jsonl") as server:
                asyncio.run(floor(server.port, workload(200, "warm"), 20))  # warm the server
                for n in args.sizes:
                    for concurrency in args.concurrency:
                        results = cell(server, n, concurrency, args.rounds, args.transports)
                        rows.append(report(n, concurrency, latency_ms, results))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
