"""Backend factories for the Ray engine tests: picklable (module-level classes), so a Ray worker
process builds them from this module, and they report through files, the one channel a killed
worker process cannot take back.

- ``CountingFactory(log)``: the real backend (``hf``, ``openai``, ...) with every request that
  reaches the model logged as ``pid<TAB>request id`` (appended, one line per request, before the
  model sees it), so a test counts how often each id was asked and by how many processes.
- ``block_after=k`` (with ``marker``): the first worker process to make its (k+1)-th call (and
  only that one, across every process: the marker is created with O_EXCL) writes its pid and the
  ids it has answered to ``marker`` and blocks without asking the model: a worker frozen
  between two calls, for the test to kill (``os.kill(pid, SIGKILL)``) once those answers are
  stored on the driver.
- ``DyingFactory()``: a lane whose worker process kills itself (SIGKILL) on its first call,
  before asking anything: a worker lost every time it is started.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any, Sequence

from attrs import frozen

from silspec.plan.model import PlanModel, Request
from silspec.run.backends.base import BackendAnswer
from silspec.run.backends.registry import get_backend


@frozen
class CountingFactory:
    log: str
    marker: str | None = None
    block_after: int | None = None

    def __call__(self, name: str) -> Any:
        inner = get_backend(name)
        settings = self

        class Counting(inner):  # type: ignore[misc, valid-type]
            calls = 0
            answered: list[str] = []

            inside_answer = False  # hf's answer() goes through answer_batch: count it once

            async def answer(self, request: Request) -> BackendAnswer:
                await settings.before([request], self)
                self.inside_answer = True
                try:
                    answer = await super().answer(request)
                finally:
                    self.inside_answer = False
                self.answered.append(request.id)
                return answer

            async def answer_batch(self, requests: Sequence[Request]) -> list[Any]:
                if self.inside_answer:
                    return await super().answer_batch(requests)
                await settings.before(requests, self)
                results = await super().answer_batch(requests)
                self.answered.extend(r.id for r in requests)
                return results

        Counting.__name__ = f"Counting{inner.__name__}"
        if not hasattr(inner, "answer_batch"):
            del Counting.answer_batch
        return Counting

    async def before(self, requests: Sequence[Request], backend: Any) -> None:
        type(backend).calls += 1
        if self.block_after is not None and self.marker and type(backend).calls > self.block_after:
            try:
                fd = os.open(self.marker + ".lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                Path(self.marker + ".tmp").write_text(
                    json.dumps({"pid": os.getpid(), "answered": list(type(backend).answered)}), "utf-8")
                os.replace(self.marker + ".tmp", self.marker)
                await asyncio.sleep(120)  # killed long before; if not, the test fails, never hangs
        with open(self.log, "a", encoding="utf-8") as handle:
            handle.write("".join(f"{os.getpid()}\t{r.id}\n" for r in requests))


def asked(log: str | Path) -> list[tuple[int, str]]:
    """(pid, request id) per request the model saw, in order."""
    path = Path(log)
    if not path.exists():
        return []
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [(int(pid), rid) for pid, rid in rows]


class DyingBackend:
    answer_modes = frozenset({"sampled"})

    def __init__(self, model: PlanModel, *, env: Any):
        self.model = model

    async def answer(self, request: Request) -> BackendAnswer:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        pass


@frozen
class DyingFactory:
    """``dying`` backends die; every other name is the real backend."""

    def __call__(self, name: str) -> Any:
        return DyingBackend if name == "dying" else get_backend(name)
