import io
import json

import pytest

from silspec.plan import compile_header, compile_plan, iter_requests, plan_to_json
from silspec.plan.errors import PlanError
from silspec.plan.model import Plan
from silspec.plan.serialize import converter, iter_plan_json, read_plan_json, write_plan_json


def test_json_parses_and_round_trips_through_cattrs(spec):
    plan = compile_plan(spec)
    text = plan_to_json(plan)
    data = json.loads(text)  # one valid JSON document
    assert data["format"] == "silspec-plan/1"
    assert data["plan_hash"] == plan.plan_hash
    assert len(data["requests"]) == len(plan.requests)
    assert converter.structure(
        {"header": data["header"], "requests": data["requests"], "plan_hash": data["plan_hash"]},
        Plan,
    ) == plan
    assert read_plan_json(io.StringIO(text)) == plan


def test_parser_valid_union_round_trips(spec):
    from silspec.spec.model import evolve

    spec = evolve(spec, parsers={"first_int": evolve(spec.parsers["first_int"], valid=(1, 2, 3))})
    plan = compile_plan(spec, conditions=["baseline"])
    again = read_plan_json(io.StringIO(plan_to_json(plan)))
    assert again.header.conditions["baseline"].parser.valid == (1, 2, 3)
    assert read_plan_json(io.StringIO(plan_to_json(compile_plan(spec, limit=0)))).requests == ()


def test_streamed_writer_equals_whole_plan_writer(spec):
    header = compile_header(spec)
    streamed = io.StringIO()
    digest = write_plan_json((header, iter_requests(spec, header)), streamed)
    plan = compile_plan(spec)
    assert digest == plan.plan_hash
    assert streamed.getvalue() == plan_to_json(plan)


def test_reader_streams_and_checks_the_plan_hash(spec):
    text = plan_to_json(compile_plan(spec))
    header, requests = iter_plan_json(io.StringIO(text))
    assert header.study == "kgss_test"
    assert next(requests).condition == "baseline"
    damaged = text.replace('"replicate":0', '"replicate":5', 1)
    # a changed replicate does not change the stored id, so the hash still matches ...
    assert len(read_plan_json(io.StringIO(damaged)).requests) == 53
    # ... but a changed id does not
    first_id = compile_plan(spec).requests[0].id
    with pytest.raises(PlanError, match="damaged"):
        read_plan_json(io.StringIO(text.replace(first_id, "0" * 64, 1)))


def test_reader_rejects_other_files():
    with pytest.raises(PlanError, match="not a silspec plan"):
        read_plan_json(io.StringIO('{"hello": 1}\n'))
    with pytest.raises(PlanError, match="unreadable header"):
        read_plan_json(io.StringIO('{"format":"silspec-plan/1","header":null,"requests":[\n'))


def test_truncated_plan_file_is_reported(spec):
    lines = plan_to_json(compile_plan(spec)).splitlines(keepends=True)
    with pytest.raises(PlanError, match="ends early"):
        read_plan_json(io.StringIO("".join(lines[:-1])))
