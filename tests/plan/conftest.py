"""A small KGSS-like Spec built directly in Python (the plan compiler's only input)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from silspec.plan.hashing import sha256_file
from silspec.spec.model import (
    Attribute,
    Category,
    Condition,
    Descriptors,
    FileRef,
    Item,
    Model,
    Parser,
    PersonaSchema,
    Population,
    Scale,
    Spec,
    Study,
    Survey,
    Template,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).parent
ROWS = "data/respondents.csv"

SYSTEM = "당신은 한국 사회조사(KGSS)에 응답하는 한국인입니다. 숫자 하나로만 답하세요."
PROMPT = (
    "나이: {{ persona.age_group }}, 성별: {{ persona.gender }}, 학력: {{ persona.education }}, "
    "직업: {{ persona.occupation }}\n"
    "질문: {{ item.text }}\n"
    "보기: {{ item.scale_labels }}"
)
COUNTRY_PROMPT = (
    "You answer for the population of {{ country }}. {{ item.text }} "
    "Options: {{ item.scale_labels }}. Answer with one of {{ item.options | join(', ') }}."
)
ROWS_PROMPT = "{{ persona.text }} ({{ persona.age_group }}) {{ item.text }} {{ item.scale_labels }}"


def trust_scale() -> Scale:
    return Scale(
        name="trust3",
        categories=(
            Category(1, "매우 신뢰"),
            Category(2, "보통"),
            Category(3, "거의 신뢰 안 함"),
            Category(-8, "모름", missing=True),
        ),
    )


def ten_point() -> Scale:
    return Scale(
        name="ten",
        categories=tuple(Category(c, str(c)) for c in range(1, 11)),
        low_label="전혀 아니다",
        high_label="매우 그렇다",
    )


def quota_schema() -> PersonaSchema:
    ages = ("20대", "30대", "40대")
    return PersonaSchema(
        name="kgss_quota",
        note="the authors' quotas, not KGSS marginals",
        attributes=(
            Attribute("age_group", ages, table={(): (3.0, 3.0, 4.0)}, kind="counts"),
            Attribute(
                "gender",
                ("남성", "여성"),
                given=("age_group",),
                table={("20대",): (2.0, 1.0), ("30대",): (1.0, 2.0), ("40대",): (2.0, 2.0)},
                kind="counts",
            ),
            Attribute(
                "education",
                ("고졸 이하", "대졸", "대학원 이상"),
                given=("age_group",),
                table={a: (0.3, 0.6, 0.1) for a in ((x,) for x in ages)},
            ),
            Attribute(
                "occupation",
                ("서비스직", "사무직", "전문직", "학생"),
                given=("education",),
                table={
                    ("고졸 이하",): (1.0, 1.0, 0.0, 0.0),
                    ("대졸",): (0.0, 1.0, 1.0, 1.0),
                    ("대학원 이상",): (0.0, 0.0, 1.0, 0.0),
                },
                kind="choices",
            ),
        ),
    )


def make_spec(root: Path = ROOT) -> Spec:
    rows = FileRef(path=ROWS, absolute=str(root / ROWS), sha256=sha256_file(str(root / ROWS)))
    items = (
        Item(
            id="kgss.CONFINAN",
            code="CONFINAN",
            survey="kgss",
            text="귀하는 금융기관을 얼마나 신뢰하십니까?",
            scale=trust_scale(),
        ),
        Item(
            id="kgss.CONLEGIS",
            code="CONLEGIS",
            survey="kgss",
            text="귀하는 국회를 얼마나 신뢰하십니까?",
            scale=trust_scale(),
            fields={"topic": "국회"},
        ),
    )
    value_items = (
        Item(id="wvs.Q1", code="Q1", survey="wvs", text="How important is family?", scale=Scale(
            name="imp4", categories=tuple(Category(c, l) for c, l in
                                          ((1, "Very"), (2, "Rather"), (3, "Not very"), (4, "Not at all"))))),
        Item(id="wvs.Q2", code="Q2", survey="wvs", text="Life satisfaction?", scale=ten_point()),
    )
    base = Condition(
        name="baseline",
        model="gpt52",
        items=("kgss.CONFINAN", "kgss.CONLEGIS"),
        parser="first_int",
        prompt=Template("persona_prompt", PROMPT),
        system=Template("kgss_system", SYSTEM),
        population="kgss_personas",
    )
    return Spec(
        path="specs/kgss_test.sil",
        root=str(root),
        study=Study(name="kgss_test", title="KGSS 테스트", seed=42, language="ko"),
        scales={"trust3": trust_scale(), "ten": ten_point()},
        surveys={"kgss": Survey("kgss", items), "wvs": Survey("wvs", value_items)},
        personas={"kgss_quota": quota_schema()},
        populations={
            "kgss_personas": Population(
                name="kgss_personas", sampling="quota", size=10, schema="kgss_quota"
            ),
            "respondents": Population(
                name="respondents",
                sampling="rows",
                rows=rows,
                id_column="resp_id",
                columns=("age_group", "sex"),
                where={"country": "{{ country }}"},
                country_column="country",
                descriptors="values",
            ),
        },
        descriptors={
            "values": Descriptors(
                name="values",
                sentences={
                    "Q1": {1: "가족이 매우 중요하다.", 2: "가족이 다소 중요하다.", 3: "가족이 별로 중요하지 않다.", 4: "가족이 전혀 중요하지 않다."},
                    "Q2": {c: f"삶의 만족도는 {c}점이다." for c in range(1, 11)},
                },
            )
        },
        templates={
            "kgss_system": Template("kgss_system", SYSTEM),
            "persona_prompt": Template("persona_prompt", PROMPT),
        },
        parsers={"first_int": Parser("first_int", on_invalid="midpoint")},
        models={
            "gpt52": Model(
                name="gpt52",
                backend="openai",
                model_id="gpt-5.2",
                params={"temperature": 0.7, "max_completion_tokens": 64},
                base_url="https://api.openai.com/v1",
                api_key_env="OPENAI_API_KEY",
            ),
            "clova": Model(
                name="clova",
                backend="clova",
                model_id="HCX-007",
                params={"temperature": 0.5, "thinking": "medium", "seed": 7},
                api_key_env="CLOVA_API_KEY",
            ),
        },
        conditions={
            "baseline": base,
            "indigenous": Condition(
                name="indigenous",
                model="clova",
                items=base.items,
                parser=base.parser,
                prompt=base.prompt,
                system=base.system,
                population=base.population,
                extends="baseline",
            ),
            "by_country": Condition(
                name="by_country",
                model="gpt52",
                items=("wvs.Q1", "wvs.Q2"),
                parser="first_int",
                prompt=Template("", COUNTRY_PROMPT),
                countries=("KOR", "JPN"),
                answers="option_probs",
            ),
            "value_personas": Condition(
                name="value_personas",
                model="gpt52",
                items=("wvs.Q1",),
                parser="first_int",
                prompt=Template("", ROWS_PROMPT),
                population="respondents",
                countries=("KOR", "JPN"),
            ),
        },
        files=(rows,),
    )


@pytest.fixture
def spec() -> Spec:
    return make_spec()
