"""A rough cost estimate for ``silspec run --dry-run``, from prices the spec declares.

Prices are transport-only model keys (they change no answer, so no request id):
``price_input_per_mtok`` and ``price_output_per_mtok`` in the model block, in any currency per
million tokens; they reach the runner in ``PlanModel.options``. Prompt tokens are estimated
(UTF-8 bytes / 4); completion tokens are the budget the model may spend (``max_tokens`` or
``max_completion_tokens`` per call, 1 for ``option_probs``), so the estimate is an upper-ish
bound, never a quote.
"""

from __future__ import annotations

from typing import Any, Iterable

from attrs import frozen

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
    cost: float | None  # None: no input price declared

    @property
    def priced(self) -> bool:
        return self.cost is not None


def model_price(model: Any, key: str) -> float | None:
    value = (getattr(model, "options", None) or {}).get(key)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def completion_budget(model: Any, answers: str) -> int | None:
    """Tokens a call may generate: 1 for option_probs, else the model's max_tokens (or None)."""
    if answers == "option_probs":
        return 1
    params = getattr(model, "params", None) or {}
    budget = params.get("max_completion_tokens") or params.get("max_tokens")
    return int(budget) if budget else None


def estimate_cost(model: Any, *, calls: int, prompt_tokens: int, completion_tokens: int | None) -> ModelCost:
    price_in = model_price(model, "price_input_per_mtok")
    price_out = model_price(model, "price_output_per_mtok")
    cost = None
    if price_in is not None:
        cost = prompt_tokens * price_in / 1e6
        if price_out is not None and completion_tokens:
            cost += completion_tokens * price_out / 1e6
    return ModelCost(model=model.name, calls=calls, prompt_tokens=prompt_tokens,
                     completion_tokens=completion_tokens, price_input_per_mtok=price_in,
                     price_output_per_mtok=price_out, cost=cost)


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
