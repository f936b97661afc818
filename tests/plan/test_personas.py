from collections import Counter

import pytest

from silspec.plan import compile_header
from silspec.plan.errors import PlanError
from silspec.plan.personas import largest_remainder, sample_schema
from silspec.spec.model import Attribute, PersonaSchema, Population, evolve


def test_largest_remainder_sums_and_follows_shares():
    assert largest_remainder([0.5, 0.25, 0.15, 0.1], 100) == [50, 25, 15, 10]
    counts = largest_remainder([1, 1, 1], 10)
    assert sum(counts) == 10 and sorted(counts) == [3, 3, 4]
    assert counts == [4, 3, 3]  # ties go to the earlier value
    assert largest_remainder([0.2, 0.7, 0.1], 7) == [1, 5, 1]


def test_largest_remainder_rejects_bad_weights():
    with pytest.raises(ValueError):
        largest_remainder([0, 0], 5)
    with pytest.raises(ValueError):
        largest_remainder([-1, 2], 5)


def _with_population(spec, **changes):
    population = evolve(spec.populations["kgss_personas"], **changes)
    return evolve(spec, populations={**spec.populations, "kgss_personas": population})


def test_quota_counts_are_exact_and_joint(spec):
    personas = sample_schema(spec, spec.populations["kgss_personas"], None)
    assert len(personas) == 10
    joint = Counter((p.attributes["age_group"], p.attributes["gender"]) for p in personas)
    assert joint == {("20대", "남성"): 2, ("20대", "여성"): 1, ("30대", "남성"): 1,
                     ("30대", "여성"): 2, ("40대", "남성"): 2, ("40대", "여성"): 2}


def test_quota_choices_stay_inside_each_list(spec):
    spec = _with_population(spec, size=10)
    allowed = {"고졸 이하": {"서비스직", "사무직"}, "대졸": {"사무직", "전문직", "학생"},
               "대학원 이상": {"전문직"}}
    for p in sample_schema(spec, spec.populations["kgss_personas"], None):
        assert p.attributes["occupation"] in allowed[p.attributes["education"]]


def test_stratified_allocation_matches_shares(spec):
    schema = PersonaSchema(
        name="strat",
        attributes=(
            Attribute("region", ("수도권", "영남권", "호남권", "충청/강원"), table={(): (0.5, 0.25, 0.15, 0.1)}),
            Attribute("sex", ("m", "f"), given=("region",),
                      table={(r,): (0.5, 0.5) for r in ("수도권", "영남권", "호남권", "충청/강원")}),
        ),
    )
    population = Population(name="p", sampling="stratified", size=200, schema="strat")
    spec = evolve(spec, personas={"strat": schema})
    personas = sample_schema(spec, population, None)
    regions = Counter(p.attributes["region"] for p in personas)
    assert regions == {"수도권": 100, "영남권": 50, "호남권": 30, "충청/강원": 20}
    joint = Counter((p.attributes["region"], p.attributes["sex"]) for p in personas)
    assert joint[("호남권", "m")] == 15 and joint[("충청/강원", "f")] == 10
    # shuffled: not grouped by region in the persona order
    assert [p.attributes["region"] for p in personas[:100]] != ["수도권"] * 100


def test_random_sampling_draws_independently_but_reproducibly(spec):
    population = evolve(spec.populations["kgss_personas"], sampling="random", size=300)
    first = sample_schema(spec, population, None)
    again = sample_schema(spec, population, None)
    assert first == again
    ages = Counter(p.attributes["age_group"] for p in first)
    assert set(ages) == {"20대", "30대", "40대"}
    assert ages["40대"] > ages["20대"] - 40  # 0.4 vs 0.3 of 300, loosely
    other_seed = sample_schema(spec, evolve(population, seed=7), None)
    assert other_seed != first


def test_persona_ids_are_padded_and_prefixed_by_country(spec):
    population = spec.populations["kgss_personas"]
    assert [p.id for p in sample_schema(spec, population, None)][:2] == ["P001", "P002"]
    kor = sample_schema(spec, population, "KOR")
    assert kor[0].id == "KOR-P001" and kor[0].country == "KOR"


def test_missing_conditional_distribution_is_a_plan_error(spec):
    schema = spec.personas["kgss_quota"]
    broken = evolve(schema.attributes[1], table={("20대",): (1.0, 1.0)})
    spec = evolve(spec, personas={"kgss_quota": evolve(schema, attributes=(schema.attributes[0], broken))})
    with pytest.raises(PlanError, match="gender.*no distribution for 30대"):
        sample_schema(spec, spec.populations["kgss_personas"], None)


def test_rows_filtered_by_country_with_ids_and_descriptor_text(spec):
    header = compile_header(spec, conditions=["value_personas"])
    ids = header.conditions["value_personas"].persona_ids
    assert ids == ("K01", "K02", "K03", "K04", "K05", "K06", "J01", "J02", "J03")
    k02 = header.personas["K02"]
    assert k02.country == "KOR"
    assert k02.attributes == {"age_group": "30대", "sex": "여성"}
    # Q2 = -1 is not a described code: skipped
    assert k02.text == "가족이 다소 중요하다."
    assert header.personas["K05"].text == "삶의 만족도는 3점이다."  # Q1 = -8 skipped
    assert header.personas["J03"].country == "JPN"


def test_weighted_row_sampling_is_without_replacement_and_seeded(spec):
    rows = evolve(spec.populations["respondents"], size=3, weight="weight")
    spec = evolve(spec, populations={**spec.populations, "respondents": rows})
    first = compile_header(spec, conditions=["value_personas"]).conditions["value_personas"]
    again = compile_header(spec, conditions=["value_personas"]).conditions["value_personas"]
    assert first.persona_ids == again.persona_ids
    kor = [i for i in first.persona_ids if i.startswith("K")]
    assert len(kor) == 3 == len(set(kor))
    assert [i for i in first.persona_ids if i.startswith("J")] == ["J01", "J02", "J03"]


def test_rows_asking_for_more_than_exist_is_an_error(spec):
    rows = evolve(spec.populations["respondents"], size=7)
    spec = evolve(spec, populations={**spec.populations, "respondents": rows})
    with pytest.raises(PlanError, match="asks for 7 rows but only 6 match for country KOR"):
        compile_header(spec, conditions=["value_personas"])


def test_where_filter_matching_nothing_is_an_error(spec):
    rows = evolve(spec.populations["respondents"], where={"country": "{{ country }}", "sex": "x"})
    spec = evolve(spec, populations={**spec.populations, "respondents": rows})
    with pytest.raises(PlanError, match="no rows match country = 'KOR', sex = 'x'"):
        compile_header(spec, conditions=["value_personas"])


def test_unset_external_microdata_names_the_variable(spec):
    from silspec.spec.model import ExternalRef

    rows = evolve(spec.populations["respondents"], rows=None, external=ExternalRef("WVS_MICRODATA"))
    spec = evolve(spec, populations={**spec.populations, "respondents": rows})
    with pytest.raises(PlanError, match="provide WVS_MICRODATA"):
        compile_header(spec, conditions=["value_personas"])


def test_rows_file_outside_the_spec_tree_is_refused(spec, tmp_path):
    from silspec.spec.model import FileRef

    outside = tmp_path / "x.csv"
    outside.write_text("resp_id\n1\n")
    bad = FileRef(path="../../x.csv", absolute=str(outside), sha256="0")
    rows = evolve(spec.populations["respondents"], rows=bad)
    spec = evolve(spec, populations={**spec.populations, "respondents": rows})
    with pytest.raises(PlanError, match="outside the spec tree"):
        compile_header(spec, conditions=["value_personas"])
