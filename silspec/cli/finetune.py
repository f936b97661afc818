"""`silspec finetune SPEC`: train a spec's `finetune` block (LoRA, first-token loss) and save the
adapter that `adapter = finetune.NAME` models load.

`silspec finetune SPEC --baselines [--out FILE.json]` trains nothing: it scores the first-token
paper's data-only baselines (uniform, Avg_Culture, KNN) on the block's valid and test splits.

Exit codes: 0 trained and saved (baselines: scored), 1 lint errors, a finetune block that cannot
make examples or a training failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import math

from silspec.cli.common import add_set_option, load_or_report, spec_usage_problem


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="train a finetune block's LoRA adapter (first-token KL alignment)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("file", metavar="SPEC", help="the .sil spec")
    p.add_argument("--name", default=None, help="the finetune block (default: the only one)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default runs/<study>/finetune/); with --baselines, the JSON file to write")
    p.add_argument("--baselines", action="store_true",
                   help="train nothing: score the paper's data-only baselines (uniform, Avg_Culture, KNN) "
                        "on the valid and test splits")
    p.add_argument("--max-steps", type=int, default=None, metavar="N", help="stop after N optimiser steps in all")
    p.add_argument("--limit-examples", type=int, default=None, metavar="N",
                   help="a seeded subsample of N examples per split (a pilot)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: the model's `device`, else auto)")
    p.add_argument("--micro-batch", type=int, default=None, metavar="N",
                   help="prompts through the model at once; gradients accumulate to the spec's batch "
                        "(default 1 on a CPU, the whole batch on an accelerator)")
    p.add_argument("--fresh", action="store_true",
                   help="start from epoch 1 even when a checkpoint of an interrupted run exists")
    add_set_option(p, "finetune.first_token_kl.epochs=1")
    p.set_defaults(handler=run_finetune)


def run_finetune(args: argparse.Namespace) -> int:
    from silspec.cli.common import make_console

    out = make_console(highlight=False)
    err = make_console(stderr=True, highlight=False)
    if args.baselines:
        return run_baselines(args, out, err)
    for label, value in (("--max-steps", args.max_steps), ("--limit-examples", args.limit_examples),
                         ("--micro-batch", args.micro_batch)):
        if value is not None and value < 1:
            err.print(f"silspec finetune: {label} must be at least 1", markup=False)
            return 2
    spec = _load(args, err)
    if isinstance(spec, int):
        return spec

    from silspec.finetune.errors import FinetuneError
    from silspec.finetune.train import train_finetune

    bar = _Bar(err)
    try:
        with bar:
            result = train_finetune(
                spec, args.name, out_dir=args.out, max_steps=args.max_steps,
                limit_examples=args.limit_examples, device=args.device,
                micro_batch=args.micro_batch, resume=not args.fresh,
                progress=lambda event, payload: (bar.update(event, payload), _progress(out, event, payload)),
            )
    except KeyboardInterrupt:
        err.print("silspec finetune: interrupted; rerun the same command to resume after the last finished epoch",
                  markup=False)
        return 130
    except FinetuneError as exc:
        err.print(f"silspec finetune: {exc}", markup=False)
        return 1
    except (MemoryError, RuntimeError, OSError) as exc:  # torch/CUDA/disk failures: a message, not a traceback
        err.print(f"silspec finetune: training failed: {type(exc).__name__}: {exc}", markup=False)
        return 1
    _summary(out, result, limited=args.limit_examples is not None or args.max_steps is not None)
    return 0


def _load(args, err):
    """The checked spec, or the exit code: 2 for a usage problem, 1 for lint errors (printed)."""
    problem = spec_usage_problem("finetune", args.file, args.overrides)
    if problem:
        err.print(problem, markup=False)
        return 2
    spec = load_or_report(args.file, args.overrides, err)
    return 1 if spec is None else spec


def run_baselines(args: argparse.Namespace, out, err) -> int:
    """`--baselines`: score uniform, Avg_Culture and KNN per split; print tables, write --out JSON."""
    import json
    from pathlib import Path

    training_only = [flag for flag, used in (("--max-steps", args.max_steps is not None), ("--device", args.device is not None),
                                             ("--micro-batch", args.micro_batch is not None), ("--fresh", args.fresh)) if used]
    if training_only:
        err.print(f"silspec finetune: {', '.join(training_only)} only apply to training, not to --baselines", markup=False)
        return 2
    if args.limit_examples is not None and args.limit_examples < 1:
        err.print("silspec finetune: --limit-examples must be at least 1", markup=False)
        return 2
    target = Path(args.out) if args.out else None
    if target is not None and target.is_dir():
        err.print(f"silspec finetune: with --baselines, --out is the JSON file to write, and {target} is a folder",
                  markup=False)
        return 2
    spec = _load(args, err)
    if isinstance(spec, int):
        return spec

    from silspec.finetune.baseline_eval import evaluate_baselines, report_json
    from silspec.finetune.errors import FinetuneError

    try:
        report = evaluate_baselines(spec, args.name, limit=args.limit_examples)
    except FinetuneError as exc:
        err.print(f"silspec finetune: {exc}", markup=False)
        return 1
    _baseline_tables(out, report)
    if target is not None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(report_json(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        except OSError as exc:
            err.print(f"silspec finetune: cannot write {target}: {exc}", markup=False)
            return 1
        out.print(f"wrote {target}", markup=False)
    return 0


_BASELINE_COLUMNS = (("1-JSD", "1−JSD"), ("JS", "JS"), ("EMD_paper", "EMD_p"), ("W1_ordinal", "W1"),
                     ("modal_acc", "modal"))


def _baseline_tables(console, report) -> None:
    from rich.table import Table

    console.print(f"finetune {report.finetune}: data-only baselines, from {report.train_examples} train examples "
                  f"({len(report.train_countries)} countries x {len(report.train_items)} items"
                  + (f", {report.train_without_benchmark} cells without a benchmark skipped" if report.train_without_benchmark else "")
                  + ")" + (f"; --limit-examples {report.limit_examples} per split" if report.limit_examples else ""),
                  markup=False)
    for split in report.splits:
        title = f"{split.split}: {split.examples} examples of {split.cells} cells"
        if split.without_benchmark:
            title += f", {len(split.without_benchmark)} without a benchmark skipped"
        if split.limited_from is not None:
            title += f" (a seeded {split.examples} of {split.limited_from})"
        table = Table(title=title, title_justify="left")
        table.add_column("baseline")
        for _, header in _BASELINE_COLUMNS:
            table.add_column(header, justify="right")
        table.add_column("n", justify="right")
        table.add_column("fallbacks", justify="right")
        for row in split.rows:
            cells = [_js(row.scores[key]) for key, _ in _BASELINE_COLUMNS]
            w1_n = row.scores["n_ordinal"]
            if w1_n != row.scores["n"]:
                cells[3] += f" (n {w1_n})"
            table.add_row(row.name, *cells, str(row.scores["n"]), str(row.fallbacks))
        if report.knn_skipped is not None:
            table.add_row("KNN", *(["skipped"] + [""] * (len(_BASELINE_COLUMNS) + 1)))
        console.print(table)
        for row in split.rows:
            if row.fallbacks:
                console.print(f"  {row.name}: {row.fallbacks} of {split.examples} scored as uniform ({row.fallback_reason})",
                              markup=False)
    if report.knn_skipped is not None:
        console.print(f"KNN skipped: {report.knn_skipped}", markup=False)
    console.print("1−JSD: 1 − JS distance (natural log; the paper's form, higher is better). JS: JS divergence "
                  "(natural log), training's \"valid JS\". EMD_p: the paper's EMD (not an ordinal distance). "
                  "W1: ordinal Wasserstein-1, ordered scales only. modal: modal accuracy, ties broken at random. "
                  "fallbacks: examples scored as uniform.", markup=False)
    for name, where in report.not_computed.items():
        console.print(f"not computed here: {name}: {where}", markup=False)


class _Bar:
    """A progress bar on a terminal's stderr: steps done, epoch, running loss, last valid JS.

    Off a terminal it does nothing (the epoch lines on stdout carry the same figures)."""

    def __init__(self, console):
        self.console = console
        self.progress = None
        self.task = None
        self.valid = "-"

    def __enter__(self):
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}  valid JS {task.fields[valid]}"),
                TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=True,
            )
            self.progress.__enter__()
            self.task = self.progress.add_task("loading", total=None, loss="-", valid="-")
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)
        return False

    def update(self, event: str, payload: dict) -> None:
        if self.progress is None:
            return
        if event == "start":
            self.valid = _js(payload["valid_js"])
            self.progress.update(self.task, description="training", total=payload["total_steps"],
                                 completed=payload["steps"], valid=self.valid)
        elif event == "step":
            self.progress.update(self.task, description=f"epoch {payload['epoch']}", completed=payload["steps"],
                                 loss=f"{payload['mean_loss']:.4f}")
        elif event == "epoch":
            self.valid = _js(payload["epoch"].valid_js)
            self.progress.update(self.task, description=f"epoch {payload['epoch'].epoch} done",
                                 valid=self.valid)


def _js(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _progress(console, event: str, payload: dict) -> None:
    from rich.table import Table

    if event == "examples":
        table = Table(title="examples", title_justify="left")
        for column in ("split", "examples", "cells", "no benchmark", "before limit"):
            table.add_column(column, justify="right" if column != "split" else "left")
        for split, c in payload["counts"].items():
            table.add_row(split, str(c["examples"]), str(c["cells"]), str(c["without_benchmark"]),
                          str(c.get("before_limit", "")))
        console.print(table)
    elif event == "baseline":
        line = f"before training: valid JS {_js(payload['valid_js'])}"
        if payload.get("test_js") is not None:
            line += f", test JS {_js(payload['test_js'])}"
        console.print(line, markup=False)
    elif event == "epoch":
        e = payload["epoch"]
        console.print(f"epoch {e.epoch}: {e.steps} steps, train loss {e.train_loss:.4f}, valid JS {_js(e.valid_js)}",
                      markup=False)
    elif event == "resumed":
        console.print(f"resumed after epoch {payload['epoch']} ({payload['steps']} steps) from {payload['path']} "
                      "(--fresh starts over)", markup=False)
    elif event == "checkpoint_ignored":
        console.print(f"note: not resuming from {payload['path']}: {payload['reason']}; starting afresh", markup=False)


def _summary(console, result, *, limited: bool) -> None:
    from rich.table import Table

    table = Table(title=f"finetune {result.name}", title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("valid JS", f"{_js(result.valid_js_before)} -> {_js(result.valid_js_after)}"
                  + (f" (best epoch {result.best_epoch})" if result.best_epoch else " (no epoch beat the base model: adapter = base)"))
    if result.test_js_before is not None:
        table.add_row("test JS", f"{_js(result.test_js_before)} -> {_js(result.test_js_after)}")
    table.add_row("steps", str(result.steps) + (f" (resumed after epoch {result.resumed_from_epoch})"
                                               if result.resumed_from_epoch is not None else ""))
    table.add_row("device", f"{result.device}, micro-batch {result.micro_batch}")
    table.add_row("time", f"{result.duration_s:.1f} s")
    table.add_row("config", result.config_hash[:12])
    table.add_row("adapter", result.adapter_dir)
    console.print(table)
    if limited:
        console.print("note: a limited run (--limit-examples / --max-steps) saves its adapter under the same config "
                      "hash as a full one; answers `silspec run` stored with it are reused until you rerun into "
                      "another --out (or delete the run folder)", markup=False)
