"""Each stored answer's verdict for the analysis: as stored, or scored again by the runner's own
scorer (``silspec.answers``) where the parser definition changed since the run.

``score_rows`` reads the answers as a stream of lean rows (``silspec.run.store.AnswerRow``) and
keeps one small ``ScoredAnswer`` per answer (its strings shared, not one copy per answer): a
million stored answers never sit in memory as records. Only an answer whose verdict must be
scored again is read whole (``fetch``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from array import array
from typing import Any, Callable, Iterable, Iterator

from attrs import define, field

from silspec.analysis.distributions import ScoredAnswer
from silspec.analysis.results import Warning
from silspec.answers import Verdict, score, scorer_hash
from silspec.plan.compile import build_plan_item
from silspec.plan.model import PlanItem
from silspec.run.records import AnswerRecord, stored_reply, stored_verdict
from silspec.analysis.usage import UsageTally
from silspec.run.store import AnswerRow

from silspec.spec.model import Parser, Spec

# (lean row, the whole record when the caller already holds it; None: ``fetch`` reads it)
StoredEntry = tuple[AnswerRow, "AnswerRecord | None"]


CellKey = tuple[str, str, "str | None"]  # (condition, item, country)


class CellAnswers:
    """One cell's scored answers as columns (~30 bytes an answer, not a ~150-byte object each):
    persona and code as shared references, replicate and flags packed, and the columns that are
    mostly empty (probabilities, valid mass) or constant (answer mode) kept only once they vary.
    Iterating gives the ``ScoredAnswer`` objects back, in order, one cell at a time."""

    __slots__ = ("key", "scale", "personas", "codes", "outcomes", "replicates", "flags", "n",
                 "probs", "has_probs", "valid_mass", "modes", "mode")

    def __init__(self, key: CellKey, mode: str, scale: tuple[int, ...]):
        self.key = key
        self.scale = scale  # the item's codes: a distribution is kept as one float per code
        self.personas: list[str] = []
        self.codes: list[int | None] = []
        self.outcomes: list[str] = []
        self.replicates = array("q")
        self.flags = bytearray()  # bit 0: defaulted, bit 1: dropped
        self.n = 0
        self.probs: array[float] | None = None  # flat, len(scale) values per answer
        self.has_probs: bytearray | None = None
        self.valid_mass: list[float | None] | None = None
        self.modes: list[str] | None = None
        self.mode = mode

    def append(self, persona: str, replicate: int, mode: str, outcome: str, code: int | None, defaulted: bool,
               dropped: bool, probs: dict[int, float] | None, valid_mass: float | None) -> None:
        self.personas.append(persona)
        self.replicates.append(replicate)
        self.outcomes.append(outcome)
        self.codes.append(code)
        self.flags.append(bool(defaulted) | bool(dropped) << 1)
        if probs or self.probs is not None:
            if self.probs is None or self.has_probs is None:
                self.probs, self.has_probs = array("d", bytes(8 * len(self.scale) * self.n)), bytearray(self.n)
            # only the scale's codes are ever read (``distributions._contribution``); a non-empty
            # distribution stays non-empty, so its answer still counts as a probability vector
            if probs:
                self.probs.extend(float(probs.get(code, 0.0)) for code in self.scale)
            else:
                self.probs.extend(0.0 for _ in self.scale)
            self.has_probs.append(1 if probs else 0)
        if valid_mass is not None or self.valid_mass is not None:
            self.valid_mass = self.valid_mass if self.valid_mass is not None else [None] * self.n
            self.valid_mass.append(valid_mass)
        if mode != self.mode or self.modes is not None:
            self.modes = self.modes if self.modes is not None else [self.mode] * self.n
            self.modes.append(mode)
        self.n += 1

    def __len__(self) -> int:
        return self.n

    def _probs(self, i: int) -> dict[int, float] | None:
        if self.probs is None or self.has_probs is None or not self.has_probs[i]:
            return None
        k = len(self.scale)
        return dict(zip(self.scale, self.probs[i * k:(i + 1) * k]))

    def __iter__(self) -> Iterator[ScoredAnswer]:
        condition, item, country = self.key
        for i in range(self.n):
            flags = self.flags[i]
            yield ScoredAnswer(
                condition=condition, item=item, persona=self.personas[i], replicate=self.replicates[i],
                answers=self.modes[i] if self.modes is not None else self.mode, outcome=self.outcomes[i],
                code=self.codes[i], defaulted=bool(flags & 1), dropped=bool(flags & 2),
                option_probs=self._probs(i),
                valid_mass=self.valid_mass[i] if self.valid_mass is not None else None, country=country,
            )


@define
class Seen:
    """What the scoring pass saw besides verdicts, for the header and the warnings: every
    answer counted, and each condition's provider models and system fingerprints in first-seen
    order (all answers given, conditions the spec does not define included)."""

    n_answers: int = 0
    provider_models: dict[str, dict[str, None]] = field(factory=dict)
    fingerprints: dict[str, dict[str, None]] = field(factory=dict)
    usage: UsageTally = field(factory=UsageTally)  # tokens per condition, for the cost


def row_of(record: AnswerRecord) -> AnswerRow:
    """An ``AnswerRecord`` as the lean row the scoring pass reads (``probs`` kept as a dict)."""
    tokens = record.meta.get("option_tokens") if record.meta else None
    return AnswerRow(
        request_id=record.request_id, condition=record.condition, item=record.item, persona=record.persona,
        replicate=record.replicate, answers=record.answers, outcome=record.outcome,
        parsed_code=record.parsed_code, defaulted=record.defaulted, dropped=record.dropped,
        probs=record.probs, valid_mass=record.valid_mass, country=record.country,
        provider_model=record.provider_model, system_fingerprint=record.system_fingerprint,
        scorer=record.scorer, option_tokens=json.dumps(tokens),
        prompt_tokens=record.prompt_tokens, completion_tokens=record.completion_tokens,
        cached=int(bool(record.meta and record.meta.get("cached_from"))),
        batched=int(bool(record.meta and record.meta.get("batch_id"))),
    )


def score_rows(
    spec: Spec,
    entries: Iterable[StoredEntry],
    warnings: list[Warning],
    fetch: Callable[[str], AnswerRecord | None] | None = None,
) -> tuple[dict[CellKey, CellAnswers], Seen]:
    """Every stored answer's verdict in one pass, grouped by cell in first-seen order: as stored
    (read from the row), or scored again from the whole record where the definition changed
    (``fetch`` reads it by request id)."""
    cells: dict[CellKey, CellAnswers] = {}
    seen = Seen(provider_models=defaultdict(dict), fingerprints=defaultdict(dict))
    unknown: dict[str, int] = defaultdict(int)
    items: dict[str, tuple[Any, PlanItem] | None] = {}
    hashes: dict[tuple[str, str, str, str], str] = {}
    tokens_of: dict[str, tuple[str, ...] | None] = {}
    shared: dict[Any, Any] = {}  # one copy of each repeated string (persona, item, outcome, ...)
    rescored: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # condition -> [re-scored, changed]
    unfilled: dict[str, int] = defaultdict(int)  # option_probs failures a midpoint policy cannot fill
    n = 0
    for row, record in entries:
        n += 1
        seen.usage.add(row)
        if row.provider_model:
            seen.provider_models[row.condition].setdefault(row.provider_model, None)
        if row.system_fingerprint:
            seen.fingerprints[row.condition].setdefault(row.system_fingerprint, None)
        condition = spec.conditions.get(row.condition)
        if condition is None or condition.parser not in spec.parsers:
            unknown[row.condition] += 1
            continue
        if row.item not in items:
            try:
                item = spec.item(row.item)
                items[row.item] = (item, build_plan_item(item))
            except KeyError:
                items[row.item] = None
        found = items[row.item]
        if found is None:
            unknown[f"{row.condition}: item {row.item}"] += 1
            continue
        item, plan_item = found
        parser = spec.parsers[condition.parser]
        stored = False
        if row.scorer is not None:
            key = (row.answers, condition.parser, item.id, row.option_tokens)
            current = hashes.get(key)
            if current is None:
                if row.option_tokens not in tokens_of:
                    tokens = json.loads(row.option_tokens)
                    tokens_of[row.option_tokens] = tuple(tokens) if tokens else None
                current = hashes[key] = scorer_hash(answers=row.answers, parser=parser, item=plan_item,
                                                    option_tokens=tokens_of[row.option_tokens])
            stored = row.scorer == current
        if stored:
            outcome, code, defaulted = row.outcome, row.parsed_code, bool(row.defaulted)
            probs = _probs(row.probs)
            dropped = bool(row.dropped)
        else:
            whole = record if record is not None else (fetch(row.request_id) if fetch else None)
            if whole is None:
                raise KeyError(f"stored answer {row.request_id} could not be read again to score it")
            verdict, how = verdict_of(whole, parser, plan_item)
            if how == "rescored":
                counts = rescored[row.condition]
                counts[0] += 1
                counts[1] += verdict != stored_verdict(whole)
            outcome, code, defaulted, dropped = verdict.outcome, verdict.code, verdict.defaulted, verdict.dropped
            probs = dict(verdict.probs) if verdict.probs else None
        if row.answers == "option_probs" and outcome == "error" and parser.on_error == "midpoint":
            unfilled[row.condition] += 1
        key = (row.condition, row.item, row.country)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = CellAnswers(key, row.answers, tuple(item.scale.codes))
        cell.append(
            shared.setdefault(row.persona, row.persona), row.replicate, shared.setdefault(row.answers, row.answers),
            shared.setdefault(outcome, outcome), code, defaulted, dropped, probs, row.valid_mass,
        )
    seen.n_answers = n
    _scoring_warnings(warnings, unknown, rescored, unfilled)
    return cells, seen


def _probs(value: str | dict[Any, Any] | None) -> dict[int, float] | None:
    """A stored verdict's distribution (JSON text or a dict) as the distributions read it."""
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return {int(k): float(v) for k, v in value.items()} or None


def _scoring_warnings(
    warnings: list[Warning], unknown: dict[str, int], rescored: dict[str, list[int]], unfilled: dict[str, int]
) -> None:
    """Answers the spec does not define, verdicts scored again, option_probs failures left out."""
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
