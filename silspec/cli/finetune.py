"""`silspec finetune SPEC`: train a spec's `finetune` block (LoRA, first-token loss) and save the
adapter that `adapter = finetune.NAME` models load.

Exit codes: 0 trained and saved, 1 lint errors or a training failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import math

from silspec.cli.common import load_or_report, spec_usage_problem


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="train a finetune block's LoRA adapter (first-token KL alignment)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("file", metavar="SPEC", help="the .sil spec")
    p.add_argument("--name", default=None, help="the finetune block (default: the only one)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default runs/<study>/finetune/)")
    p.add_argument("--max-steps", type=int, default=None, metavar="N", help="stop after N optimiser steps in all")
    p.add_argument("--limit-examples", type=int, default=None, metavar="N",
                   help="a seeded subsample of N examples per split (a pilot)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: the model's `device`, else auto)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a spec value, e.g. finetune.first_token_kl.epochs=1 (repeatable)",
    )
    p.set_defaults(handler=run_finetune)


def run_finetune(args: argparse.Namespace) -> int:
    from silspec.cli.common import make_console

    out = make_console(highlight=False)
    err = make_console(stderr=True, highlight=False)
    for label, value in (("--max-steps", args.max_steps), ("--limit-examples", args.limit_examples)):
        if value is not None and value < 1:
            err.print(f"silspec finetune: {label} must be at least 1", markup=False)
            return 2
    problem = spec_usage_problem("finetune", args.file, args.overrides)
    if problem:
        err.print(problem, markup=False)
        return 2
    spec = load_or_report(args.file, args.overrides, err)
    if spec is None:
        return 1

    from silspec.finetune.errors import FinetuneError
    from silspec.finetune.train import train_finetune

    try:
        with err.status("fine-tuning ...") if err.is_terminal else _nothing():
            result = train_finetune(
                spec, args.name, out_dir=args.out, max_steps=args.max_steps,
                limit_examples=args.limit_examples, device=args.device,
                progress=lambda event, payload: _progress(out, event, payload),
            )
    except FinetuneError as exc:
        err.print(f"silspec finetune: {exc}", markup=False)
        return 1
    except (MemoryError, RuntimeError, OSError) as exc:  # torch/CUDA/disk failures: a message, not a traceback
        err.print(f"silspec finetune: training failed: {type(exc).__name__}: {exc}", markup=False)
        return 1
    _summary(out, result, limited=args.limit_examples is not None or args.max_steps is not None)
    return 0


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


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


def _summary(console, result, *, limited: bool) -> None:
    from rich.table import Table

    table = Table(title=f"finetune {result.name}", title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("valid JS", f"{_js(result.valid_js_before)} -> {_js(result.valid_js_after)}"
                  + (f" (best epoch {result.best_epoch})" if result.best_epoch else " (no epoch beat the base model: adapter = base)"))
    if result.test_js_before is not None:
        table.add_row("test JS", f"{_js(result.test_js_before)} -> {_js(result.test_js_after)}")
    table.add_row("steps", str(result.steps))
    table.add_row("device", result.device)
    table.add_row("time", f"{result.duration_s:.1f} s")
    table.add_row("config", result.config_hash[:12])
    table.add_row("adapter", result.adapter_dir)
    console.print(table)
    if limited:
        console.print("note: a limited run (--limit-examples / --max-steps) saves its adapter under the same config "
                      "hash as a full one; answers `silspec run` stored with it are reused until you rerun into "
                      "another --out (or delete the run folder)", markup=False)
