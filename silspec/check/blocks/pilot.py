"""``pilot { ... }`` -> ``Pilot``: the criteria of a variable-level pilot (``silspec pilot``).

Diagnostics of this block:
  SIL920 error    a criterion outside its range (``valid_min = 1.5``, ``js_max = 0``, ``personas = 0``)
  SIL921 warning  fewer than ``MIN_USEFUL_PERSONAS`` personas: the bootstrap interval the verdict
                  reads is too wide to say go or no-go for almost any item
  SIL922 warning  ``personas`` not smaller than a condition's population: the pilot asks
                  everyone, so it is the full run of that condition, not a pilot of it
"""

from __future__ import annotations

from typing import Any

from silspec.check import limits, values as v
from silspec.check.blocks.common import assignments, blocks
from silspec.check.context import Context
from silspec.spec.model import Condition, Pilot, Population

MIN_USEFUL_PERSONAS = 10

# key -> (lowest, highest, lowest allowed itself, highest allowed itself, what it means)
_SHARES = {
    "js_max": (0.0, None, False, True, "a JS value above 0 (ln divergence is at most ln 2 = 0.693)"),
    "valid_min": (0.0, 1.0, True, True, "a share of answered requests, 0..1 (e.g. 0.8)"),
    "modal_max": (0.0, 1.0, False, True, "a share of the valid answers, above 0 and at most 1 (e.g. 0.95)"),
    "level": (0.0, 1.0, False, False, "a confidence level between 0 and 1 (e.g. 0.95)"),
}


def build_pilot(ctx: Context, populations: dict[str, Population], conditions: dict[str, Condition]) -> Pilot | None:
    block = next(iter(blocks(ctx.document.entries, "pilot")), None)
    if block is None:
        return None
    a = assignments(block)
    kw: dict[str, Any] = {}
    if "personas" in a:
        node = a["personas"].value
        n = v.as_int(ctx, node, "personas")
        if n is not None and n < 1:
            ctx.error("SIL920", f"pilot `personas = {n}`: a pilot asks at least one persona per item", node.span,
                      "personas per item x condition, e.g. `personas = 20`")
        elif n is not None:
            kw["personas"] = n
    for key, (low, high, low_ok, high_ok, meaning) in _SHARES.items():
        if key not in a:
            continue
        node = a[key].value
        x = v.as_number(ctx, node, key)
        if x is None:
            continue
        below = x < low or (x == low and not low_ok)
        above = high is not None and (x > high or (x == high and not high_ok))
        if below or above:
            ctx.error("SIL920", f"pilot `{key} = {x:g}` is out of range", node.span, f"`{key}` is {meaning}")
        else:
            kw[key] = float(x)
    if "resamples" in a:
        r = v.as_int(ctx, a["resamples"].value, "resamples", minimum=1, maximum=limits.MAX_RESAMPLES)
        if r is not None:
            kw["resamples"] = r
    if "seed" in a:
        seed = v.as_int(ctx, a["seed"].value, "seed", minimum=0)
        if seed is not None:
            kw["seed"] = seed
    pilot = Pilot(**kw)
    span = a["personas"].value.span if "personas" in a else block.span
    if pilot.personas < MIN_USEFUL_PERSONAS and "personas" in kw:
        ctx.warning("SIL921", f"a pilot of {pilot.personas} personas per item: its bootstrap interval is too wide"
                              " to call most items go or no-go", span,
                    f"ask at least {MIN_USEFUL_PERSONAS} (the KGSS authors' full runs asked 100)")
    for name, condition in conditions.items():
        population = populations.get(condition.population) if condition.population else None
        size = population.size if population is not None else None
        if size is not None and pilot.personas >= size:
            ctx.warning("SIL922", f"pilot `personas = {pilot.personas}` is not smaller than condition `{name}`'s"
                                  f" population ({size}): the pilot would ask everyone", span,
                        "a pilot is a small part of the run it gates; lower `personas`")
    return pilot
