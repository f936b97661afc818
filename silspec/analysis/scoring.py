"""Each stored answer's verdict for the analysis: as stored, or scored again by the runner's own
scorer (``silspec.answers``) where the parser definition changed since the run.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from silspec.analysis.distributions import ScoredAnswer
from silspec.analysis.results import Warning
from silspec.answers import Verdict, score, scorer_hash
from silspec.plan.compile import build_plan_item
from silspec.plan.model import PlanItem
from silspec.run.records import AnswerRecord, stored_reply, stored_verdict
from silspec.spec.model import Parser, Spec


def score_answers(spec: Spec, records: Sequence[AnswerRecord], warnings: list[Warning]) -> list[ScoredAnswer]:
    """Every stored answer's verdict: as stored, or scored again where the definition changed."""
    scored: list[ScoredAnswer] = []
    unknown: dict[str, int] = defaultdict(int)
    plan_items: dict[str, PlanItem] = {}
    rescored: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # condition -> [re-scored, changed]
    unfilled: dict[str, int] = defaultdict(int)  # option_probs failures a midpoint policy cannot fill
    for record in records:
        condition = spec.conditions.get(record.condition)
        if condition is None or condition.parser not in spec.parsers:
            unknown[record.condition] += 1
            continue
        try:
            item = spec.item(record.item)
        except KeyError:
            unknown[f"{record.condition}: item {record.item}"] += 1
            continue
        plan_item = plan_items.get(item.id) or plan_items.setdefault(item.id, build_plan_item(item))
        parser = spec.parsers[condition.parser]
        verdict, how = verdict_of(record, parser, plan_item)
        if how == "rescored":
            counts = rescored[record.condition]
            counts[0] += 1
            counts[1] += verdict != stored_verdict(record)
        if record.answers == "option_probs" and verdict.outcome == "error" and parser.on_error == "midpoint":
            unfilled[record.condition] += 1
        scored.append(scored_answer(record, verdict))
    for name, count in unknown.items():
        warnings.append(
            Warning(
                kind="unknown_answers",
                severity="medium",
                message=f"{count} stored answers belong to {name!r}, which the spec does not define; ignored",
            )
        )
    warnings.extend(_rescored_warnings(rescored))
    for name, count in unfilled.items():
        warnings.append(
            Warning(
                kind="option_probs_unfilled",
                severity="medium",
                message=f"{name}: {count} option_probs answers have no probabilities (errors); the parser's "
                "midpoint policy does not fill them, because an item never mixes probability vectors "
                "with one-hot defaults: they are left out",
                condition=name,
            )
        )
    return scored


def verdict_of(record: AnswerRecord, parser: Parser, item: PlanItem) -> tuple[Verdict, str]:
    """(verdict, how): ``stored`` when the definition that decided it is the current one;
    ``rescored`` when it differs (another parser, another silspec); ``legacy`` for rows stored
    before verdicts were (schema 1), which have always been scored from their text.

    Scoring again calls the runner's own function (``silspec.answers.score``) on the stored reply.
    """
    tokens = record.meta.get("option_tokens") if record.meta else None
    tokens = tuple(tokens) if tokens else None
    if record.scorer is not None:
        current = scorer_hash(answers=record.answers, parser=parser, item=item, option_tokens=tokens)
        if record.scorer == current:
            return stored_verdict(record), "stored"
    verdict = score(stored_reply(record), answers=record.answers, parser=parser, item=item, option_tokens=tokens)
    return verdict, "legacy" if record.scorer is None else "rescored"


def scored_answer(record: AnswerRecord, verdict: Verdict) -> ScoredAnswer:
    """A stored answer and its verdict, as the distributions and the compliance table count it."""
    return ScoredAnswer(
        condition=record.condition,
        item=record.item,
        persona=record.persona,
        replicate=record.replicate,
        answers=record.answers,
        outcome=verdict.outcome,
        code=verdict.code,
        defaulted=verdict.defaulted,
        dropped=verdict.dropped,
        option_probs=dict(verdict.probs) if verdict.probs else None,
        valid_mass=record.valid_mass,
        country=record.country,
    )


def _rescored_warnings(rescored: dict[str, list[int]]) -> list[Warning]:
    """Say when stored verdicts were decided by another definition than the spec's now."""
    warnings = []
    for condition, (count, changed) in rescored.items():
        warnings.append(
            Warning(
                kind="rescored",
                severity="medium" if changed else "info",
                message=f"{condition}: {count} stored answers were decided by another parser definition "
                "than the current one (the spec's parser or silspec changed since the run) and were "
                f"scored again from their stored text; {changed} verdicts differ from the stored ones",
                condition=condition,
            )
        )
    return warnings
