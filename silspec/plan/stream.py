"""Plans whose requests are compiled again on every pass instead of held: ``silspec run`` of a
million requests in flat memory.

A compiled request is ~2-3 kB of Python objects (messages, ids, tuples): a million of them held
in a tuple were 3.7 GB. Compiling is deterministic (same spec + seed: the same requests, byte for
byte), so a ``RequestStream`` keeps the recipe and its length, and each ``for request in
plan.requests`` compiles the requests again, one at a time. ``only(conditions)`` compiles just
those conditions (the executor's lane of one model never renders another model's prompts).

Small plans (tests, pilots, the KGSS study) keep their tuple: a ``Plan`` takes either.
"""

from __future__ import annotations

from typing import Callable, Collection, Iterator, Sequence

import attrs

from silspec.plan.compile import compile_header, iter_requests
from silspec.plan.hashing import PlanHasher
from silspec.plan.model import Plan, PlanHeader, Request
from silspec.spec.model import Spec


class RequestStream:
    """A plan's requests, compiled anew on each iteration; ``len`` is known without holding them.

    Not a sequence: no indexing or slicing (``tuple(stream)`` when a list is truly needed).
    """

    def __init__(self, make: Callable[[Collection[str] | None], Iterator[Request]], count: int,
                 conditions: Sequence[str]):
        self._make = make
        self._count = count
        self.conditions = tuple(conditions)  # the conditions it yields, in plan order

    def __iter__(self) -> Iterator[Request]:
        return self._make(None)

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def only(self, conditions: Collection[str]) -> Iterator[Request]:
        """The requests of ``conditions`` alone, in plan order (the others are never compiled)."""
        return self._make(frozenset(conditions))

    def __repr__(self) -> str:
        return f"RequestStream({self._count} requests, conditions {', '.join(self.conditions)})"


def compile_streamed_plan(spec: Spec, *, conditions: Sequence[str] | None = None) -> Plan:
    """The plan of ``spec`` with its requests streamed (``RequestStream``): one compile pass now
    for the plan hash and the count, another each time the requests are read."""
    header = compile_header(spec, conditions=conditions, limit=None)
    hasher, count = PlanHasher(), 0
    for request in iter_requests(spec, header):
        hasher.add(request.id)
        count += 1
    return Plan(header=header, requests=RequestStream(_maker(spec, header), count, tuple(header.conditions)),
                plan_hash=hasher.hexdigest())


def _maker(spec: Spec, header: PlanHeader) -> Callable[[Collection[str] | None], Iterator[Request]]:
    def make(only: Collection[str] | None) -> Iterator[Request]:
        if only is None:
            return iter_requests(spec, header)
        kept = {name: c for name, c in header.conditions.items() if name in only}
        return iter_requests(spec, attrs.evolve(header, conditions=kept))

    return make


def requests_of(requests: Sequence[Request] | RequestStream, conditions: Collection[str]) -> Iterator[Request]:
    """The requests of ``conditions`` in plan order, from a stream (compiling only those) or a tuple."""
    if isinstance(requests, RequestStream):
        return requests.only(conditions)
    wanted = frozenset(conditions)
    return (r for r in requests if r.condition in wanted)
