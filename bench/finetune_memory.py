"""Peak memory and time of a `silspec finetune` pilot, per micro-batch size.

Each configuration runs `silspec finetune` as the only child of a fresh process (so the peak RSS
that ``getrusage(RUSAGE_CHILDREN)`` reports is that run's alone) on the shipped spec and
SmolLM2-135M (``silspec models fetch smollm2``), and prints peak RSS, wall time, CPU time and the
machine's load average when it started.
``--micro-batch 16`` puts a whole batch of 16 prompts through the model at once, which is what
every training step did before micro-batching; 1 is what `silspec finetune` does on a CPU now.

Measured on the 2-core development machine, shared with other jobs, with ``--limit-examples 32
--max-steps 4`` (2 epochs of 2 steps; valid and test scored before, after each epoch and at the
end); the full table is in docs/finetune.md ("Memory and time"):

    before (d9421fc, whole batch, spinning OpenMP waits)  7,032-7,174 MB  4 min 18 s - 7 min 29 s  248-260 s CPU
    now, micro-batch 16                                   5,391 MB                                 118 s CPU
    now, micro-batch 4                                    2,424 MB                                 114 s CPU
    now, micro-batch 2                                    1,764 MB        1 min 36 s (load 3)      116 s CPU
    now, micro-batch 1 (the CPU default)                  1,538-1,593 MB  1 min 44 s (load 3),     117-121 s CPU
                                                                          7 min 35 s (load 14)

Memory was autograd's saved activations, ~0.3 GB per ~135-token prompt over 30 layers in float32,
for all 16 prompts of a batch at once; the logits were already cut to the last position
(``logits_to_keep=1``), validation already ran under ``inference_mode``, and the GGUF conversion
runs once per machine (``silspec models fetch``), not in a fine-tuning run. Time was OpenMP's
spinning waits on a shared CPU (CPU time halves with ``OMP_WAIT_POLICY=PASSIVE``, which
`silspec finetune` now sets unless the environment names a policy).

    .venv/bin/python bench/finetune_memory.py                       # micro-batch 16, 2 and 1
    .venv/bin/python bench/finetune_memory.py --micro-batch 4 2 1   # any list
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "wvs_first_token.sil"


def run_once(micro_batch: int, limit: int, steps: int, out: Path) -> dict:
    command = [sys.executable, "-m", "silspec.cli.main", "finetune", str(SPEC), "--limit-examples", str(limit),
               "--max-steps", str(steps), "--micro-batch", str(micro_batch), "--out", str(out), "--fresh"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    load = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    # This process (a --child) has run exactly one child: the children's usage is that run's.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"silspec finetune exited {process.returncode}:\n{stderr[-2000:]}")
    metrics = json.loads((out / "first_token_kl" / "metrics.json").read_text())
    return {
        "micro_batch": micro_batch,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "load": load,
        "steps": metrics["steps"],
        "valid_js": (metrics["valid_js_before"], metrics["valid_js_after"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micro-batch", type=int, nargs="+", default=[16, 2, 1])
    parser.add_argument("--limit-examples", type=int, default=32)
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:  # one measurement in a fresh process, so RUSAGE_CHILDREN is this run's
        with tempfile.TemporaryDirectory(prefix="silspec-ft-bench-") as folder:
            row = run_once(args.child, args.limit_examples, args.max_steps, Path(folder))
        print(json.dumps(row))
        return 0

    sys.path.insert(0, str(ROOT))
    from silspec.models.smollm2 import is_converted, package_dir

    if package_dir() is None or not is_converted():
        print("SmolLM2 is not installed/converted: run `silspec models fetch smollm2` first", file=sys.stderr)
        return 2
    print(f"silspec finetune {SPEC.relative_to(ROOT)} --limit-examples {args.limit_examples} "
          f"--max-steps {args.max_steps}  ({os.cpu_count()} CPUs)")
    print(f"{'micro-batch':>11}  {'peak RSS':>10}  {'wall':>8}  {'CPU':>8}  {'load':>5}  steps  valid JS before -> after")
    for micro in args.micro_batch:
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(micro), "--limit-examples", str(args.limit_examples),
             "--max-steps", str(args.max_steps)],
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
        row = json.loads(done.stdout.strip().splitlines()[-1])
        before, after = row["valid_js"]
        print(f"{row['micro_batch']:>11}  {row['peak_rss_mb']:>7.0f} MB  {row['wall_s']:>6.1f} s  {row['cpu_s']:>6.1f} s  "
              f"{row['load']:>5.1f}  {row['steps']:>5}  {before:.4f} -> {after:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
