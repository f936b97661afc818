"""A rough cost estimate for ``silspec run --dry-run``, priced as the report prices a run.

Prices come from ``silspec.run.prices.price_for``, the lookup the report's "Tokens and cost"
uses: the model block's ``price_input_per_mtok`` / ``price_output_per_mtok`` (transport-only keys:
they change no answer, so no request id), a local or replay model (nothing billed), the shipped
``prices.toml``, else unknown (said, never counted as free). Prompt tokens are estimated (the
plan's characters / 3.5); completion tokens are the budget the model may spend (``max_tokens`` or
``max_completion_tokens`` per call, 1 for ``option_probs``), so the estimate is an upper-ish
bound, never a quote.
"""

from __future__ import annotations

from typing import Any, Iterable

from attrs import frozen

from silspec.run.prices import model_price, price_for

PRICE_KEYS = ("price_input_per_mtok", "price_output_per_mtok")
HOW_TO_SET_PRICES = (
    "set prices in the model block, e.g. `price_input_per_mtok = 1.25` and"
    " `price_output_per_mtok = 10.0` (per million tokens)"
)


@frozen
class ModelCost:
    model: str
    calls: int
    prompt_tokens: int
    completion_tokens: int | None  # None: no completion budget known (max_tokens unset)
    price_input_per_mtok: float | None
    price_output_per_mtok: float | None
    cost: float | None  # None: no input price known
    price_source: str = "spec"  # silspec.run.prices.PriceSource
    price_detail: str = ""  # the page and date, the model block, or why there is none
    currency: str = ""  # USD from the prices file; a model block's own prices: as written

    @property
    def priced(self) -> bool:
        return self.cost is not None


def completion_budget(model: Any, answers: str) -> int | None:
    """Tokens a call may generate: 1 for option_probs, else the model's max_tokens (or None)."""
    if answers == "option_probs":
        return 1
    params = getattr(model, "params", None) or {}
    budget = params.get("max_completion_tokens") or params.get("max_tokens")
    return int(budget) if budget else None


def estimate_cost(model: Any, *, calls: int, prompt_tokens: int, completion_tokens: int | None) -> ModelCost:
    price = price_for(model)
    price_in, price_out = price.input, price.output
    if price.source == "spec":  # what the block declares, no more: an output price left out is said
        price_in, price_out = model_price(model, PRICE_KEYS[0]), model_price(model, PRICE_KEYS[1])
    cost = None
    if price_in is not None:
        cost = prompt_tokens * price_in / 1e6
        if price_out is not None and completion_tokens:
            cost += completion_tokens * price_out / 1e6
        if (getattr(model, "options", None) or {}).get("batch") is True:
            cost *= price.batch_discount  # the table's Batch API discount (a block's own price is as written)
    return ModelCost(model=model.name, calls=calls, prompt_tokens=prompt_tokens,
                     completion_tokens=completion_tokens, price_input_per_mtok=price_in,
                     price_output_per_mtok=price_out, cost=cost, price_source=price.source,
                     price_detail=price.detail, currency=price.currency)


def per_model(models: dict[str, Any], rows: Iterable[Any]) -> list[ModelCost]:
    """Sum dry-run rows (condition, model, to_ask, prompt_tokens, completion_tokens) per model."""
    totals: dict[str, list[Any]] = {}
    for row in rows:
        calls, prompt, completion = totals.setdefault(row.model, [0, 0, 0])
        unknown = completion is None or row.completion_tokens is None
        totals[row.model] = [calls + row.to_ask, prompt + row.prompt_tokens,
                             None if unknown else completion + row.completion_tokens]
    return [estimate_cost(models[name], calls=calls, prompt_tokens=prompt, completion_tokens=completion)
            for name, (calls, prompt, completion) in totals.items()]
