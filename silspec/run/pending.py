"""Which requests of a plan to ask, and what the summary counts, in passes over the plan that
never hold it: a million-request plan streams (``silspec.plan.stream``) through here.

The rules are those of ``docs/design/store.md`` ("Which request is asked"): a request whose id
has a kept row (errors included, unless ``--retry-errors``) is not asked; an id the plan holds
twice is asked once, at its first place. What is stored is looked up in chunks, one query per
``CHUNK`` ids; what must be remembered across the plan is small:

- ``seen``, during the one counting pass (``scan``): every id as 128 bits of its hex digest (an
  int of 44 bytes, not a 113-byte string); dropped when the pass ends;
- the places (condition, index within the condition) of repeated ids: few, usually none.

The executor's lanes then pull ``pending_stream``: the plan again, repeated places skipped,
kept ids looked up a chunk at a time as the requests are pulled.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

from attrs import define, field, frozen

from silspec.plan.model import Request

CHUNK = 2_000  # ids per store look-up


def id_key(request_id: str) -> int | str:
    """A set key for a request id: 128 bits of a 64-hex-digit id as an int (collisions are as
    unlikely as in the hash itself), any other id as it is."""
    if len(request_id) == 64:
        try:
            return int(request_id[:32], 16)
        except ValueError:
            pass
    return request_id


@define
class ConditionScan:
    first: int = 0  # distinct ids counted at their first place in the plan (progress totals)
    to_ask: int = 0  # of those, not kept in the store: asked in this invocation
    distinct: int = 0  # distinct ids of the condition (an id also in another condition counts here too)
    pending: int = 0  # of those, not kept in the store when the run started


@frozen
class PlanScan:
    """One pass over a plan against the store as the run starts."""

    conditions: dict[str, ConditionScan]
    repeated_ids: frozenset[tuple[str, int]] = field(factory=frozenset)  # an id seen earlier in the plan
    repeated_in_condition: frozenset[tuple[str, int]] = field(factory=frozenset)  # ... in the same condition

    def totals(self) -> dict[str, int]:
        return {name: c.first for name, c in self.conditions.items() if c.first}

    def to_ask(self) -> dict[str, int]:
        return {name: c.to_ask for name, c in self.conditions.items() if c.to_ask}


def scan(requests: Iterable[Request], store: Any, *, retry_errors: bool) -> PlanScan:
    """Count, per condition, what the plan holds and what it still lacks; note repeated ids."""
    seen: dict[int | str, int] = {}  # id key -> bit set of the conditions it was seen in
    bits: dict[str, int] = {}
    counts: dict[str, ConditionScan] = {}
    index: dict[str, int] = {}
    repeated: list[tuple[str, int]] = []
    repeated_in_condition: list[tuple[str, int]] = []
    chunk: list[tuple[str, str, bool]] = []  # (condition, id, first place of the id)

    def flush() -> None:
        kept = store.kept_ids([rid for _, rid, _ in chunk], retry_errors=retry_errors)
        for condition, rid, first in chunk:
            c = counts[condition]
            c.distinct += 1
            if rid not in kept:
                c.pending += 1
                if first:
                    c.to_ask += 1
            if first:
                c.first += 1
        chunk.clear()

    for request in requests:
        condition = request.condition
        if condition not in counts:
            counts[condition] = ConditionScan()
            bits[condition] = 1 << len(bits)
            index[condition] = 0
        place = index[condition]
        index[condition] = place + 1
        key = id_key(request.id)
        mask = seen.get(key)
        bit = bits[condition]
        if mask is None:
            seen[key] = bit
            chunk.append((condition, request.id, True))
        else:
            repeated.append((condition, place))
            if mask & bit:
                repeated_in_condition.append((condition, place))
                continue
            seen[key] = mask | bit
            chunk.append((condition, request.id, False))
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    return PlanScan(counts, frozenset(repeated), frozenset(repeated_in_condition))


def _places(requests: Iterable[Request], skip: frozenset[tuple[str, int]]) -> Iterator[Request]:
    """``requests`` less those at the places in ``skip`` (condition, index within the condition)."""
    if not skip:
        yield from requests
        return
    index: dict[str, int] = {}
    for request in requests:
        place = index.get(request.condition, 0)
        index[request.condition] = place + 1
        if (request.condition, place) not in skip:
            yield request


def pending_stream(requests: Iterable[Request], store: Any, scanned: PlanScan, *,
                   retry_errors: bool) -> Iterator[Request]:
    """The requests still to ask, in plan order, each id once: kept ids are looked up as the
    requests are pulled (a chunk at a time), so the store's state is the one the run sees."""
    chunk: list[Request] = []
    for request in _places(requests, scanned.repeated_ids):
        chunk.append(request)
        if len(chunk) >= CHUNK:
            kept = store.kept_ids([r.id for r in chunk], retry_errors=retry_errors)
            yield from (r for r in chunk if r.id not in kept)
            chunk = []
    if chunk:
        kept = store.kept_ids([r.id for r in chunk], retry_errors=retry_errors)
        yield from (r for r in chunk if r.id not in kept)


@define
class ConditionOutcome:
    distinct: int = 0
    already: int = 0  # kept from before this invocation
    stored_errors: int = 0
    missing: int = 0
    recorded_errors: int = 0
    cached: int = 0  # stored in this invocation from the results cache


def outcomes(requests: Iterable[Request], store: Any, scanned: PlanScan, *, invocation: int | None,
             retry_errors: bool) -> dict[str, ConditionOutcome]:
    """Per condition, the plan's distinct ids as the store holds them after the run.

    "Already" (kept from before) is read from the row: written by an earlier invocation, and not
    an error row that ``--retry-errors`` asked again. A row of this invocation, or none, was
    pending when the run started.
    """
    result: dict[str, ConditionOutcome] = {}
    chunk: list[Request] = []

    def flush() -> None:
        states = store.row_states([r.id for r in chunk])
        for request in chunk:
            c = result.setdefault(request.condition, ConditionOutcome())
            c.distinct += 1
            state = states.get(request.id)
            if state is None:
                c.missing += 1
                continue
            outcome, written_by, recorded, cached = state
            mine = written_by is not None and written_by == invocation
            if not mine and not (retry_errors and outcome == "error"):
                c.already += 1
            if outcome == "error":
                c.stored_errors += 1
                c.recorded_errors += recorded
            if cached and mine:
                c.cached += 1
        chunk.clear()

    for request in _places(requests, scanned.repeated_in_condition):
        chunk.append(request)
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    return result


def chunks(requests: Iterable[Request], size: int = CHUNK) -> Iterator[Sequence[Request]]:
    """``requests`` a list of ``size`` at a time."""
    chunk: list[Request] = []
    for request in requests:
        chunk.append(request)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
