"""Peak memory and CPU of ``silspec report`` on a large store (issue 11, "Flat memory").

    .venv/bin/python bench/report_memory.py [--sizes 100000 1000000] [--partial] [--keep DIR]
                                            [--answers csv|parquet]

Builds a synthetic run directory per size: the KGSS replay spec (``specs/kgss_paper_replay.sil``)
is run once for real (100 personas x 6 items x 2 conditions, replayed from the paper's recorded
answers), then its 1,200 stored rows are copied, with new request ids and persona ids and
re-drawn codes, until the store holds N answers. The rows are written through the store's own
row mapping (``answer_to_row``) in large transactions; the plan membership tables and
``plan_header.json`` are grown to match, so the report sees one complete plan of N requests.
``--partial`` leaves 1 % of the plan unanswered, so the report must look the current plan up
(the ``plan_requests`` path) instead of trusting a complete one. ``--probs`` stores every answer
as a probability vector (``option_probs`` rows with the current definition's scorer hash), the
heavier kind of row for the analysis.

Then ``silspec report RUN --format json > /dev/null`` runs in a child process and the bench
prints its peak RSS (``getrusage(RUSAGE_CHILDREN).ru_maxrss``) and CPU (user + sys).
Target: 1M answers in < 500 MB and < 60 s CPU. Print ``uptime`` with the figures: the machine
is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from silspec.run.store import Store, answer_to_row  # noqa: E402

SPEC = ROOT / "specs" / "kgss_paper_replay.sil"
CHUNK = 20_000


def silspec(*args: str, stdout=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "silspec.cli.main", *args], cwd=ROOT, env=env,
                          stdout=stdout, stderr=subprocess.PIPE, text=True, check=True)


def option_probs_scorers(run_dir: Path) -> dict[tuple[str, str], str]:
    """(condition, item) -> the scorer hash an option_probs verdict gets under the bundled spec."""
    from silspec.answers import scorer_hash
    from silspec.plan.compile import build_plan_item
    from silspec.spec.load import load_spec

    spec = load_spec(str(SPEC)).spec
    return {(c.name, item.id): scorer_hash(answers="option_probs", parser=spec.parsers[c.parser],
                                           item=build_plan_item(item))
            for c in spec.conditions.values() for item in spec.all_items()}


def build(run_dir: Path, n: int, *, partial: bool, probs: bool = False) -> None:
    """A run directory holding ``n`` answers of one plan (``partial``: the plan has 1 % more)."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    silspec("run", str(SPEC), "--out", str(run_dir))
    rng = random.Random(0)
    scorers = option_probs_scorers(run_dir) if probs else {}
    with Store.open(run_dir, create=False) as store:
        seeds = list(store.iter_answers())
        db = store._db  # bulk load: one transaction per chunk, not one commit per answer
        plan_hash = db.execute("SELECT plan_hash FROM plans").fetchone()[0]
        db.execute("DELETE FROM answers")
        db.execute("DELETE FROM plan_requests")
        n_plan = n + (n // 100 if partial else 0)
        columns = None
        written = 0
        while written < n_plan:
            rows, members = [], []
            for _ in range(min(CHUNK, n_plan - written)):
                seed = seeds[written % len(seeds)]
                request_id = f"{written:064x}"
                members.append((plan_hash, request_id))
                if written < n:
                    row = answer_to_row(seed)
                    row.update(request_id=request_id, persona=f"P{written // len(seeds):07d}_{seed.persona}",
                               invocation=1)
                    if row["outcome"] == "answered":
                        row["parsed_code"] = rng.randint(1, 4)
                    if probs:
                        weights = [rng.random() for _ in range(4)]
                        shares = {str(code): w / sum(weights) for code, w in zip(range(1, 5), weights)}
                        row.update(answers="option_probs", outcome="answered", parsed_code=None, defaulted=0,
                                   probs=json.dumps(shares), option_probs=json.dumps(shares), valid_mass=0.9,
                                   scorer=scorers[(seed.condition, seed.item)])
                    rows.append(row)
                written += 1
            db.execute("BEGIN")
            if rows:
                columns = columns or list(rows[0])
                db.executemany(f"INSERT INTO answers ({', '.join(columns)}) VALUES"
                               f" ({', '.join(':' + c for c in columns)})", rows)
            db.executemany("INSERT INTO plan_requests (plan_hash, request_id) VALUES (?, ?)", members)
            db.execute("COMMIT")
        db.execute("UPDATE plans SET n_requests=?", (n_plan,))
    header_path = run_dir / "plan_header.json"
    header = json.loads(header_path.read_text(encoding="utf-8"))
    header["n_requests"] = n_plan
    header_path.write_text(json.dumps(header, sort_keys=True, ensure_ascii=False, indent=1), encoding="utf-8")


MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, wall)
"""


def measure(run_dir: Path, export: tuple[str, ...] = ("--format", "json")) -> tuple[float, float, float]:
    """(peak RSS MB, CPU s, wall s) of one ``silspec report --format json`` (or ``export``: the
    answers table, ``--answers --format csv --out /dev/null``), run as the only child of a fresh
    process (``ru_maxrss`` of children is the largest child ever waited for)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "silspec.cli.main", "report", str(run_dir), *export]
    out = subprocess.run([sys.executable, "-c", MEASURE, *command], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    rss, cpu, wall = (float(v) for v in out)
    return rss, cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--partial", action="store_true", help="leave 1 %% of the plan unanswered")
    parser.add_argument("--probs", action="store_true", help="store option_probs rows (a vector each)")
    parser.add_argument("--keep", type=Path, help="build (or reuse) the run directories here")
    parser.add_argument("--answers", choices=("csv", "parquet"),
                        help="measure the answers table export (silspec report --answers) instead of the report")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="silspec_report_mem_"))
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    for n in args.sizes:
        run_dir = base / f"run_{n}{'_partial' if args.partial else ''}{'_probs' if args.probs else ''}"
        if not (run_dir / "store.sqlite").is_file():
            started = time.perf_counter()
            build(run_dir, n, partial=args.partial, probs=args.probs)
            print(f"built {n:,} answers in {time.perf_counter() - started:.0f} s: {run_dir}")
        if args.answers:
            out = base / f"answers.{args.answers}"
            rss, cpu, wall = measure(run_dir, ("--answers", "--format", args.answers, "--out", str(out)))
            print(f"answers table ({args.answers}) of {n:>9,} answers: peak RSS {rss:7.0f} MB, CPU {cpu:6.1f} s, "
                  f"wall {wall:6.1f} s, {out.stat().st_size / 1e6:.0f} MB written")
            out.unlink()
            continue
        rss, cpu, wall = measure(run_dir)
        target = " (target: < 500 MB, < 60 s CPU)" if n >= 1_000_000 else ""
        print(f"report of {n:>9,} answers: peak RSS {rss:7.0f} MB, CPU {cpu:6.1f} s, wall {wall:6.1f} s{target}")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    if args.keep is None:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
