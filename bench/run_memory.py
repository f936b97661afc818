"""Peak memory of `silspec run` on a million-request plan (issue 11, "flat memory": < 500 MB).

    .venv/bin/python bench/run_memory.py [--personas N] [--items 6] [--tree PATH] [--skip-held]

The spec is the synthetic one of ``bench/plan_memory.py`` (one stratified population x 6 items;
default 166,667 personas = 1,000,002 requests) with an ``instant`` backend: registered in the
child process, it answers "2" at once, so what is measured is silspec's own run (compile passes,
executor, a SQLite commit per answer, the summary), not a model. The child runs the real CLI,
``silspec run SPEC --out DIR --quiet --no-report``, and its peak RSS (``ru_maxrss``), CPU and
wall time are printed, with every answer checked in the store afterwards.

Baselines, same plan: ``held`` compiles the plan into memory (``compile_plan``: the tuple of
requests ``silspec run`` held before its plan was streamed) and prints that child's peak RSS;
``--tree PATH`` runs the whole ``silspec run`` from another checkout (e.g. the code before).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from plan_memory import spec_text  # noqa: E402

CHILD = r"""
import resource, sys
from silspec.run.backends import registry
from silspec.run.backends.base import BackendAnswer

class Instant:
    name = "instant"
    answer_modes = frozenset({"sampled"})
    def __init__(self, model, *, env):
        self.model = model
    async def answer(self, request):
        return BackendAnswer(text="2")
    async def aclose(self):
        pass

registry.register("instant", Instant)
mode, spec, out = sys.argv[1:4]
if mode == "held":
    from silspec.plan.compile import compile_plan
    from silspec.run.runner import load_checked_spec
    plan = compile_plan(load_checked_spec(spec))
    print(len(plan.requests), file=sys.stderr)
    code = 0
else:
    from silspec.cli.main import main
    code = main(["run", spec, "--out", out, "--quiet", "--no-report"])
sys.exit(code)
"""


def run_child(mode: str, spec: Path, out: Path, tree: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", CHILD, mode, str(spec), str(out)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=stderr, cwd=str(tree))
        _, status, usage = os.wait4(child.pid, 0)  # this child's rusage alone
        wall = time.perf_counter() - start
        stderr.seek(0)
        err = stderr.read().decode("utf-8", "replace")
    return {"rc": os.waitstatus_to_exitcode(status), "stderr": err[-2000:],
            "peak_rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall}


def line(label: str, result: dict, requests: int) -> str:
    return (f"{label:<28} peak RSS {result['peak_rss_mb']:8.1f} MB  CPU {result['cpu_s']:7.1f} s  "
            f"wall {result['wall_s']:7.1f} s  rc {result['rc']}"
            + (f"\n  {result['stderr'].strip().splitlines()[-1]}" if result["rc"] and result["stderr"].strip() else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--personas", type=int, default=166_667)
    parser.add_argument("--items", type=int, default=6)
    parser.add_argument("--tree", type=Path, help="also run `silspec run` from this checkout (a baseline)")
    parser.add_argument("--skip-held", action="store_true", help="skip the held-plan baseline")
    args = parser.parse_args()
    requests = args.personas * args.items
    print(f"{args.personas:,} personas x {args.items} items = {requests:,} requests; load "
          f"{os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1/5 min); cores {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="silspec-run-memory-") as tmp:
        workdir = Path(tmp)
        spec = workdir / "run_memory.sil"
        spec.write_text(spec_text(args.personas, args.items).replace(
            'backend = openai  name = "gpt-4o-mini"  api_key = env("OPENAI_API_KEY")', "backend = instant  name = \"instant-1\""),
            encoding="utf-8")
        if not args.skip_held:
            print(line("held plan (compile_plan)", run_child("held", spec, workdir / "held", REPO), requests),
                  flush=True)
        trees = [("silspec run (this tree)", REPO)] + ([("silspec run (--tree)", args.tree.resolve())]
                                                       if args.tree else [])
        for label, tree in trees:
            out = workdir / f"run{len(label)}{tree.name}"
            result = run_child("run", spec, out, tree)
            stored = 0
            if (out / "store.sqlite").exists():
                with sqlite3.connect(out / "store.sqlite") as db:
                    stored = db.execute("SELECT count(*) FROM answers").fetchone()[0]
            print(line(label, result, requests) + f"  {stored:,} answers stored"
                  + ("" if label != trees[0][0] else "  (target < 500 MB)"), flush=True)


if __name__ == "__main__":
    main()
