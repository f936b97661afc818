"""`silspec descriptors SPEC --descriptors NAME --model MODEL --out TABLE`: a model writes a descriptor table.

For each (item, code) of the `descriptors NAME` block's `items`, the spec's model MODEL (any
backend that generates text) writes the one-sentence persona snippet with one of the paper's
generator instructions (--instruction composable | modular | no_hedge; §B.2, Table 3 of the
value-persona paper). TABLE (a CSV: item, code, label, text, note) and TABLE's `.meta.json`
sidecar (model, parameters, instruction, every prompt) are written for review; point the block's
`values = table(...)` at TABLE and `silspec freeze` the spec. An existing TABLE is never
overwritten without --force. Exit codes: 0 written, 1 written with failed rows (no text, the
error in `note`; lint SIL425 lists them), 2 usage errors (unknown block or model, TABLE exists).
"""

from __future__ import annotations

import argparse

from silspec.cli.common import add_set_option, make_console


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("descriptors", help="have a model write a descriptor table (value personas, §B.2)",
                              description=__doc__.splitlines()[0],
                              epilog=" ".join(__doc__.split("\n\n")[1].split()))
    p.add_argument("spec", help="the .sil file")
    p.add_argument("--descriptors", required=True, metavar="NAME", help="the `descriptors NAME` block whose items to describe")
    p.add_argument("--model", required=True, metavar="MODEL", help="a `model` block of the spec (any backend that generates text)")
    p.add_argument("--instruction", default="composable", choices=("composable", "modular", "no_hedge"),
                   help="the paper's generator instruction (Table 3), verbatim (default composable)")
    p.add_argument("--out", required=True, metavar="TABLE", help="the CSV to write, relative to the spec tree root")
    p.add_argument("--force", action="store_true", help="overwrite an existing TABLE and its sidecar")
    add_set_option(p, "model.gpt.temperature=0")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from silspec import api
    from silspec.cli.run import parse_overrides
    from silspec.lang.diagnostics import render_text
    from silspec.run.descriptors import DescriptorsError, generate, sidecar_path

    console = make_console(stderr=False)
    errors = make_console(stderr=True)
    try:
        overrides = parse_overrides(args.overrides)
        spec = api.load_spec(args.spec, overrides=overrides)
    except ValueError as exc:
        errors.print(f"error: {exc}", markup=False)
        return 2
    except api.RunSetupError as exc:
        if exc.diagnostics:
            render_text(exc.diagnostics, exc.sources, errors)
        errors.print(f"error: {exc}", markup=False)
        return 2
    try:
        rows = generate(spec, descriptors=args.descriptors, model=args.model, instruction=args.instruction,
                        out=args.out, force=args.force)
    except DescriptorsError as exc:
        errors.print(f"error: {exc}", markup=False)
        return 2
    failed = [r for r in rows if r.note.startswith("error")]
    flagged = [r for r in rows if r.note and not r.note.startswith("error")]
    console.print(f"wrote {args.out} ({len(rows)} rows) and {sidecar_path(args.out)} "
                  f"(model {args.model}, instruction {args.instruction})", markup=False)
    for r in flagged[:10]:
        console.print(f"  flagged {r.item} {r.code}: {r.note}: {r.text[:80]!r}", markup=False)
    if len(flagged) > 10:
        console.print(f"  ... {len(flagged) - 10} more flagged rows (column `note`)", markup=False)
    for r in failed:
        errors.print(f"  failed {r.item} {r.code}: {r.note}", markup=False)
    console.print(f"review it, point `values = table(\"{args.out}\")` at it, then `silspec freeze {args.spec}`",
                  markup=False)
    return 1 if failed else 0
