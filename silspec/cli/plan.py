"""`silspec plan FILE`: compile a spec into its execution plan and show or write it.

``--format text`` (default) prints a summary per condition and one fully rendered example
prompt; ``--format json`` streams the whole plan as JSON (to ``--out`` or stdout). With
``--format text --out FILE`` the summary goes to the terminal and the JSON plan to FILE.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from typing import Iterator

from rich.panel import Panel
from rich.table import Table

from silspec.cli.common import add_set_option, load_or_report, make_console, spec_usage_problem
from silspec.plan.redact import mask_url_credentials


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "plan",
        help="compile a spec into its execution plan (personas, prompts, request ids)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("file", metavar="FILE", help="the .sil spec")
    add_set_option(p, "model.gpt52.temperature=1.0")
    p.add_argument(
        "--condition", dest="conditions", action="append", default=[], metavar="NAME",
        help="plan only this condition (repeatable; default: all)",
    )
    p.add_argument("--limit", type=int, default=None, metavar="N", help="a pilot: per condition, the first N requests persona-major (as `silspec run --limit`)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--out", default=None, metavar="FILE", help="write the JSON plan to FILE")
    p.set_defaults(handler=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    err = make_console(stderr=True, highlight=False)
    problem = spec_usage_problem("plan", args.file, args.overrides)
    if problem is None and args.limit is not None and args.limit < 0:
        problem = "silspec plan: --limit must be zero or more"
    if problem:
        err.print(problem, markup=False)
        return 2

    spec = load_or_report(args.file, args.overrides, err, count_warnings=True)
    if spec is None:
        return 1
    _announce_ablations(spec, err)

    # Measured start-up reason for the imports inside this module's functions: cli/main.py imports
    # every command module to build its parser, and the plan compiler (Jinja sandbox, persona
    # sampling, cattrs) adds ~180-250 ms to every command, `lint` included (python -X importtime).
    from silspec.plan.compile import compile_header, iter_requests
    from silspec.plan.errors import PlanError

    try:
        unknown = [c for c in args.conditions if c not in spec.conditions]
        if unknown:
            err.print(
                f"silspec plan: unknown condition {unknown[0]!r}; the spec has: "
                f"{', '.join(spec.conditions)}",
                markup=False,
            )
            return 2
        if args.limit is None:
            header = compile_header(spec, conditions=args.conditions or None)
            requests = iter_requests(spec, header)
        else:  # the same pilot subset `silspec run --limit N` asks, so the two agree
            from silspec.plan.pilot import compile_pilot_plan

            plan = compile_pilot_plan(spec, conditions=args.conditions or None, limit=args.limit)
            header, requests = plan.header, iter(plan.requests)
        if args.format == "json":
            return _write_json(header, requests, args.out)
        return _summarise(header, requests, args.out, _ablation_of(spec))
    except PlanError as exc:
        err.print(f"error: {exc}", markup=False)
        return 1
    except MemoryError:
        err.print("error: out of memory while planning; shrink the design or use --limit / --condition",
                  markup=False)
        return 1
    except OSError as exc:
        err.print(f"error: cannot write {exc.filename or args.out}: {exc.strerror}", markup=False)
        return 1


def _write_json(header, requests, out: str | None) -> int:
    from silspec.plan.serialize import write_plan_json

    if out:
        _write_atomically(out, lambda fp: write_plan_json((header, requests), fp))
        return 0
    stream = _utf8_stdout()
    try:
        write_plan_json((header, requests), stream)
        stream.flush()
    except BrokenPipeError:  # `silspec plan --format json | head`
        sys.stdout = open(os.devnull, "w")
    finally:
        if stream is not sys.stdout:
            stream.detach()  # leave sys.stdout's buffer open for whoever owns it
    return 0


def _write_atomically(path: str, write) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fp:
            write(fp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _utf8_stdout():
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        return sys.stdout
    sys.stdout.flush()
    return io.TextIOWrapper(buffer, encoding="utf-8", newline="\n", write_through=True)


class _Tally:
    """Hashes request ids and keeps the first request while they stream past."""

    def __init__(self, requests):
        from silspec.plan.hashing import PlanHasher

        self._requests = requests
        self.first = None
        self.hasher = PlanHasher()

    def __iter__(self) -> Iterator:
        for request in self._requests:
            if self.first is None:
                self.first = request
            self.hasher.add(request.id)
            yield request


def _announce_ablations(spec, err) -> None:
    """An ablation's size before any request is planned: 2^10 subsets of a large condition take
    a while to render, and the user should know what is coming (lint's SIL448 says the same)."""
    from silspec.check.rules.limits import estimated_requests

    for ablation in spec.ablations.values():
        generated = [name for _, name in ablation.subsets if name != ablation.condition]
        counts = [estimated_requests(spec, spec.conditions[name]) for name in generated]
        size = f"{sum(counts):,} requests" if all(c is not None for c in counts) else "requests known once planned"
        err.print(f"ablation {ablation.name}: {len(ablation.items)} descriptor items, {len(generated):,} subset "
                  f"conditions ({ablation.method}) = {size}", markup=False)


def _ablation_of(spec) -> dict[str, tuple[str, int]]:
    """Generated condition -> (its ablation, how many items the ablation has)."""
    return {
        condition: (ablation.name, len(ablation.items))
        for ablation in spec.ablations.values()
        for _, condition in ablation.subsets
        if condition != ablation.condition
    }


def _summarise(header, requests, out: str | None, ablation_of: dict[str, tuple[str, int]] | None = None) -> int:
    tally = _Tally(requests)
    if out:
        from silspec.plan.serialize import write_plan_json

        _write_atomically(out, lambda fp: write_plan_json((header, tally), fp))
    else:
        for _ in tally:
            pass
    console = make_console(highlight=False)
    table = Table(title=f"plan for study {header.study} (seed {header.seed})")
    table.add_column("condition", no_wrap=True)
    table.add_column("model", overflow="fold")
    table.add_column("answers", no_wrap=True)
    table.add_column("personas × items × samples", justify="right")
    table.add_column("requests", justify="right", no_wrap=True)
    table.add_column("≈ tokens", justify="right", no_wrap=True)
    ablation_of = ablation_of or {}
    ablations: dict[str, list] = {}
    for c in header.conditions.values():
        if c.name in ablation_of:  # an ablation's subset conditions: one row for them all, below
            ablations.setdefault(ablation_of[c.name][0], []).append(c)
            continue
        design = f"{len(c.persona_ids):,} × {len(c.items):,} × {c.samples}"
        table.add_row(c.name, c.model, c.answers, design, f"{c.n_requests:,}",
                      f"{c.estimated_prompt_tokens:,}")
    for name, members in ablations.items():
        first = members[0]
        design = f"{len(members):,} subsets × {len(first.persona_ids):,} × {len(first.items):,} × {first.samples}"
        table.add_row(f"ablation {name}", first.model, first.answers, design,
                      f"{sum(c.n_requests for c in members):,}", f"{sum(c.estimated_prompt_tokens for c in members):,}")
    total = sum(c.n_requests for c in header.conditions.values())
    tokens = sum(c.estimated_prompt_tokens for c in header.conditions.values())
    table.add_row("total", "", "", "", f"{total:,}", f"{tokens:,}", style="bold")
    console.print(table)
    console.print("≈ tokens: characters / 3.5 over a sample of rendered prompts (an estimate)")
    for name, members in ablations.items():
        n_items = ablation_of[members[0].name][1]
        console.print(f"ablation {name}: {n_items} descriptor items, {len(members):,} subset conditions "
                      f"({members[0].name} ... {members[-1].name}; the full set is its base condition) = "
                      f"{sum(c.n_requests for c in members):,} requests", markup=False)
    if header.overrides:
        console.print("overrides: " + ", ".join(f"{k}={mask_url_credentials(v)}" for k, v in header.overrides),
                      markup=False)
    for c in header.conditions.values():
        for item_id, params in c.item_params.items():
            shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
            console.print(f"per-item params: {c.name} · {item_id}: {shown}", markup=False)
    for summary in header.populations.values():
        console.print(
            f"population {summary.population}" + (f" / {summary.country}" if summary.country else "")
            + f": {summary.sampled} of {summary.matching} matching rows of {summary.rows} in {summary.source}"
            + (" (weighted draw)" if summary.weighted else ""), markup=False)
        for line in summary.lines():
            console.print(f"  note: {line}", markup=False)
    if header.limit is not None:
        console.print(f"pilot: per condition the first {header.limit:,} requests, persona-major (--limit)")
    console.print(f"spec hash {header.spec_hash}\nplan hash {tally.hasher.hexdigest()}")
    if out:
        console.print(f"plan written to {out}", markup=False)
    first = tally.first
    if first is not None:
        options = ", ".join(f"{t}→{c}" for t, c in zip(first.option_tokens, first.option_codes))
        title = f"example: {first.condition} · {first.item} · {first.persona} · replicate {first.replicate}"
        body = "\n\n".join(f"[{m.role}]\n{m.content}" for m in first.messages)
        body += f"\n\n[options] {options}\n[request id] {first.id}"
        from rich.text import Text

        console.print(Panel(Text(body), title=Text(title)))
    return 0
