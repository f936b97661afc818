"""`silspec pilot SPEC`: ask the spec's `pilot` personas every item, then judge each item.

The pilot's answers go into the run directory like any run's (default runs/<study>/, the full
run's own), so the full run reuses them; the verdicts (go / no-go / inconclusive, with the
bootstrap interval each read and the cost of the full run) are written to pilot.json there, and
`silspec run SPEC --only-passed DIR` asks only the go items. Exit codes: 0 judged (whatever the
verdicts), 1 the spec has errors or some pilot request errored or is missing (the verdicts are
still written: those items are inconclusive or no-go), 2 usage errors (no `pilot` block, bad
flags, a missing file, a busy run folder), 130 interrupted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from silspec.cli.common import add_set_option, make_console, report_run_error


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("pilot", help="a variable-level pilot: a few personas per item, a go/no-go verdict per item",
                              description=__doc__.splitlines()[0],
                              epilog=" ".join(__doc__.split("\n\n")[1].split()))
    p.add_argument("spec", help="the .sil file (it declares `pilot { ... }`)")
    add_set_option(p, "pilot.personas=30")
    p.add_argument("--condition", dest="conditions", action="append", default=[], metavar="NAME",
                   help="pilot only this condition; repeatable")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run directory (default runs/<study>/, where the full run reuses the answers)")
    p.add_argument("--retry-errors", action="store_true", help="ask pilot requests stored as errors again")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # heavy imports in the handler: cli/main.py imports every command to build its parser
    import attrs

    from silspec import api
    from silspec.analysis.pilot import PilotResult, gate_costs, judge, pilot_plans, require_pilot
    from silspec.cli.run import parse_overrides
    from silspec.report.pilot import print_pilot
    from silspec.run.progress import QuietListener, RichProgress, print_summary
    from silspec.run.rundir import RunDirectory
    from silspec.run.store import StoreError

    console = make_console(stderr=False)
    errors = make_console(stderr=True)
    try:
        overrides = parse_overrides(args.overrides)
    except ValueError as exc:
        errors.print(f"[bold red]error[/]: {exc}", highlight=False, soft_wrap=True)
        return 2
    exit_code = 0
    try:
        spec = api.load_spec(args.spec, overrides=overrides)
        try:
            criteria = require_pilot(spec)
        except ValueError as exc:
            errors.print(f"[bold red]error[/]: {exc}", highlight=False, soft_wrap=True)
            return 2
        full = api.make_plan(spec, conditions=args.conditions or None)
        plans = pilot_plans(spec, full, args.conditions or None)
        run_dir = Path(args.out) if args.out else api.default_run_dir(spec)
        for name, plan in plans.items():
            listener = QuietListener(errors) if args.quiet else RichProgress(console)
            summary = api.run_plan(plan, run_dir, spec=spec, retry_errors=args.retry_errors, listener=listener,
                                   conditions=(name,), limit=plan.header.limit)
            print_summary(summary, console)
            if summary.interrupted:
                return 130
            exit_code = max(exit_code, summary.exit_code)
        with RunDirectory.at(run_dir).open_store() as store:
            answers = list(store.iter_answers())
        verdicts = judge(spec, answers, plans)
        result = PilotResult(study=spec.study.name, spec_hash=full.header.spec_hash, criteria=criteria,
                             plan_hashes={name: plan.plan_hash for name, plan in plans.items()},
                             verdicts=verdicts)
        result = attrs.evolve(result, costs=gate_costs(full, run_dir, result.passed()))
        RunDirectory.at(run_dir).write_pilot(result.to_dict())
    except (api.RunSetupError, StoreError) as exc:
        return report_run_error(exc, errors)
    print_pilot(result, console)
    console.print(f"verdicts written to {RunDirectory.at(run_dir).pilot_path}; gate the full run with"
                  f" `silspec run {args.spec} --only-passed {run_dir}`", highlight=False, soft_wrap=True)
    return exit_code
