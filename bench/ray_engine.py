"""The Ray engine's own cost: the same plan through the local executor and `--engine ray`.

The backend answers at once (no model, no network), so what is timed is silspec's path alone:
for the local executor, the executor, scoring and a SQLite commit per answer and attempt; for
Ray, the same executor inside each actor plus the stream of records to the driver, which does
the SQLite writes. Two API-lane models of N/2 requests each (two actors). Reported per round:
wall time, requests/s, the Ray session start (``ray.init``, excluded from the run time) and the
1-minute load average at the start (the machine is shared). Medians over ``--rounds``.

This bounds the driver: one process writing one store takes at most this many answers per
second, whatever the cluster behind it (docs/scale.md uses the figure).

    python bench/ray_engine.py [--requests 10000] [--rounds 2] [--num-cpus 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from silspec.plan.model import PlanModel, Request  # noqa: E402
from silspec.run.backends.base import BackendAnswer  # noqa: E402
from silspec.run.ray_engine import RayEngine  # noqa: E402
from silspec.run.runner import run_plan  # noqa: E402
from silspec.spec.model import Parser  # noqa: E402
from tests.run import _fakes as fk  # noqa: E402


class InstantBackend:
    """Answers the persona's number modulo the scale at once (pickled by value into workers)."""

    answer_modes = frozenset({"sampled"})

    def __init__(self, model: PlanModel, *, env):
        self.model = model

    async def answer(self, request: Request) -> BackendAnswer:
        code = request.option_codes[int(request.persona[1:]) % len(request.option_codes)]
        return BackendAnswer(text=f"I'd say {code}.", prompt_tokens=10, completion_tokens=2)

    async def aclose(self) -> None:
        pass


def instant_factory(name: str):
    return InstantBackend


def make_plan(n: int):
    items = [fk.item(f"Q{i}") for i in range(10)]
    personas = max(1, n // (2 * len(items)))
    a = fk.requests_for("a", "m1", items, personas, backend="instant")
    b = fk.requests_for("b", "m2", items, personas, backend="instant", marker="b ")
    models = [fk.model(m, "instant", concurrency=50) for m in ("m1", "m2")]
    return fk.plan(models, {"a": ("m1", Parser("first")), "b": ("m2", Parser("first"))}, items, a + b)


def timed(plan, engine) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = run_plan(plan, Path(tmp) / "run", env={}, backend_factory=instant_factory, engine=engine)
        elapsed = time.perf_counter() - t0
        assert summary.missing == 0 and summary.total == len(plan.requests), summary
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--num-cpus", type=int, default=2)
    args = parser.parse_args()
    import ray

    plan = make_plan(args.requests)
    n = len(plan.requests)
    t0 = time.perf_counter()
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    start = time.perf_counter() - t0
    results: dict[str, list[float]] = {"local": [], "ray": []}
    try:
        for round_number in range(args.rounds):
            for name, engine in (("local", None), ("ray", RayEngine(workers=2))):
                load = os.getloadavg()[0]
                elapsed = timed(plan, engine)
                results[name].append(elapsed)
                print(f"round {round_number + 1} {name:5s} {n:,} requests {elapsed:6.2f} s"
                      f" {n / elapsed:8,.0f} req/s  load {load:.2f}", flush=True)
    finally:
        ray.shutdown()
    print(f"ray.init (local, {args.num_cpus} CPUs): {start:.1f} s, not counted above")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"median {name:5s} {median:6.2f} s {n / median:8,.0f} req/s")


if __name__ == "__main__":
    main()
