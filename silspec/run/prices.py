"""Where a model's token price comes from, named in every report that shows a cost.

In order: the model block's own ``price_input_per_mtok``/``price_output_per_mtok`` (the spec
wins, whatever the backend); a local backend (``hf``, ``vllm``: nothing is billed, "local");
``replay`` (recorded answers, nothing asked, "replay"); the shipped table ``prices.toml`` (its
provider page URL and date are the provenance); otherwise the price is *unknown* and the report
says so and warns, never counting the model as free.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from attrs import frozen


PriceSource = Literal["spec", "prices file", "local", "replay", "unknown"]
LOCAL_BACKENDS = frozenset({"hf", "vllm"})
PER_MILLION = 1_000_000
PRICES_FILE = "silspec/run/prices.toml"


@frozen
class Price:
    """Per million tokens; ``input``/``output`` None only when the source is ``unknown``."""

    source: PriceSource
    detail: str  # what a reader needs to check it: the page and date, or the spec
    input: float | None = None
    output: float | None = None
    currency: str = "USD"
    batch_discount: float = 1.0  # factor on answers that came back from a Batch API job

    @property
    def known(self) -> bool:
        return self.source != "unknown"

    def cost(self, prompt_tokens: int, completion_tokens: int, *, batched: bool = False) -> float | None:
        if self.input is None or self.output is None:
            return None
        factor = self.batch_discount if batched else 1.0
        return (prompt_tokens * self.input + completion_tokens * self.output) * factor / PER_MILLION


def model_price(model: Any, key: str) -> float | None:
    """A price the model block declares (``price_input_per_mtok`` / ``price_output_per_mtok``)."""
    value = (getattr(model, "options", None) or {}).get(key)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@lru_cache(maxsize=1)
def shipped_prices() -> dict[str, Any]:
    """The parsed ``prices.toml`` (read once)."""
    text = resources.files("silspec.run").joinpath("prices.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def price_for(model: Any) -> Price:
    """The price of a spec (or plan) model, with where it comes from."""
    price_in = model_price(model, "price_input_per_mtok")
    price_out = model_price(model, "price_output_per_mtok")
    if price_in is not None or price_out is not None:
        return Price(source="spec", detail=f"model block `{model.name}` (price_input/output_per_mtok)",
                     input=price_in or 0.0, output=price_out or 0.0, currency="")
    if model.backend in LOCAL_BACKENDS:
        return Price(source="local", detail=f"local model (backend {model.backend}): nothing billed",
                     input=0.0, output=0.0)
    if model.backend == "replay":
        return Price(source="replay", detail="replayed answers: nothing asked in this run", input=0.0, output=0.0)
    for table in shipped_prices().values():
        if not isinstance(table, dict) or table.get("backend") != model.backend:
            continue
        entry = _lookup(table.get("models") or {}, model.model_id)
        if entry is not None:
            scale = PER_MILLION / float(table.get("per", PER_MILLION))
            return Price(
                source="prices file",
                detail=f"{PRICES_FILE}: {table.get('url', '?')} as of {table.get('as_of', '?')}",
                input=float(entry["input"]) * scale, output=float(entry["output"]) * scale,
                currency=str(table.get("currency", "USD")),
                batch_discount=float(table.get("batch_discount", 1.0)),
            )
    return Price(source="unknown", detail=f"no price for {model.backend} model {model.model_id!r} in "
                 f"{PRICES_FILE} and none in the model block")


def _lookup(models: dict[str, Any], model_id: str) -> dict[str, Any] | None:
    """Exact id, else the id without a dated snapshot suffix (``gpt-4o-mini-2024-07-18``)."""
    if model_id in models:
        return models[model_id]
    parts = model_id.rsplit("-", 3)
    if len(parts) == 4 and all(p.isdigit() for p in parts[1:]):
        return models.get(parts[0])
    return None
