"""Personas without holding them: groups that build a ``Persona`` when asked, and the views a
plan header exposes over them.

A plan of 1,000,000 personas used to hold 1,000,000 ``Persona`` objects (about 1 KB each) in its
header and a tuple of their ids per condition. Here a persona sampled from a schema is a row of
small integers (one value index per attribute, ``SchemaPersonas``); its id is computed from its
position; its ``Persona`` object exists only while a request or a writer needs it. Personas
that come from a file (rows, descriptor text) or from a country list are already held by what
they come from, so ``ListPersonas`` keeps them as they are.

``PersonaTable`` is the header's ``personas`` (a read-only ``Mapping`` id -> ``Persona``, in the
order the plan first meets them) and ``PersonaIds`` a condition's ``persona_ids`` (a read-only
``Sequence`` of ids, in the order the condition asks them). Both compare equal to the dict and
tuple they replace, and a plan read back from JSON holds a plain dict and tuple instead:
readers index and iterate, never assume the concrete type.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from typing import Iterator, Union

import numpy as np

from silspec.plan.errors import PlanError
from silspec.plan.model import Persona

CHUNK = 4096  # personas built per step when streaming a group


class SchemaPersonas:
    """Personas drawn from a persona schema, held as value codes.

    ``codes[a][i]`` is the index into ``values[a]`` of attribute ``names[a]`` for the persona at
    position ``i``; its id is ``{prefix}P{i + 1:0{width}d}`` (zero-padded, so ids sort as positions).
    """

    def __init__(self, names: tuple[str, ...], values: tuple[tuple[str, ...], ...],
                 codes: Sequence[np.ndarray], size: int, *, prefix: str, width: int, country: str | None):
        self.names = names
        self.values = values
        self.codes = tuple(codes)
        self.size = size
        self.prefix = prefix
        self.width = width
        self.country = country

    def __len__(self) -> int:
        return self.size

    def with_prefix(self, extra: str) -> "SchemaPersonas":
        return SchemaPersonas(self.names, self.values, self.codes, self.size,
                              prefix=extra + self.prefix, width=self.width, country=self.country)

    def id_at(self, index: int) -> str:
        return f"{self.prefix}P{index + 1:0{self.width}d}"

    def at(self, index: int) -> Persona:
        attributes = {name: values[int(codes[index])]
                      for name, values, codes in zip(self.names, self.values, self.codes)}
        return Persona(id=self.id_at(index), attributes=attributes, country=self.country)

    def index_of(self, persona_id: str) -> int | None:
        head = self.prefix + "P"
        digits = persona_id[len(head):]
        if not persona_id.startswith(head) or len(digits) != self.width or not digits.isascii() \
                or not digits.isdigit():
            return None
        index = int(digits) - 1
        return index if 0 <= index < self.size else None

    def ids(self, start: int = 0, stop: int | None = None) -> Iterator[str]:
        prefix, width = self.prefix + "P", self.width
        for n in range(start + 1, (self.size if stop is None else stop) + 1):
            yield f"{prefix}{n:0{width}d}"

    def personas(self, start: int = 0, stop: int | None = None) -> Iterator[Persona]:
        """The personas in ``[start, stop)``, built ``CHUNK`` at a time."""
        stop = self.size if stop is None else stop
        names, country = self.names, self.country
        for low in range(start, stop, CHUNK):
            high = min(low + CHUNK, stop)
            columns = [[values[c] for c in codes[low:high].tolist()]
                       for values, codes in zip(self.values, self.codes)]
            ids = self.ids(low, high)
            for persona_id, row in zip(ids, zip(*columns) if columns else ((),) * (high - low)):
                yield Persona(id=persona_id, attributes=dict(zip(names, row)), country=country)

    def sorted_positions(self) -> Iterator[tuple[str, int]]:
        """(id, position) in id order, which is position order here."""
        return zip(self.ids(), range(self.size))


class ListPersonas:
    """Personas held as objects: file rows (already in memory) or a condition's countries."""

    def __init__(self, personas: Sequence[Persona]):
        self.items = list(personas)
        self._index: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def id_at(self, index: int) -> str:
        return self.items[index].id

    def at(self, index: int) -> Persona:
        return self.items[index]

    def index_of(self, persona_id: str) -> int | None:
        if self._index is None:
            self._index = {}
            for position, persona in enumerate(self.items):
                self._index.setdefault(persona.id, position)
        return self._index.get(persona_id)

    def ids(self, start: int = 0, stop: int | None = None) -> Iterator[str]:
        return (p.id for p in self.items[start:stop])

    def personas(self, start: int = 0, stop: int | None = None) -> Iterator[Persona]:
        return iter(self.items[start:stop])

    def sorted_positions(self) -> Iterator[tuple[str, int]]:
        return iter(sorted((p.id, i) for i, p in enumerate(self.items)))


PersonaGroup = Union[SchemaPersonas, ListPersonas]


class PersonaTable(Mapping):
    """The plan header's personas: id -> ``Persona``, built on demand from their groups.

    Groups are added in the order the plan meets them. An id seen before is the same persona
    (kept once, as a dict keeps its first key) or an error: two different personas must not
    share an id, since requests and stored answers name personas by id.
    """

    def __init__(self) -> None:
        self._groups: list[PersonaGroup] = []
        self._listed: dict[str, tuple[int, int]] = {}  # list-group id -> (group, position)
        self._repeats: dict[int, set[int]] = {}  # group -> positions already listed earlier
        self._size = 0

    def add(self, group: PersonaGroup, *, where: str = "") -> None:
        """Add ``group`` (a no-op for a group already added); ``where`` names it in errors."""
        if any(g is group for g in self._groups):
            return
        number = len(self._groups)
        repeats: set[int] = set()
        if isinstance(group, SchemaPersonas):
            for other in self._groups:
                if isinstance(other, SchemaPersonas) and (other.prefix, other.width) == (group.prefix, group.width):
                    raise PlanError(f"persona id {group.id_at(0)!r} names two different personas ({where}); "
                                    "give the populations distinct id columns")
            for persona_id in self._listed:
                position = group.index_of(persona_id)
                if position is not None:
                    self._check_same(persona_id, group.at(position), where)
                    repeats.add(position)
            self._groups.append(group)
        else:
            self._groups.append(group)
            for position, persona in enumerate(group.items):
                known = self.get(persona.id)
                if known is None:
                    self._listed[persona.id] = (number, position)
                    continue
                self._check_same(persona.id, persona, where)
                repeats.add(position)
        if repeats:
            self._repeats[number] = repeats
        self._size += len(group) - len(repeats)

    def _check_same(self, persona_id: str, persona: Persona, where: str) -> None:
        if self[persona_id] != persona:
            raise PlanError(f"persona id {persona_id!r} names two different personas ({where}); "
                            "give the populations distinct id columns")

    # Mapping ------------------------------------------------------------------------------

    def __getitem__(self, persona_id: str) -> Persona:
        found = self._listed.get(persona_id)
        if found is not None:
            return self._groups[found[0]].at(found[1])
        for group in self._groups:
            if isinstance(group, SchemaPersonas):
                index = group.index_of(persona_id)
                if index is not None:
                    return group.at(index)
        raise KeyError(persona_id)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[str]:
        for number, group in enumerate(self._groups):
            repeats = self._repeats.get(number)
            for position, persona_id in enumerate(group.ids()):
                if not repeats or position not in repeats:
                    yield persona_id

    def __repr__(self) -> str:
        return f"PersonaTable({self._size:,} personas in {len(self._groups)} groups)"

    def sorted_items(self) -> Iterator[tuple[str, Persona]]:
        """(id, persona) in id order, as ``json.dumps(sort_keys=True)`` writes a dict, streamed."""
        def stream(number: int, group: PersonaGroup) -> Iterator[tuple[str, int, int]]:
            repeats = self._repeats.get(number) or ()
            return ((persona_id, number, position) for persona_id, position in group.sorted_positions()
                    if position not in repeats)

        if len(self._groups) == 1 and not self._repeats:
            group = self._groups[0]  # the common large case: build personas in chunks
            if isinstance(group, SchemaPersonas):
                yield from ((p.id, p) for p in group.personas())
                return
        merged = heapq.merge(*(stream(n, g) for n, g in enumerate(self._groups)))
        for persona_id, number, position in merged:
            yield persona_id, self._groups[number].at(position)


class PersonaIds(Sequence):
    """A condition's persona ids, in order: spans of groups, never a tuple of a million ids."""

    def __init__(self, groups: Sequence[PersonaGroup]):
        self.groups = tuple(groups)
        self._starts = np.cumsum([0] + [len(g) for g in self.groups])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _locate(self, index: int) -> tuple[PersonaGroup, int]:
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("persona index out of range")
        number = int(np.searchsorted(self._starts, index, side="right")) - 1
        return self.groups[number], index - int(self._starts[number])

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return tuple(self._ids(start, stop))
            return tuple(self[i] for i in range(start, stop, step))
        group, position = self._locate(index)
        return group.id_at(position)

    def _ids(self, start: int, stop: int) -> Iterator[str]:
        for group, low in zip(self.groups, self._starts.tolist()):
            high = low + len(group)
            if high <= start or low >= stop:
                continue
            yield from group.ids(max(start, low) - low, min(stop, high) - low)

    def __iter__(self) -> Iterator[str]:
        for group in self.groups:
            yield from group.ids()

    def persona_at(self, index: int) -> Persona:
        group, position = self._locate(index)
        return group.at(position)

    def personas(self) -> Iterator[Persona]:
        """The condition's personas in order, built as they are reached."""
        for group in self.groups:
            yield from group.personas()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PersonaIds):
            if other.groups == self.groups:
                return True
        elif not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # equal to a tuple, so no hash of its own

    def __repr__(self) -> str:
        return f"PersonaIds({len(self):,} ids)"


def condition_personas(persona_ids: Sequence[str], personas: Mapping[str, Persona]) -> Iterator[Persona]:
    """The personas a condition asks, in order, whatever holds them (a compiled header's views,
    or the plain tuple and dict of a header read back from JSON or cut by a pilot)."""
    if isinstance(persona_ids, PersonaIds):
        return persona_ids.personas()
    return (personas[persona_id] for persona_id in persona_ids)


def persona_at(persona_ids: Sequence[str], personas: Mapping[str, Persona], index: int) -> Persona:
    if isinstance(persona_ids, PersonaIds):
        return persona_ids.persona_at(index)
    return personas[persona_ids[index]]


def iter_personas(header) -> Iterator[tuple[str, Persona]]:
    """(id, persona) of a plan header in id order, streamed where the header allows it."""
    personas = header.personas
    if isinstance(personas, PersonaTable):
        return personas.sorted_items()
    return iter(sorted(personas.items()))
