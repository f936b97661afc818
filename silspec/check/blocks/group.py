"""`group NAME = [...]`: named lists of countries or items."""

from __future__ import annotations

from silspec.check import values as v
from silspec.check.blocks.common import named_values
from silspec.check.context import Context


def build_groups(ctx: Context) -> dict[str, tuple[str, ...]]:
    out = {}
    for nv in named_values(ctx.document.entries, "group"):
        names = v.as_str_list(ctx, nv.value, nv.name)
        if names is not None:
            out[nv.name] = names
    return out
