"""The Jinja environment and the variables a template sees, defined once for lint and plan.

Templates are user input: they run in ``SandboxedEnvironment`` with ``StrictUndefined`` so that
a typo is an error (not an empty string) and ``''.__class__.__mro__`` is refused; the sandbox
also bounds sizes and work (``silspec.templating.sandbox``), since templates come from strangers.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

from silspec.spec.model import Item
from silspec.templating.sandbox import make_sandbox

TOP_LEVEL = ("persona", "item", "country", "country_name", "study", "condition")


@lru_cache(maxsize=2)
def make_environment(*, keep_trailing_newline: bool = True) -> Any:
    """The one sandbox factory (lint and plan): strict, immutable, with size and work bounds.

    Plans render with ``keep_trailing_newline=False`` (request ids depend on that choice).
    """
    return make_sandbox(keep_trailing_newline=keep_trailing_newline)


def scale_labels(item: Item) -> str:
    """``1=매우 신뢰, 2=보통, 3=...``: the paper's format."""
    return ", ".join(f"{c.code}={c.label}" for c in item.scale.substantive)


def item_context(item: Item) -> dict[str, Any]:
    codes = item.scale.codes
    labels = tuple(c.label for c in item.scale.substantive)
    ctx = dict(item.fields)
    ctx.update(
        id=item.id, code=item.code, text=item.text, codes=list(codes), labels=list(labels),
        min=min(codes), max=max(codes), scale_labels=scale_labels(item),
        options=[{"code": c, "label": l} for c, l in zip(codes, labels)], shown_labels=list(labels),
    )
    return ctx


def country_name(names: Mapping[str, str], country: str | None) -> str | None:
    """The display name of a country code (``study.countries``), falling back to the code."""
    if country is None:
        return None
    return names.get(country) or country
