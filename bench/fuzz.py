"""Fuzz the front end with seeded hostile mutants of the shipped specs, in-process and via the CLI.

    .venv/bin/python bench/fuzz.py [--inprocess 10000] [--cli 300] [--seed 0] [--workers 2]

In-process: each mutant goes through ``load_text`` and, when it checks clean, lint's last pass
(the plan's renderer), then its diagnostics are rendered as text, JSON and GitHub annotations.
Per input: wall time and memory (the worker's peak RSS after the input, an upper bound; or
with ``--tracemalloc`` the input's own peak of Python allocations, 2-3x slower). Failures: a
traceback, an ``SIL000`` internal error, or a diagnostic without a location.

CLI: mutants written to files and run as ``silspec lint --format json`` and ``silspec fmt
--check`` subprocesses (a third of them with hostile ``--set`` values); per input: wall time
and the child's max RSS (``os.wait4``). Failures: an exit outside {0, 1, 2}, a traceback on
stderr, or a run over the time limit.

Targets: 0 failures, every input decided in < 5 s and < 500 MB. Prints the worst inputs.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import traceback
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.check.mutants import mutant  # noqa: E402

TIME_LIMIT_S = 5.0
MEMORY_LIMIT_MB = 500.0
ENV = {"HF_HUB_OFFLINE": "1"}
HOSTILE_SETS = ["model.{m}.delay=500", 'model.{m}.api_key=env("PATH")', "model.{m}.timeout=0s",
                "study.{s}.seed=" + "9" * 5000, 'study.{s}.title="\\q"', "model.{m}.temperature=hot",
                "analysis.metric.js.form=similarity", "model.{m}.base_url=http://user:pass@127.0.0.1:1/v1"]


def _one_in_process(seed: int) -> dict:
    from rich.console import Console

    from silspec.lang.diagnostics import render_github, render_text, to_json
    from silspec.plan.render_check import render_diagnostics
    from silspec.spec.load import load_text

    source, text = mutant(seed)
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()
    start = time.perf_counter()
    failure = None
    try:
        result = load_text(text, str(source), env=ENV)
        diagnostics = list(result.diagnostics)
        if result.spec is not None:
            diagnostics += render_diagnostics(result.spec)
        render_text(diagnostics, result.sources(), Console(file=io.StringIO(), width=120))
        to_json(diagnostics)
        render_github(diagnostics)
        internal = [d for d in diagnostics if d.code == "SIL000"]
        unlocated = [d for d in diagnostics if d.code != "SIL000" and (d.span is None or d.span.line < 1)]
        if internal:
            failure = f"SIL000: {internal[0].message}"
        elif unlocated:
            failure = f"no location: {unlocated[0].code} {unlocated[0].message}"
    except BaseException:  # noqa: BLE001 - a fuzzer records everything
        failure = traceback.format_exc()
    seconds = time.perf_counter() - start
    if tracemalloc.is_tracing():
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    else:  # the worker's peak RSS so far: an upper bound on this input's peak
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seed": seed, "source": source.name, "s": seconds, "mb": peak_mb, "failure": failure}


def _worker(args: tuple[list[int], bool]) -> list[dict]:
    seeds, trace = args
    if trace:
        tracemalloc.start()
    from silspec.spec.load import load_text  # warm imports outside the timed region

    load_text("silspec 1\n", "warm.sil", env=ENV)
    return [_one_in_process(seed) for seed in seeds]


def run_in_process(n: int, first_seed: int, workers: int, trace: bool) -> list[dict]:
    seeds = list(range(first_seed, first_seed + n))
    chunks = [(seeds[i::workers], trace) for i in range(workers)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        parts = pool.map(_worker, chunks)
    return [r for part in parts for r in part]


def _run_child(argv: list[str], cwd: str) -> tuple[int, float, float, str]:
    """(exit code, seconds, max RSS MB, stderr) of one CLI run, killed after 3x the time limit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **ENV}
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=cwd, env=env)
        deadline = start + 3 * TIME_LIMIT_S + 5
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return proc.returncode, seconds, usage.ru_maxrss / 1024, stderr


def run_cli(n: int, first_seed: int) -> list[dict]:
    out = []
    rng = random.Random(first_seed)
    with tempfile.TemporaryDirectory(dir=ROOT / "specs") as folder:  # inside the tree: its data resolves
        for k in range(n):
            seed = first_seed + 1_000_000 + k
            source, text = mutant(seed)
            path = Path(folder) / f"m{seed}.sil"
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            if k % 3 == 2:
                sets = []
                for template in rng.sample(HOSTILE_SETS, 2):
                    sets += ["--set", template.format(m=rng.choice(["gpt52", "m", "hcx"]),
                                                      s=rng.choice(["kgss_like", "kgss2023", "s"]))]
                argv = [sys.executable, "-m", "silspec.cli.main", "lint", "--format", "json", str(path), *sets]
            elif k % 3 == 1:
                argv = [sys.executable, "-m", "silspec.cli.main", "fmt", "--check", str(path)]
            else:
                argv = [sys.executable, "-m", "silspec.cli.main", "lint", str(path)]
            code, seconds, mb, stderr = _run_child(argv, str(ROOT))
            failure = None
            if code not in (0, 1, 2):
                failure = f"exit {code}"
            if "Traceback" in stderr:
                failure = (failure or "") + " traceback:\n" + stderr[-2000:]
            out.append({"seed": seed, "source": source.name, "argv": " ".join(argv[3:5]), "s": seconds, "mb": mb,
                        "failure": failure})
    return out


def summarise(name: str, results: list[dict], memory: str = "child max RSS") -> int:
    if not results:
        return 0
    failures = [r for r in results if r["failure"]]
    slow = [r for r in results if r["s"] >= TIME_LIMIT_S]
    heavy = [r for r in results if r["mb"] >= MEMORY_LIMIT_MB]
    worst_s = max(results, key=lambda r: r["s"])
    worst_mb = max(results, key=lambda r: r["mb"])
    print(f"\n{name}: {len(results):,} inputs, {len(failures)} failures, {len(slow)} over {TIME_LIMIT_S:g} s, "
          f"{len(heavy)} over {MEMORY_LIMIT_MB:g} MB")
    print(f"  max time   {worst_s['s']:.2f} s (seed {worst_s['seed']}, {worst_s['source']})")
    print(f"  max memory {worst_mb['mb']:.1f} MB (seed {worst_mb['seed']}, {worst_mb['source']})"
          + f"  [{memory}]")
    for r in failures[:10]:
        print(f"  FAILURE seed {r['seed']} ({r['source']}): {r['failure'][:1500]}")
    return len(failures) + len(slow) + len(heavy)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inprocess", type=int, default=10_000, help="mutants run in-process")
    parser.add_argument("--cli", type=int, default=300, help="mutants run through the CLI")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--workers", type=int, default=2, help="in-process worker processes")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="per-input peak of Python allocations (2-3x slower); default: the worker's "
                             "peak RSS after each input, an upper bound on every input's peak")
    args = parser.parse_args()
    bad = 0
    if args.inprocess:
        start = time.perf_counter()
        results = run_in_process(args.inprocess, args.seed, args.workers, args.tracemalloc)
        bad += summarise("in-process", results, "the input's peak of Python allocations" if args.tracemalloc
                         else "the worker's peak RSS after the input (an upper bound)")
        print(f"  wall       {time.perf_counter() - start:.0f} s with {args.workers} workers")
    if args.cli:
        start = time.perf_counter()
        bad += summarise("CLI", run_cli(args.cli, args.seed))
        print(f"  wall       {time.perf_counter() - start:.0f} s")
    print("\nresult:", "OK" if not bad else f"{bad} problem input(s)")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
