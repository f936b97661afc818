"""In-process fakes for runner tests: plans built from ``Request`` objects, scripted backends.

A ``ScriptedBackend`` answers from a function ``script(request, attempt) -> BackendAnswer |
Exception`` and logs every call (request id, attempt, monotonic time), so tests assert what was
asked without a network.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any, Callable

from silspec.plan.hashing import plan_hash, request_id
from silspec.plan.model import (
    Message, Persona, Plan, PlanCondition, PlanHeader, PlanItem, PlanModel, Request,
)
from silspec.run.backends import registry
from silspec.run.backends.base import BackendAnswer
from silspec.spec.model import Backoff, Parser

FAST_BACKOFF = Backoff(base=0.001, max_s=0.01, jitter=True)
_names = itertools.count()


def item(code: str = "Q1", codes: tuple[int, ...] = (1, 2, 3, 4, 5)) -> PlanItem:
    return PlanItem(
        id=f"s.{code}", code=code, text=f"How about {code}?", codes=codes,
        labels=tuple(f"label {c}" for c in codes), midpoint=codes[len(codes) // 2],
    )


def model(name: str, backend: str, **kwargs: Any) -> PlanModel:
    kwargs.setdefault("backoff", FAST_BACKOFF)
    kwargs.setdefault("timeout_s", 5.0)
    return PlanModel(name=name, backend=backend, model_id=f"{name}-id", **kwargs)


def requests_for(condition: str, model_name: str, items: list[PlanItem], personas: int,
                 *, backend: str = "fake", marker: str = "") -> list[Request]:
    out = []
    for it in items:
        for p in range(personas):
            messages = (Message("user", f"{marker}persona P{p:03d}: {it.text}"),)
            rid = request_id(backend=backend, model_id=f"{model_name}-id", params={},
                             answers="sampled", option_codes=it.codes,
                             option_tokens=tuple(map(str, it.codes)), messages=messages,
                             replicate=0, seed=None)
            out.append(Request(id=rid, condition=condition, model=model_name, item=it.id,
                               persona=f"P{p:03d}", replicate=0, answers="sampled",
                               messages=messages, option_codes=it.codes,
                               option_tokens=tuple(map(str, it.codes))))
    return out


def plan(models: list[PlanModel], conditions: dict[str, tuple[str, Parser]],
         items: list[PlanItem], requests: list[Request]) -> Plan:
    header = PlanHeader(
        silspec_version="0.1.0", study="fakes", seed=1, spec_hash="0" * 64, spec_path="x.sil",
        overrides=(), models={m.name: m for m in models},
        conditions={
            name: PlanCondition(name=name, model=m, parser=parser, answers="sampled",
                                items=tuple(i.id for i in items),
                                persona_ids=tuple(sorted({r.persona for r in requests})),
                                n_requests=sum(r.condition == name for r in requests))
            for name, (m, parser) in conditions.items()
        },
        items={i.id: i for i in items},
        personas={p: Persona(id=p) for p in sorted({r.persona for r in requests})},
        templates={},
    )
    return Plan(header=header, requests=tuple(requests), plan_hash=plan_hash(r.id for r in requests))


def first_code_answer(request: Request, attempt: int) -> BackendAnswer:
    """A deterministic respondent: answers the persona number modulo the scale, plus 1."""
    number = int(request.persona[1:])
    code = request.option_codes[number % len(request.option_codes)]
    return BackendAnswer(text=f"I'd say {code}.", provider_model="fake-2025", prompt_tokens=10,
                         completion_tokens=2)


class CallLog(list):
    def attempts_of(self, rid: str) -> int:
        return sum(1 for call in self if call[0] == rid)


def scripted_backend(script: Callable[[Request, int], Any] = first_code_answer, *,
                     delay_s: float = 0.0, name: str | None = None,
                     max_batch: int | None = None, fail_on_start: Exception | None = None):
    """Register a fresh scripted backend; returns (backend name, call log)."""
    log = CallLog()
    backend_name = name or f"fake{next(_names)}"
    attempts: dict[str, int] = {}

    class ScriptedBackend:
        answer_modes = frozenset({"sampled", "option_probs", "verbalised"})
        closed = False

        def __init__(self, plan_model: PlanModel, *, env):
            if fail_on_start is not None:
                raise fail_on_start
            self.model = plan_model

        async def answer(self, request: Request) -> BackendAnswer:
            attempts[request.id] = attempts.get(request.id, 0) + 1
            log.append((request.id, attempts[request.id], time.monotonic()))
            if delay_s:
                await asyncio.sleep(delay_s)
            result = script(request, attempts[request.id])
            if isinstance(result, BaseException):
                raise result
            return result

        async def aclose(self) -> None:
            ScriptedBackend.closed = True

    ScriptedBackend.name = backend_name
    if max_batch:
        async def answer_batch(self, batch):
            log.append(("batch", len(batch), time.monotonic()))
            out = []
            for request in batch:
                attempts[request.id] = attempts.get(request.id, 0) + 1
                result = script(request, attempts[request.id])
                out.append(result)
            return out

        ScriptedBackend.answer_batch = answer_batch
        ScriptedBackend.max_batch = max_batch
    registry.register(backend_name, ScriptedBackend)
    return backend_name, log, ScriptedBackend
