"""Variable-level pilots (KGSS §5.4): a few personas per item × condition, a verdict per item.

A pilot is an ordinary (small) run: per condition, the first ``pilot.personas`` personas asked
every item (``plan.pilot.pilot_limit``), stored in the run directory like any answer, so the
full run later reuses them. Each condition × item is then judged by the spec's declared
criteria (``spec.model.Pilot``), in this order:

* every planned request stored, else *inconclusive* (the pilot is unfinished: rerun it);
* valid (answered) share of the planned requests >= ``valid_min``, else *no-go*;
* the largest share of one code among the valid answers <= ``modal_max``, else *no-go* (the
  answers collapsed onto one option, like GPT-5.2 on UNIFI);
* JS (natural log, valid answers only) against the item's benchmark, with a persona bootstrap
  percentile interval: upper bound < ``js_max`` is *go*, lower bound > ``js_max`` is *no-go*,
  an interval that straddles it is *inconclusive* (more personas would decide it).

Any no-go reason makes the item no-go; otherwise any inconclusive one makes it inconclusive.
The verdicts, the intervals they read and the cost of the full run they gate are written to
``pilot.json`` in the run directory (``RunDirectory.write_pilot``); ``silspec run
--only-passed DIR`` asks only the go items, and refuses a pilot of another spec hash.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs
import cattrs
from attrs import frozen

from silspec.analysis.cells import cell_label
from silspec.analysis.pipeline import analyse
from silspec.plan.model import Plan
from silspec.plan.pilot import compile_pilot_plan, gate_plan, pilot_limit
from silspec.run.errors import RunSetupError
from silspec.run.records import AnswerRecord
from silspec.run.rundir import RunDirectory
from silspec.run.runner import DryRunRow, dry_run
from silspec.spec.model import Analysis, Bootstrap, Metric, Pilot, Spec

PILOT_FORMAT = "silspec-pilot/1"
Verdict = Literal["go", "no-go", "inconclusive"]


@frozen
class PilotVerdict:
    """One condition × item (× country) of a pilot and why it got its verdict."""

    condition: str
    item: str  # qualified "survey.ITEM"
    label: str  # "ITEM" or "ITEM/COUNTRY"
    planned: int  # requests the pilot planned for the cell
    stored: int  # of those, stored (any outcome)
    answered: int  # of those, a valid answer
    valid_rate: float  # answered / planned
    modal_code: int | None
    modal_share: float | None  # of the valid answers; None without any
    js: float | None  # ln JS divergence of the valid answers from the benchmark
    js_low: float | None
    js_high: float | None
    benchmark: str = ""
    verdict: Verdict = "inconclusive"
    reasons: tuple[str, ...] = ()
    country: str | None = None


@frozen
class PilotCost:
    """What the full run a pilot gates would still ask, per condition (``run --dry-run``'s rows)."""

    condition: str
    model: str
    requests: int  # of the full plan
    to_ask: int  # not yet stored (the pilot's answers are stored)
    cost: float | None  # USD from the model's declared prices; None when it has none
    gated_requests: int  # of the plan asking only the go items
    gated_to_ask: int
    gated_cost: float | None


@frozen
class PilotResult:
    """``pilot.json``: the criteria, the verdicts and the cost of what they gate."""

    study: str
    spec_hash: str
    criteria: Pilot
    plan_hashes: dict[str, str]  # condition -> hash of its pilot plan
    verdicts: tuple[PilotVerdict, ...]
    costs: tuple[PilotCost, ...] = ()
    format: str = PILOT_FORMAT

    def passed(self) -> dict[str, tuple[str, ...]]:
        """condition -> items every cell of which is go, in the verdicts' order."""
        out: dict[str, list[str]] = {}
        failed = {(v.condition, v.item) for v in self.verdicts if v.verdict != "go"}
        for v in self.verdicts:
            items = out.setdefault(v.condition, [])
            if (v.condition, v.item) not in failed and v.item not in items:
                items.append(v.item)
        return {name: tuple(items) for name, items in out.items()}

    def left_out(self) -> tuple[PilotVerdict, ...]:
        return tuple(v for v in self.verdicts if v.verdict != "go")

    def to_dict(self) -> dict[str, Any]:
        return _CONVERTER.unstructure(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PilotResult":
        if data.get("format") != PILOT_FORMAT:
            raise ValueError(f"not a silspec pilot file (format {data.get('format')!r}, expected {PILOT_FORMAT!r})")
        return _CONVERTER.structure(dict(data), cls)


_CONVERTER = cattrs.Converter()


# ------------------------------------------------------------------------------- the plans


def pilot_plans(spec: Spec, full: Plan, conditions: Sequence[str] | None = None) -> dict[str, Plan]:
    """condition -> its pilot plan: the first ``spec.pilot.personas`` personas × every item.

    One plan per condition because each has its own ``--limit`` (items × samples differ); each
    is an ordinary ``--limit`` plan, so the run directory records and reproduces it as one.
    """
    criteria = require_pilot(spec)
    names = list(conditions) if conditions else list(full.header.conditions)
    return {name: compile_pilot_plan(spec, conditions=[name],
                                     limit=pilot_limit(full.header.conditions[name], criteria.personas))
            for name in names}


def require_pilot(spec: Spec) -> Pilot:
    if spec.pilot is None:
        raise ValueError(f"{spec.path} declares no `pilot {{ ... }}` block: add one with the criteria"
                         " (e.g. `pilot { personas = 20  js_max = 0.1  valid_min = 0.8  modal_max = 0.95 }`;"
                         " see docs/pilot.md)")
    return spec.pilot


def pilot_analysis_spec(spec: Spec) -> Spec:
    """The spec analysed the pilot's way: ln JS only, bootstrapped with the pilot's settings
    (the study's own metrics, comparisons and calibrations are the full run's business)."""
    criteria = require_pilot(spec)
    seed = criteria.seed if criteria.seed is not None else spec.study.seed
    analysis = Analysis(
        metrics=(Metric("js", {"log": "e"}),),
        bootstrap=Bootstrap(resamples=criteria.resamples, level=criteria.level, seed=seed, metrics=("js",)),
        benchmark=spec.analysis.benchmark,
        report=spec.analysis.report,
    )
    return attrs.evolve(spec, analysis=analysis)


# ------------------------------------------------------------------------------- the verdicts


def judge(spec: Spec, answers: Iterable[AnswerRecord], plans: Mapping[str, Plan]) -> tuple[PilotVerdict, ...]:
    """A verdict per condition × item (× country) of the pilot ``plans`` from the stored answers."""
    criteria = require_pilot(spec)
    plan_ids = {r.id for plan in plans.values() for r in plan.requests}
    records = [a for a in answers if a.request_id in plan_ids]
    results = analyse(pilot_analysis_spec(spec), records, plan_ids=plan_ids)
    planned: dict[tuple[str, str, str | None], int] = {}
    for plan in plans.values():
        for request in {r.id: r for r in plan.requests}.values():
            key = (request.condition, request.item, request.country)
            planned[key] = planned.get(key, 0) + 1
    compliance = {(c.condition, c.item, c.country): c for c in results.compliance}
    rows = {(r.condition, r.item, r.country): r for r in results.items if r.variant == "valid_only"}
    verdicts = []
    for (condition, item, country), n_planned in planned.items():
        c = compliance.get((condition, item, country))
        row = rows.get((condition, item, country))
        stored = c.n if c is not None else 0
        answered = c.answered if c is not None else 0
        modal_code = modal_share = None
        if row is not None and row.counts and sum(row.counts) > 0:
            total = float(sum(row.counts))
            best = max(range(len(row.counts)), key=lambda i: row.counts[i])
            modal_code, modal_share = row.codes[best], row.counts[best] / total
        interval = row.intervals.get("js") if row is not None else None
        js = row.values.get("js") if row is not None else None
        verdict, reasons = decide(
            criteria, planned=n_planned, stored=stored, answered=answered, modal_share=modal_share,
            js_low=interval.low if interval else None, js_high=interval.high if interval else None,
        )
        code = item.rpartition(".")[2]
        verdicts.append(PilotVerdict(
            condition=condition, item=item, label=cell_label(code, country), planned=n_planned, stored=stored,
            answered=answered, valid_rate=answered / n_planned if n_planned else 0.0, modal_code=modal_code,
            modal_share=modal_share, js=_finite(js), js_low=_finite(interval.low) if interval else None,
            js_high=_finite(interval.high) if interval else None, benchmark=row.benchmark if row else "",
            verdict=verdict, reasons=reasons, country=country,
        ))
    return tuple(verdicts)


def decide(criteria: Pilot, *, planned: int, stored: int, answered: int, modal_share: float | None,
           js_low: float | None, js_high: float | None) -> tuple[Verdict, tuple[str, ...]]:
    """The verdict of one cell and every reason behind it (see the module docstring)."""
    no_go: list[str] = []
    unsure: list[str] = []
    if stored < planned:
        unsure.append(f"{planned - stored} of {planned} requests not stored yet: rerun `silspec pilot` to finish")
    valid_rate = answered / planned if planned else 0.0
    if answered == 0:
        no_go.append("no valid answer")
    elif valid_rate < criteria.valid_min:
        no_go.append(f"valid rate {valid_rate:.2f} < valid_min {criteria.valid_min:g}")
    if modal_share is not None and modal_share > criteria.modal_max:
        no_go.append(f"modal share {modal_share:.2f} > modal_max {criteria.modal_max:g} (answers collapsed)")
    if js_low is None or js_high is None or not (math.isfinite(js_low) and math.isfinite(js_high)):
        if answered:
            unsure.append("no JS interval (too few valid answers or no benchmark)")
    elif js_low > criteria.js_max:
        no_go.append(f"JS interval [{js_low:.3f}, {js_high:.3f}] above js_max {criteria.js_max:g}")
    elif js_high >= criteria.js_max:
        unsure.append(f"JS interval [{js_low:.3f}, {js_high:.3f}] straddles js_max {criteria.js_max:g}")
    if no_go:
        return "no-go", tuple(no_go + unsure)
    if unsure:
        return "inconclusive", tuple(unsure)
    return "go", ()


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


# ------------------------------------------------------------------------------- the cost


def gate_costs(full: Plan, run_dir: Any, passed: Mapping[str, Collection[str]]) -> tuple[PilotCost, ...]:
    """Per condition: the full run's requests and cost still to ask in ``run_dir``, and the same
    for the plan that asks only the ``passed`` items (``run --dry-run``'s estimate)."""
    whole = {row.condition: row for row in dry_run(full, run_dir)}
    gated = {row.condition: row for row in dry_run(gate_plan(full, passed), run_dir)}
    out = []
    for name, row in whole.items():
        g: DryRunRow | None = gated.get(name)
        out.append(PilotCost(
            condition=name, model=row.model, requests=row.requests, to_ask=row.to_ask, cost=row.cost,
            gated_requests=g.requests if g else 0, gated_to_ask=g.to_ask if g else 0,
            gated_cost=g.cost if g else None,
        ))
    return tuple(out)


def check_pilot_matches(result: PilotResult, spec: Spec, spec_hash: str) -> None:
    """``ValueError`` unless the pilot was judged under this very spec and criteria."""
    if spec.pilot is None:
        raise ValueError("the spec declares no `pilot` block: a pilot's verdicts gate only the spec they were made under")
    if result.criteria != spec.pilot:
        raise ValueError(f"the pilot was judged by other criteria ({_criteria_text(result.criteria)}) than the spec"
                         f" declares now ({_criteria_text(spec.pilot)}): rerun `silspec pilot`")
    if result.spec_hash != spec_hash:
        raise ValueError(f"the pilot was made from another spec (hash {result.spec_hash[:12]}, this one"
                         f" {spec_hash[:12]}): its verdicts do not describe this spec's questions; rerun `silspec pilot`")


def _criteria_text(p: Pilot) -> str:
    return (f"personas {p.personas}, js_max {p.js_max:g}, valid_min {p.valid_min:g}, modal_max {p.modal_max:g},"
            f" level {p.level:g}, resamples {p.resamples}, seed {p.seed}")



# ------------------------------------------------------------------------------- the gate


@frozen
class Gate:
    """``run --only-passed``: the gated plan and every cell it leaves out, with why."""

    plan: Plan
    pilot_dir: str
    left_out: tuple[PilotVerdict, ...]


def gate_by_pilot(spec: Spec, plan: Plan, pilot_dir: Any) -> Gate:
    """``plan`` cut to the items the pilot in ``pilot_dir`` called go in every cell.

    ``RunSetupError`` (exit 2) when the directory has no readable pilot, when the pilot was made
    from another spec hash or other criteria, or when it judged none of a condition the plan asks.
    """
    rundir = RunDirectory.at(pilot_dir)
    try:
        result = PilotResult.from_dict(rundir.read_pilot())
        check_pilot_matches(result, spec, plan.header.spec_hash)
    except (RunSetupError, ValueError, TypeError, KeyError, cattrs.BaseValidationError) as error:
        raise RunSetupError(f"--only-passed {pilot_dir}: {error}", exit_code=2) from error
    judged = {v.condition for v in result.verdicts}
    unjudged = [name for name, c in plan.header.conditions.items() if c.n_requests and name not in judged]
    if unjudged:
        raise RunSetupError(f"--only-passed {pilot_dir}: the pilot judged no item of condition"
                            f" {', '.join(unjudged)}; pilot it (`silspec pilot --condition NAME`) or leave it"
                            " out (`--condition`)", exit_code=2)
    asked = {(r.condition, r.item) for r in plan.requests}
    left_out = tuple(v for v in result.left_out() if (v.condition, v.item) in asked)
    return Gate(plan=gate_plan(plan, result.passed()), pilot_dir=str(pilot_dir), left_out=left_out)
