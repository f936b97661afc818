"""Tokens and cost per condition (one model each), counted on the analysis's one pass.

Why here and not a SQL sum: the report scores only the current plan's answers, and the same
stream decides which those are; tallying on it keeps tokens and cost over exactly the answers
the metrics rest on. The cost is what *this run* paid: answers reused from the results cache
cost 0 here (they are counted as ``cached``), Batch API answers get the provider's batch
discount, and an answer the provider billed but whose token counts were not stored makes the
cost a lower bound (``without_tokens``), said in the report, never silently a smaller number.
"""

from __future__ import annotations

from typing import Any

import attrs
from attrs import define, field, frozen

from silspec.run.prices import Price, price_for


@frozen
class Usage:
    """One condition's tokens and cost (the JSON report's ``usage`` rows)."""

    condition: str
    model: str
    model_id: str
    backend: str
    answers: int  # current-plan answers counted
    prompt_tokens: int  # summed over the answers that carry counts (cached ones excluded)
    completion_tokens: int
    with_tokens: int  # answers with the provider's token counts
    without_tokens: int  # answers asked in this run, not failed, with no token counts: the cost misses them
    cached: int  # answers reused from the results cache: not paid by this run
    cost: float | None  # None: the price is unknown; a lower bound when without_tokens > 0
    currency: str
    price_source: str  # spec | prices file | local | replay | unknown
    price_detail: str
    price_input: float | None  # per million tokens
    price_output: float | None

    @property
    def cost_is_lower_bound(self) -> bool:
        return self.cost is not None and self.without_tokens > 0 and self.price_source in ("spec", "prices file")


@define
class _Counts:
    answers: int = 0
    with_tokens: int = 0
    without_tokens: int = 0
    cached: int = 0
    prompt: int = 0
    completion: int = 0
    batched_prompt: int = 0
    batched_completion: int = 0


@define
class UsageTally:
    """Counters per condition, fed one stored answer row at a time."""

    counts: dict[str, _Counts] = field(factory=dict)

    def add(self, row: Any) -> None:
        counts = self.counts.get(row.condition)
        if counts is None:
            counts = self.counts[row.condition] = _Counts()
        counts.answers += 1
        if row.cached:
            counts.cached += 1
            return
        prompt, completion = row.prompt_tokens, row.completion_tokens
        if prompt is None and completion is None:
            if row.outcome != "error":  # a failed request is not billed; a reply without counts is
                counts.without_tokens += 1
            return
        counts.with_tokens += 1
        if row.batched:
            counts.batched_prompt += prompt or 0
            counts.batched_completion += completion or 0
        else:
            counts.prompt += prompt or 0
            counts.completion += completion or 0

    def rows(self, spec: Any) -> list[Usage]:
        """One ``Usage`` per condition of ``spec`` that has answers, in the spec's order; an
        ablation's generated subset conditions are one row, ``ablation NAME (k subsets)``,
        summed (as the plan summary and the report's tables show them)."""
        subset_of = {cond: ablation for ablation in getattr(spec, "ablations", {}).values()
                     for _, cond in ablation.subsets if cond != ablation.condition}
        out, summed = [], {}
        for name, condition in spec.conditions.items():
            counts = self.counts.get(name)
            if counts is None:
                continue
            ablation = subset_of.get(name)
            if ablation is None:
                model = spec.models[condition.model]
                out.append(usage_row(name, model, counts, price_for(model)))
                continue
            if ablation.name not in summed:
                summed[ablation.name] = (len(out), condition.model, _Counts())
                out.append(None)
            total = summed[ablation.name][2]
            for key in attrs.fields_dict(_Counts):
                setattr(total, key, getattr(total, key) + getattr(counts, key))
        for ablation_name, (at, model_name, total) in summed.items():
            k = sum(1 for a in spec.ablations.values() if a.name == ablation_name for _, c in a.subsets
                    if c != a.condition)
            model = spec.models[model_name]
            out[at] = usage_row(f"ablation {ablation_name} ({k} subsets)", model, total, price_for(model))
        return out


def usage_row(condition: str, model: Any, counts: _Counts, price: Price) -> Usage:
    cost = None
    if price.known:
        cost = (price.cost(counts.prompt, counts.completion) or 0.0) + (
            price.cost(counts.batched_prompt, counts.batched_completion, batched=True) or 0.0)
    return Usage(
        condition=condition, model=model.name, model_id=model.model_id, backend=model.backend,
        answers=counts.answers, prompt_tokens=counts.prompt + counts.batched_prompt,
        completion_tokens=counts.completion + counts.batched_completion, with_tokens=counts.with_tokens,
        without_tokens=counts.without_tokens, cached=counts.cached, cost=cost, currency=price.currency,
        price_source=price.source, price_detail=price.detail, price_input=price.input, price_output=price.output,
    )


def answer_cost(price: Price, row: Any) -> float | None:
    """What one answer cost this run: 0 when cached, None when the price or its counts are unknown."""
    if row.cached:
        return 0.0
    if price.source in ("local", "replay"):
        return 0.0
    if row.prompt_tokens is None and row.completion_tokens is None:
        return 0.0 if row.outcome == "error" and price.known else None
    return price.cost(row.prompt_tokens or 0, row.completion_tokens or 0, batched=bool(row.batched))
