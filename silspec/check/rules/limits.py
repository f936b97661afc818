"""SIL205: a design too large to plan (estimated requests over ``MAX_TOTAL_REQUESTS``).

Each bound on its own (population size, samples) can be reasonable while their product is
not: 10 million personas x 200 items x 100 samples is 2 x 10**11 requests, which ``plan``
would try to stream for days. The estimate counts personas x countries x items x samples per
condition (row populations without a ``size`` count as unknown and are skipped).
"""

from __future__ import annotations

from silspec.check.context import Context
from silspec.check.limits import MAX_ITEMS_PER_SPEC, MAX_TOTAL_REQUESTS
from silspec.spec.model import Condition, Spec


def estimated_requests(spec: Spec, cond: Condition) -> int | None:
    """Requests ``cond`` will plan, or None when the population size is only known at plan time."""
    countries = max(len(cond.countries), 1)
    if cond.population is None:
        personas = countries
    else:
        pop = spec.populations.get(cond.population)
        if pop is None or pop.size is None:
            return None
        personas = pop.size * countries
    return personas * len(cond.items) * cond.samples * spec.replicates_of(cond)


def check(spec: Spec, ctx: Context) -> None:
    _check_item_count(spec, ctx)
    total = 0
    largest: tuple[int, Condition] | None = None
    for cond in spec.conditions.values():
        count = estimated_requests(spec, cond)
        if count is None:
            continue
        total += count
        if largest is None or count > largest[0]:
            largest = (count, cond)
    if largest is None or total <= MAX_TOTAL_REQUESTS:
        return
    count, cond = largest
    ctx.report("SIL205", f"the design asks for about {total:,} requests (limit {MAX_TOTAL_REQUESTS:,}); "
                        f"condition `{cond.name}` alone asks for {count:,}",
              ctx.span("condition", cond.name, "samples") or ctx.span("condition", cond.name, "population") or cond.span,
              "personas x countries x items x samples per condition; shrink the population, items or samples, "
              "or split the study into several specs")


def _check_item_count(spec: Spec, ctx: Context) -> None:
    """SIL203: more items than any survey has (every item is checked, rendered and planned)."""
    count = sum(len(s.items) for s in spec.surveys.values())
    if count <= MAX_ITEMS_PER_SPEC:
        return
    largest = max(spec.surveys.values(), key=lambda s: len(s.items))
    ctx.error("SIL203", f"the spec has {count:,} items (limit {MAX_ITEMS_PER_SPEC:,}); survey `{largest.name}` "
                        f"alone has {len(largest.items):,}", ctx.span("survey", largest.name),
              "split the study into several specs")
