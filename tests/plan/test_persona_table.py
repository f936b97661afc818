"""Personas held as columns: the same draws as one dict per persona, the same plan bytes, and
header views (``PersonaTable``, ``PersonaIds``) that behave as the dict and tuple they replace."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from silspec.plan import compile_header, compile_plan, iter_requests
from silspec.plan import compile as compile_module
from silspec.plan import render as render_module
from silspec.plan.errors import PlanError
from silspec.plan.model import Persona
from silspec.plan.persona_table import ListPersonas, PersonaIds, PersonaTable, SchemaPersonas
from silspec.plan.personas import (
    _weights,
    largest_remainder,
    rng_for,
    sample_schema,
    sample_schema_columns,
)
from silspec.plan.serialize import _dumps, converter, plan_to_json, read_plan_json, write_header_json
from silspec.spec.model import Attribute, Condition, PersonaSchema, Population, Template, evolve

from conftest import PROMPT


# ------------------------------------------------------------ the draw, against one dict each


def reference_sample(spec, population, country):
    """The sampler as it was before personas became columns: a list of dicts, grouped by the
    conditioning values in order of first appearance. Kept here as the oracle."""
    schema = spec.personas[population.schema]
    seed = population.seed if population.seed is not None else spec.study.seed
    rng = rng_for("personas", seed, population.name, country or "")
    size = population.size
    rows = [{} for _ in range(size)]
    for attribute in schema.attributes:
        groups = {}
        for index, row in enumerate(rows):
            groups.setdefault(tuple(row[g] for g in attribute.given), []).append(index)
        for given_values, members in groups.items():
            weights = _weights(attribute, given_values, population.name)
            if attribute.kind == "choices":
                weights = [1.0 if w > 0 else 0.0 for w in weights]
            sampling = population.sampling
            if sampling == "stratified" or (sampling == "quota" and attribute.kind == "counts"):
                counts = largest_remainder(weights, len(members))
                drawn = rng.permutation(np.repeat(np.arange(len(attribute.values)), counts))
            else:
                p = np.asarray(weights, dtype=float)
                drawn = rng.choice(len(attribute.values), size=len(members), p=p / p.sum())
            for index, value_index in zip(members, drawn.tolist()):
                rows[index][attribute.name] = attribute.values[value_index]
    if population.sampling in ("stratified", "quota"):
        rows = [rows[i] for i in rng.permutation(size)]
    width = max(3, len(str(size)))
    prefix = f"{country}-" if country else ""
    return [Persona(id=f"{prefix}P{n:0{width}d}", attributes=attrs, country=country)
            for n, attrs in enumerate(rows, start=1)]


def layered_schema() -> PersonaSchema:
    """Three layers of conditioning, one attribute given two others, uneven shares."""
    ages = ("18-29", "30-49", "50+")
    sexes = ("m", "f")
    return PersonaSchema(
        name="layered",
        attributes=(
            Attribute("age", ages, table={(): (0.23, 0.41, 0.36)}, kind="counts"),
            Attribute("sex", sexes, given=("age",),
                      table={("18-29",): (0.5, 0.5), ("30-49",): (0.45, 0.55), ("50+",): (0.4, 0.6)}),
            Attribute("region", ("n", "s", "e", "w"), table={(): (0.1, 0.2, 0.3, 0.4)}),
            Attribute("job", ("a", "b", "c"), given=("age", "sex"), kind="choices",
                      table={(a, s): ((1.0, 1.0, 0.0) if a != "50+" else (0.0, 1.0, 1.0))
                             for a in ages for s in sexes}),
            Attribute("income", ("low", "mid", "high"), given=("region",),
                      table={(r,): (0.2, 0.5, 0.3) for r in ("n", "s", "e", "w")}),
        ),
    )


@pytest.mark.parametrize("sampling", ["stratified", "quota", "random"])
@pytest.mark.parametrize("size", [1, 7, 100, 1_237])
@pytest.mark.parametrize("country", [None, "KOR"])
def test_columns_draw_exactly_what_one_dict_per_persona_drew(spec, sampling, size, country):
    spec = evolve(spec, personas={**spec.personas, "layered": layered_schema()})
    population = Population(name="people", sampling=sampling, size=size, schema="layered", seed=3)
    expected = reference_sample(spec, population, country)
    assert sample_schema(spec, population, country) == expected
    assert [list(p.attributes) for p in sample_schema(spec, population, country)] == \
        [list(p.attributes) for p in expected]  # attribute order too: templates may loop over it


def test_columns_draw_the_fixture_quota_population_as_before(spec):
    population = spec.populations["kgss_personas"]
    for size in (10, 333):
        population = evolve(population, size=size)
        assert sample_schema(spec, population, None) == reference_sample(spec, population, None)


def test_an_attribute_given_one_sampled_later_is_a_plan_error(spec):
    schema = PersonaSchema(name="bad", attributes=(
        Attribute("sex", ("m", "f"), given=("age",), table={("x",): (1.0, 1.0)}),
        Attribute("age", ("x",), table={(): (1.0,)}),
    ))
    spec = evolve(spec, personas={"bad": schema})
    with pytest.raises(PlanError, match="depends on 'age'"):
        sample_schema_columns(spec, Population(name="p", sampling="random", size=3, schema="bad"), None)


# ------------------------------------------------------------------------ the header's views


def test_persona_table_and_ids_behave_as_the_dict_and_tuple_they_replace(spec):
    header = compile_header(spec)
    table = header.personas
    assert isinstance(table, PersonaTable)
    as_dict = dict(table.items())
    assert table == as_dict and len(table) == len(as_dict)
    assert list(table) == list(as_dict)
    assert table["P001"].attributes == as_dict["P001"].attributes
    assert "P999" not in table and "nobody" not in table
    with pytest.raises(KeyError):
        table["P011"]  # ten personas: P001..P010
    ids = header.conditions["baseline"].persona_ids
    assert isinstance(ids, PersonaIds)
    plain = tuple(ids)
    assert ids == plain and plain == tuple(ids) and ids != plain[:-1]
    assert ids[0] == "P001" and ids[-1] == "P010" and ids[2:5] == ("P003", "P004", "P005")
    assert ids[::3] == plain[::3]
    assert ids.persona_at(4) == table["P005"]
    with pytest.raises(IndexError):
        ids[10]
    countries = header.conditions["value_personas"].persona_ids
    assert countries[3:] == tuple(countries)[3:]  # a slice across the KOR and JPN groups


def test_a_header_read_back_from_json_equals_the_compiled_one(spec):
    plan = compile_plan(spec)
    back = read_plan_json(io.StringIO(plan_to_json(plan)))
    assert back.header == plan.header
    assert isinstance(back.header.personas, dict) and isinstance(back.header.conditions["baseline"].persona_ids, tuple)
    # A read-back header (plain dict and tuple) still drives the compiler: same requests per
    # condition, in the same order (its conditions come back in JSON key order, not plan order).
    def by_condition(requests):
        grouped = {}
        for request in requests:
            grouped.setdefault(request.condition, []).append(request.id)
        return grouped

    assert by_condition(iter_requests(spec, back.header)) == by_condition(plan.requests)


def test_the_streamed_header_is_byte_identical_to_dumping_it_whole(spec):
    header = compile_header(spec)
    streamed = io.StringIO()
    write_header_json(header, streamed)
    assert streamed.getvalue() == _dumps(converter.unstructure(header))
    data = json.loads(streamed.getvalue())
    assert list(data["personas"]) == sorted(data["personas"])  # id order, across groups
    assert data["conditions"]["by_country"]["persona_ids"] == ["KOR", "JPN"]


def test_many_groups_stream_in_id_order_byte_identical(spec):
    """Two numbered populations (ids prefixed by population), countries, rows and a
    country-level condition: every kind of group, merged in id order."""
    second = Population(name="extra", sampling="random", size=12, schema="kgss_quota", seed=5)
    conditions = dict(spec.conditions)
    conditions["extra"] = Condition(
        name="extra", model="gpt52", items=("kgss.CONFINAN",), parser="first_int",
        prompt=Template("persona_prompt", PROMPT), population="extra", countries=("USA", "DEU"))
    conditions["again_by_country"] = evolve(conditions["by_country"], name="again_by_country",
                                            countries=("JPN", "USA"))
    spec = evolve(spec, populations={**spec.populations, "extra": second}, conditions=conditions)
    header = compile_header(spec)
    text = io.StringIO()
    write_header_json(header, text)
    assert text.getvalue() == _dumps(converter.unstructure(header))
    assert "kgss_personas/P001" in header.personas and "extra/DEU-P012" in header.personas
    # The country personas of two conditions are one persona each: JPN is listed once.
    assert list(header.personas).count("JPN") == 1
    assert len(header.personas) == len(set(header.personas))


def test_two_different_personas_under_one_id_are_refused(spec):
    """A rows population whose id column says P003 and a numbered schema population: the
    header would hold two personas under one id, which stored answers could not tell apart."""
    table = PersonaTable()
    numbered = sample_schema_columns(spec, spec.populations["kgss_personas"], None)
    table.add(numbered, where="condition 'a'")
    clash = ListPersonas([Persona(id="P003", attributes={"age_group": "x"})])
    with pytest.raises(PlanError, match="'P003' names two different personas"):
        table.add(clash, where="condition 'b'")
    same = ListPersonas([numbered.at(2), Persona(id="Z1")])
    table2 = PersonaTable()
    table2.add(numbered)
    table2.add(same)  # the same persona again is one persona, listed once
    assert len(table2) == 11 and list(table2)[-1] == "Z1"


def test_two_numbered_populations_keep_their_ids_apart_in_the_table(spec):
    rows = spec.populations["respondents"]
    clash = evolve(rows, where={"country": "KOR"}, id_column=None)  # numbered P001.. too
    conditions = {"baseline": spec.conditions["baseline"],
                  "rows": evolve(spec.conditions["value_personas"], name="rows", population="clash",
                                 countries=())}
    spec = evolve(spec, populations={**spec.populations, "clash": clash}, conditions=conditions)
    header = compile_header(spec)  # two numbered populations: ids prefixed, no clash
    assert "respondents/P001" in header.personas and "kgss_personas/P001" in header.personas
    assert len(header.personas) == 16 and header.personas["respondents/P002"].attributes["sex"] == "여성"


def test_a_schema_persona_already_listed_by_a_rows_group_is_kept_once(spec):
    numbered = sample_schema_columns(spec, spec.populations["kgss_personas"], None)
    table = PersonaTable()
    table.add(ListPersonas([numbered.at(0)]))
    table.add(numbered)
    assert len(table) == 10 and list(table).count("P001") == 1
    assert [pid for pid, _ in table.sorted_items()] == sorted(table)


def test_schema_ids_are_found_by_position_and_nothing_else():
    group = SchemaPersonas(("a",), (("x", "y"),), [np.array([0, 1, 1], dtype=np.uint8)], 3,
                           prefix="KOR-", width=3, country="KOR")
    assert [group.index_of(i) for i in ("KOR-P001", "KOR-P003", "KOR-P004", "KOR-P01", "P001",
                                        "KOR-P00١", "KOR-Q001")] == [0, 2, None, None, None, None, None]
    assert [p.attributes["a"] for p in group.personas()] == ["x", "y", "y"]
    assert list(group.personas(1, 2)) == [group.at(1)]


def test_chunked_building_matches_one_by_one(monkeypatch):
    from silspec.plan import persona_table

    monkeypatch.setattr(persona_table, "CHUNK", 3)
    codes = [np.array([i % 2 for i in range(10)]), np.array([i % 3 for i in range(10)])]
    group = SchemaPersonas(("a", "b"), (("x", "y"), ("p", "q", "r")), codes, 10, prefix="", width=3, country=None)
    assert list(group.personas()) == [group.at(i) for i in range(10)]
    assert list(group.personas(4, 9)) == [group.at(i) for i in range(4, 9)]


# ------------------------------------------------------------------------- bounded caches


def test_bounded_render_caches_change_no_byte(spec, monkeypatch):
    """A million-persona plan starts its caches over every CACHE_LIMIT entries; with a limit
    of 2 every cache starts over constantly, and the plan must not change."""
    expected = plan_to_json(compile_plan(spec))
    monkeypatch.setattr(render_module, "CACHE_LIMIT", 2)
    monkeypatch.setattr(compile_module, "CACHE_LIMIT", 2)
    assert plan_to_json(compile_plan(spec)) == expected


def test_a_large_header_builds_no_persona_until_asked(spec, monkeypatch):
    """Compiling the header of 50,000 personas builds only the few the token estimate renders;
    the requests then build each persona once per item, and drop it."""
    from silspec.plan import persona_table

    built = []

    def counting(*args, **kwargs):
        built.append(1)
        return Persona(*args, **kwargs)

    monkeypatch.setattr(persona_table, "Persona", counting)
    spec = evolve(spec, populations={**spec.populations, "kgss_personas": evolve(
        spec.populations["kgss_personas"], size=50_000)}, conditions={"baseline": spec.conditions["baseline"]})
    header = compile_header(spec)
    assert len(header.personas) == 50_000
    assert len(built) <= compile_module.ESTIMATE_SAMPLE
    built.clear()
    first = next(iter_requests(spec, header))
    assert first.persona == "P00001"
    assert len(built) <= 4096  # one chunk, not the population


@pytest.mark.parametrize("size", [999, 1000, 1001])
def test_ids_across_a_width_boundary_stream_in_the_bytes_of_a_whole_dump(spec, size):
    population = evolve(spec.populations["kgss_personas"], size=size)
    conditions = {"baseline": evolve(spec.conditions["baseline"], countries=("KOR", "JPN")),
                  "by_country": spec.conditions["by_country"]}
    spec = evolve(spec, populations={**spec.populations, "kgss_personas": population}, conditions=conditions)
    header = compile_header(spec)
    text = io.StringIO()
    write_header_json(header, text)
    assert text.getvalue() == _dumps(converter.unstructure(header))
