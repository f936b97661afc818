"""``--limit N``: a pilot that touches every condition, model and item, applied to a full plan.

The plan lists requests condition by condition, item by item; its first N rows would ask one
item of one condition. A pilot is for finding what breaks (a prompt, a key, a parser, a
replay file), so it keeps, **per condition**, the first N requests in persona-major order —
persona 1 × every item, then persona 2 × every item, ... (replicate 0 of each before
replicate 1) — and returns them in the plan's own order. With N at least the number of items,
every item of every condition is asked.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import attrs

from silspec.plan.compile import compile_header, iter_requests
from silspec.plan.hashing import plan_hash
from silspec.plan.model import Plan, PlanCondition, Request


def limit_plan(plan: Plan, limit: int | None) -> Plan:
    """The pilot subset of ``plan``: per condition the first ``limit`` requests, persona-major."""
    if limit is None:
        return plan
    requests = tuple(pilot_requests(plan.header.conditions, plan.requests, limit))
    counts = {name: sum(1 for r in requests if r.condition == name) for name in plan.header.conditions}
    header = attrs.evolve(
        plan.header,
        limit=limit,
        conditions={name: attrs.evolve(c, n_requests=counts.get(name, 0),
                                       estimated_prompt_tokens=_scaled(c, counts.get(name, 0)))
                    for name, c in plan.header.conditions.items()},
    )
    return Plan(header=header, requests=requests, plan_hash=plan_hash(r.id for r in requests))


def compile_pilot_plan(spec, *, conditions=None, limit: int) -> Plan:
    """``limit_plan(compile_plan(spec), limit)`` without rendering the whole plan.

    A persona-major pilot of N requests only reaches the first ceil(N / (items × samples))
    personas of each condition, so only those are rendered: a pilot of a 500,000-persona design
    costs what a pilot of a 50-persona one does (persona sampling itself still runs in full).
    """
    if limit < 0:
        raise ValueError("--limit must be zero or more")
    header = compile_header(spec, conditions=conditions)
    truncated = {}
    for name, condition in header.conditions.items():
        per_persona = max(1, len(condition.items) * condition.samples)
        keep = condition.persona_ids[: -(-limit // per_persona)]
        truncated[name] = attrs.evolve(
            condition, persona_ids=keep, n_requests=min(condition.n_requests, len(keep) * per_persona)
        )
    requests = tuple(iter_requests(spec, attrs.evolve(header, conditions=truncated)))
    return limit_plan(Plan(header=header, requests=requests, plan_hash=""), limit)


def _scaled(condition: PlanCondition, kept: int) -> int:
    """The condition's token estimate for the ``kept`` of its requests a pilot asks."""
    if not condition.n_requests:
        return 0
    return round(condition.estimated_prompt_tokens * kept / condition.n_requests)


def pilot_requests(conditions: Mapping[str, PlanCondition], requests: Iterable[Request],
                   limit: int) -> list[Request]:
    """The requests a ``--limit`` pilot keeps, in plan order (``conditions``: the plan header's).

    Also what a reader of a pilot's run directory needs to reproduce its plan hash from a full
    (unlimited) recompilation: ``plan_hash(r.id for r in pilot_requests(...))``.
    """
    if limit < 0:
        raise ValueError("--limit must be zero or more")
    ordered = list(requests)
    by_condition: dict[str, list[tuple[int, Request]]] = {}
    for position, request in enumerate(ordered):
        by_condition.setdefault(request.condition, []).append((position, request))
    kept: set[int] = set()
    for name, rows in by_condition.items():
        kept.update(position for position, _ in _persona_major(conditions.get(name), rows)[:limit])
    return [request for position, request in enumerate(ordered) if position in kept]


def _persona_major(declared: PlanCondition | None,
                   rows: list[tuple[int, Request]]) -> list[tuple[int, Request]]:
    persona_rank = {p: i for i, p in enumerate(declared.persona_ids)} if declared else {}
    item_rank = {it: i for i, it in enumerate(declared.items)} if declared else {}
    first_seen: dict[str, int] = {}
    first_item: dict[str, int] = {}
    for position, request in rows:
        first_seen.setdefault(request.persona, position)
        first_item.setdefault(request.item, position)

    def key(row: tuple[int, Request]) -> tuple[int, int, int, int, int, int]:
        position, request = row
        return (persona_rank.get(request.persona, len(persona_rank)), first_seen[request.persona],
                request.replicate,
                item_rank.get(request.item, len(item_rank)), first_item[request.item], position)

    return sorted(rows, key=key)


def pilot_limit(condition: PlanCondition, personas: int) -> int:
    """The ``--limit`` that asks the first ``personas`` personas every item and replicate of
    ``condition`` (persona-major: exactly personas × items × samples requests)."""
    return personas * max(1, len(condition.items)) * max(1, condition.samples)


def gate_plan(plan: Plan, keep: Mapping[str, Iterable[str]]) -> Plan:
    """``plan`` asking, per condition, only the items in ``keep`` (``run --only-passed``).

    Every condition stays in the header (one whose items all failed keeps none and asks
    nothing), with its ``items`` and ``n_requests`` cut to what is asked, so the header
    describes the requests; the request ids are the full plan's, so stored answers count.
    """
    kept_items = {name: set(items) for name, items in keep.items()}
    requests = tuple(r for r in plan.requests if r.item in kept_items.get(r.condition, set()))
    counts = {name: sum(1 for r in requests if r.condition == name) for name in plan.header.conditions}
    header = attrs.evolve(plan.header, conditions={
        name: attrs.evolve(c, items=tuple(i for i in c.items if i in kept_items.get(name, set())),
                           n_requests=counts.get(name, 0),
                           estimated_prompt_tokens=_scaled(c, counts.get(name, 0)))
        for name, c in plan.header.conditions.items()
    })
    return Plan(header=header, requests=requests, plan_hash=plan_hash(r.id for r in requests))
