"""Plans as JSON: one cattrs converter, a streaming writer and a streaming reader.

Layout (one JSON document that is also line-oriented, so neither side holds every request)::

    {"format":"silspec-plan/1","header":{...},"requests":[
    {...request 1...},
    {...request 2...}
    ],"plan_hash":"..."}

Keys are sorted, separators compact, ``ensure_ascii=False`` (Korean stays readable): the same
plan always gives the same bytes. The plan hash comes last because a stream learns it last.
"""

from __future__ import annotations

import io
import json
import re
from json.encoder import encode_basestring as encode_string  # = json.dumps(str, ensure_ascii=False)
from typing import IO, Iterable, Iterator, Literal, Union

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from silspec.plan.errors import PlanError
from silspec.plan.hashing import PlanHasher
from silspec.plan.hashing import plan_hash as hash_ids
from silspec.plan.model import Persona, Plan, PlanHeader, PlanModel, Request
from silspec.plan.persona_table import iter_personas
from silspec.plan.redact import mask_url_credentials


FORMAT = "silspec-plan/1"
WRITE_BATCH = 256
_HEAD = '{"format":"%s","header":' % FORMAT
_OPEN = ',"requests":[\n'

PlanSource = Union[Plan, tuple[PlanHeader, Iterable[Request]]]


def make_converter() -> cattrs.Converter:
    """The converter for plan objects (also fine for the other frozen attrs contracts)."""
    converter = cattrs.Converter()
    valid_type = Union[Literal["scale"], tuple[int, ...]]
    converter.register_structure_hook(
        valid_type, lambda v, _: "scale" if v == "scale" else tuple(int(c) for c in v)
    )
    # Requests without a per-item override leave `params` out: such plans keep their bytes.
    converter.register_unstructure_hook(
        Request, make_dict_unstructure_fn(Request, converter, params=override(omit_if_default=True))
    )
    # Credentials in a base_url never leave memory (silspec.plan.redact); other URLs keep their bytes.
    model_fn = make_dict_unstructure_fn(PlanModel, converter)

    def unstructure_model(model: PlanModel) -> dict:
        data = model_fn(model)
        data["base_url"] = mask_url_credentials(data.get("base_url"))
        return data

    converter.register_unstructure_hook(PlanModel, unstructure_model)
    # Descriptor texts and population summaries are left out while empty: older plans keep their bytes.
    converter.register_unstructure_hook(
        Persona, make_dict_unstructure_fn(Persona, converter, texts=override(omit_if_default=True))
    )
    header_fn = make_dict_unstructure_fn(  # after: its models and personas use the hooks
        PlanHeader, converter, populations=override(omit_if_default=True)
    )

    def unstructure_header(header: PlanHeader) -> dict:
        data = header_fn(header)
        data["overrides"] = [[key, mask_url_credentials(value)] for key, value in data["overrides"]]
        return data

    converter.register_unstructure_hook(PlanHeader, unstructure_header)
    return converter


converter = make_converter()


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def write_plan_json(plan: PlanSource, fp: IO[str]) -> str:
    """Stream a plan (a ``Plan`` or ``(header, requests)``) to ``fp``; returns the plan hash."""
    if isinstance(plan, Plan):
        header, requests = plan.header, plan.requests
    else:
        header, requests = plan
    unstructure = converter.get_unstructure_hook(Request)
    hasher = PlanHasher()
    fp.write(_HEAD)
    write_header_json(header, fp)
    fp.write(_OPEN)
    first = True
    batch: list[str] = []  # one write per WRITE_BATCH requests: a write per request costs more
    for request in requests:  # than the request's JSON on an unbuffered (write-through) stream
        batch.append(_dumps(unstructure(request)))
        hasher.add(request.id)
        if len(batch) >= WRITE_BATCH:
            fp.write(("" if first else ",\n") + ",\n".join(batch))
            batch, first = [], False
    if batch:
        fp.write(("" if first else ",\n") + ",\n".join(batch))
        first = False
    digest = hasher.hexdigest()
    fp.write(("\n" if not first else "") + '],"plan_hash":"' + digest + '"}\n')
    return digest


def write_header_json(header: PlanHeader, fp: IO[str]) -> None:
    """Write ``header`` as ``_dumps(converter.unstructure(header))`` would, byte for byte, but
    with the personas and each condition's persona ids streamed rather than built as one dict:
    a million personas are written a chunk at a time, never held as a million dicts.

    The header is dumped with markers in their places (``json.dumps`` puts every key where
    ``sort_keys`` wants it) and the streams are written between the pieces.
    """
    names = list(header.conditions)
    light = attrs.evolve(
        header,
        personas={},
        conditions={n: attrs.evolve(c, persona_ids=()) for n, c in header.conditions.items()},
    )
    data = converter.unstructure(light)
    data["personas"] = _MARK + "p"
    for number, name in enumerate(names):
        data["conditions"][name]["persona_ids"] = _MARK + str(number)
    pieces = _MARKED.split(_dumps(data))
    fp.write(pieces[0])
    for index in range(1, len(pieces), 2):
        mark = pieces[index]
        if mark == "p":
            _write_personas(header, fp)
        else:
            _write_ids(header.conditions[names[int(mark)]].persona_ids, fp)
        fp.write(pieces[index + 1])


_MARK = "\x00silspec-stream\x00"  # no real header string holds a NUL: it marks where a stream goes
_MARKED = re.compile(re.escape(_dumps(_MARK))[:-1] + r'(p|\d+)"')


def _write_personas(header: PlanHeader, fp: IO[str]) -> None:
    unstructure = converter.get_unstructure_hook(Persona)
    fp.write("{")
    first = True
    for persona_id, persona in iter_personas(header):
        fp.write(("" if first else ",") + encode_string(persona_id) + ":" + _dumps(unstructure(persona)))
        first = False
    fp.write("}")


def _write_ids(persona_ids: Iterable[str], fp: IO[str]) -> None:
    fp.write("[")
    batch: list[str] = []
    first = True
    for persona_id in persona_ids:
        batch.append(encode_string(persona_id))
        if len(batch) == 4096:
            fp.write(("" if first else ",") + ",".join(batch))
            batch, first = [], False
    if batch:
        fp.write(("" if first else ",") + ",".join(batch))
    fp.write("]")


def plan_to_json(plan: PlanSource) -> str:
    buffer = io.StringIO()
    write_plan_json(plan, buffer)
    return buffer.getvalue()


def iter_plan_json(fp: IO[str]) -> tuple[PlanHeader, Iterator[Request]]:
    """Read a plan written by ``write_plan_json`` lazily: the header now, requests as iterated.

    The iterator checks the stored plan hash against the ids it read when it reaches the end.
    """
    first = fp.readline()
    if not first.startswith(_HEAD) or not first.endswith(_OPEN.rstrip("\n") + "\n"):
        raise PlanError("not a silspec plan file (expected the silspec-plan/1 JSON layout)")
    header_json = first[len(_HEAD) : -len(_OPEN)]
    try:
        header = converter.structure(json.loads(header_json), PlanHeader)
    except Exception as exc:  # JSON or shape errors: the file is not a plan we wrote
        raise PlanError(f"plan file has an unreadable header: {_first_line(exc)}") from None
    return header, _requests(fp)


def _requests(fp: IO[str]) -> Iterator[Request]:
    structure = converter.get_structure_hook(Request)
    hasher = PlanHasher()
    for line in fp:
        if line.startswith("]"):
            stored = json.loads("{" + line[2:])["plan_hash"]
            if stored != hasher.hexdigest():
                raise PlanError("plan file is damaged: its request ids do not match its plan hash")
            return
        try:
            request = structure(json.loads(line.rstrip("\n").rstrip(",")), Request)
        except Exception as exc:
            raise PlanError(f"plan file has an unreadable request: {_first_line(exc)}") from None
        hasher.add(request.id)
        yield request
    raise PlanError("plan file ends early: no closing plan hash")


def read_plan_json(fp: IO[str]) -> Plan:
    """A whole plan from JSON (small plans; stream big ones with ``iter_plan_json``)."""
    header, requests = iter_plan_json(fp)
    held = tuple(requests)
    return Plan(header=header, requests=held, plan_hash=hash_ids(r.id for r in held))


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
