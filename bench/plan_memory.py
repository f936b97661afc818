"""Peak memory and wall time of `silspec plan` on a million personas, and of `silspec report`
on a store of many answers (issue 11, "flat memory").

    .venv/bin/python bench/plan_memory.py [--quick] [--tree PATH] [--skip-report] [--report-answers N]

Plan: a synthetic spec of one stratified population (six attributes, two of them conditional)
x 6 items, written as .sil text into a temp dir; ``silspec plan SPEC --format json > /dev/null``
runs in a child process and its peak RSS (``ru_maxrss`` of the child) and wall time are printed.
Sizes: 1,000,000 personas (``--quick``: 100,000). Target: < 300 MB peak at 1M x 6.

``--tree PATH`` runs the CLI from another checkout (``PYTHONPATH=PATH``), for before/after
figures from one script: e.g. ``--tree /work/main`` for the code before this change.

Report: a run directory is built from the same kind of spec (``--report-answers`` personas x
1 item, default 100,000; ``--quick``: 20,000) by ``silspec run`` with the ``replay`` backend
reading a generated answers file (real runner, real SQLite store); then ``silspec report RUN_DIR
--format json > /dev/null`` runs in a child and its peak RSS and CPU time are printed. Measured only (the report's own restructuring is elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROMPT = """You are a {{ persona.age_group }} {{ persona.gender }} living in {{ persona.region }}.
Your education: {{ persona.education }}. Your work: {{ persona.job }}. Your income: {{ persona.income }}.

Question: {{ item.text }}
Options: {{ item.scale_labels }}
Answer with one number only."""


def spec_text(size: int, n_items: int, answers_csv: str | None = None) -> str:
    """The synthetic spec; with ``answers_csv``, a ``replay`` model reads its answers from there
    and every item has a benchmark, so a report has metrics to compute."""
    bench = ("  benchmark b { values = [20%, 30%, 30%, 20%]  default = true }" if answers_csv else "")
    items = "\n".join(
        f'  item Q{i} {{\n    text = "Question {i}: how much do you agree with statement {i}?"\n'
        f"    scale = four\n{bench}\n  }}"
        for i in range(1, n_items + 1)
    )
    model = (
        f'backend = replay  name = "recorded"  path = file({json.dumps(answers_csv)})' if answers_csv
        else 'backend = openai  name = "gpt-4o-mini"  api_key = env("OPENAI_API_KEY")'
    )
    return f"""silspec 1

study plan_memory {{
  title = "flat memory bench"
  seed = 7
  language = "en"
}}

scale four {{
  1 = "strongly agree"
  2 = "agree"
  3 = "disagree"
  4 = "strongly disagree"
}}

survey s {{
{items}
}}

persona people {{
  age_group = {{ "18-29": 0.2, "30-39": 0.2, "40-49": 0.2, "50-59": 0.2, "60+": 0.2 }}
  gender    = {{ "man": 0.49, "woman": 0.51 }}
  region    = {{ "north": 0.3, "south": 0.3, "east": 0.2, "west": 0.2 }}
  education = by(age_group, {{
    "18-29": {{ "school": 0.3, "college": 0.6, "graduate": 0.1 }},
    "30-39": {{ "school": 0.3, "college": 0.55, "graduate": 0.15 }},
    "40-49": {{ "school": 0.4, "college": 0.5, "graduate": 0.1 }},
    "50-59": {{ "school": 0.5, "college": 0.4, "graduate": 0.1 }},
    "60+":   {{ "school": 0.6, "college": 0.35, "graduate": 0.05 }}
  }})
  job       = by([age_group, gender], {{
    "18-29/man": choices(["student", "clerk"]), "18-29/woman": choices(["student", "nurse"]),
    "30-39/man": choices(["clerk", "engineer"]), "30-39/woman": choices(["teacher", "clerk"]),
    "40-49/man": choices(["manager", "driver"]), "40-49/woman": choices(["manager", "nurse"]),
    "50-59/man": choices(["farmer", "manager"]), "50-59/woman": choices(["teacher", "farmer"]),
    "60+/man": choices(["retired"]), "60+/woman": choices(["retired", "farmer"])
  }})
  income    = {{ "low": 0.3, "middle": 0.5, "high": 0.2 }}
}}

population sample {{ persona = people  size = {size}  sampling = stratified }}

template prompt = {json.dumps(PROMPT)}

parser first {{ extract = first_integer  valid = scale }}

model gpt {{
  {model}
  temperature = 0.7  max_tokens = 5
}}

condition main {{
  model = gpt  population = sample  items = s.*  prompt = prompt  parser = first  answers = sampled
}}
"""


def run_child(argv: list[str], tree: Path) -> dict:
    """Run the silspec CLI with ``argv`` in a child; its own peak RSS (MB), CPU and wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "silspec.cli.main", *argv], env=env,
                                 stdout=subprocess.DEVNULL, stderr=stderr, cwd=str(tree))
        _, status, usage = os.wait4(child.pid, 0)  # this child's rusage, not all children's
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        err = stderr.read().decode("utf-8", "replace")
    return {
        "rc": child.returncode,
        "stderr": err[-2000:],
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: KiB
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "wall_s": wall,
    }


def bench_plan(size: int, n_items: int, tree: Path, workdir: Path) -> dict:
    spec = workdir / f"plan_{size}.sil"
    spec.write_text(spec_text(size, n_items), encoding="utf-8")
    result = run_child(["plan", str(spec), "--format", "json"], tree)
    result.update(personas=size, items=n_items, requests=size * n_items)
    return result


def build_run_dir(size: int, tree: Path, workdir: Path) -> Path:
    """A run directory of ``size`` stored answers (``size`` personas x 1 item), made by the real
    runner (``silspec run``) with the ``replay`` backend reading a generated answers file."""
    width = max(3, len(str(size)))
    rng = random.Random(11)
    answers = workdir / "answers.csv"
    with open(answers, "w", encoding="utf-8") as handle:
        handle.write("persona_id,item,response_raw\n")
        for n in range(1, size + 1):
            handle.write(f"P{n:0{width}d},Q1,{rng.choice('1234')}\n")
    spec = workdir / f"report_{size}.sil"
    spec.write_text(spec_text(size, 1, answers_csv=answers.name), encoding="utf-8")
    run_dir = workdir / f"run_{size}"
    result = run_child(["run", str(spec), "--out", str(run_dir), "--no-report", "--quiet"], tree)
    if result["rc"]:
        raise SystemExit(f"silspec run could not build the run directory:\n{result['stderr']}")
    print(f"run     {size:>9,} replayed answers (to build the store): peak RSS {result['peak_rss_mb']:8.1f} MB  "
          f"CPU {result['cpu_s']:7.1f} s  wall {result['wall_s']:7.1f} s")
    return run_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 personas (and 20,000 answers)")
    parser.add_argument("--tree", type=Path, default=REPO, help="checkout to run silspec from")
    parser.add_argument("--personas", type=int, help="plan this many personas instead")
    parser.add_argument("--items", type=int, default=6)
    parser.add_argument("--skip-plan", action="store_true")
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument("--report-answers", type=int, help="stored answers for the report bench")
    args = parser.parse_args()
    size = args.personas or (100_000 if args.quick else 1_000_000)
    answers = args.report_answers or (20_000 if args.quick else 100_000)
    tree = args.tree.resolve()
    print(f"tree: {tree}  load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1/5 min)  cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="silspec-plan-memory-") as tmp:
        workdir = Path(tmp)
        if not args.skip_report:
            run_dir = build_run_dir(answers, tree, workdir)
            result = run_child(["report", str(run_dir), "--format", "json"], tree)
            print(f"report  {answers:>9,} stored answers: peak RSS {result['peak_rss_mb']:8.1f} MB  "
                  f"CPU {result['cpu_s']:7.1f} s  wall {result['wall_s']:7.1f} s  rc {result['rc']}"
                  + (f"\n  {result['stderr'].strip().splitlines()[-1]}" if result["rc"] else ""))
        if not args.skip_plan:
            result = bench_plan(size, args.items, tree, workdir)
            rate = result["requests"] / result["wall_s"] if result["wall_s"] else 0
            print(f"plan    {size:>9,} personas x {args.items} items = {result['requests']:,} requests: "
                  f"peak RSS {result['peak_rss_mb']:8.1f} MB (target < 300 MB at 1M x 6)  "
                  f"CPU {result['cpu_s']:7.1f} s  wall {result['wall_s']:7.1f} s  "
                  f"({rate:,.0f} requests/s)  rc {result['rc']}"
                  + (f"\n  {result['stderr'].strip().splitlines()[-1]}" if result["rc"] else ""))


if __name__ == "__main__":
    main()
