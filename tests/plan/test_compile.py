import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from silspec.plan import compile_header, compile_plan, iter_requests, plan_to_json
from silspec.plan.errors import PlanError
from silspec.plan.hashing import plan_hash, request_id
from silspec.spec.model import Template, evolve

HERE = Path(__file__).parent


def _set_model(spec, name, **changes):
    return evolve(spec, models={**spec.models, name: evolve(spec.models[name], **changes)})


def _set_condition(spec, name, **changes):
    return evolve(
        spec, conditions={**spec.conditions, name: evolve(spec.conditions[name], **changes)}
    )


def test_one_request_per_condition_item_persona_replicate_in_order(spec):
    spec = _set_condition(spec, "baseline", samples=2)
    plan = compile_plan(spec)
    keys = [(r.condition, r.item, r.persona, r.replicate) for r in plan.requests]
    assert len(keys) == len(set(keys))
    baseline = [k for k in keys if k[0] == "baseline"]
    assert len(baseline) == 2 * 10 * 2
    assert baseline[:3] == [
        ("baseline", "kgss.CONFINAN", "P001", 0),
        ("baseline", "kgss.CONFINAN", "P001", 1),
        ("baseline", "kgss.CONFINAN", "P002", 0),
    ]
    assert [c for c in dict.fromkeys(k[0] for k in keys)] == list(spec.conditions)
    assert plan.header.conditions["baseline"].n_requests == 40
    assert plan.plan_hash == plan_hash(r.id for r in plan.requests)


def test_fast_request_ids_equal_the_reference_definition(spec):
    spec = _set_condition(spec, "by_country", option_order="shuffled")
    plan = compile_plan(spec)
    for r in plan.requests:
        model = plan.header.models[r.model]
        assert r.id == request_id(
            backend=model.backend, model_id=model.model_id, params=model.params,
            answers=r.answers, option_codes=r.option_codes, option_tokens=r.option_tokens,
            messages=r.messages, replicate=r.replicate, seed=r.seed,
            key=(r.condition, r.item, r.persona),
        )


def test_messages_are_system_then_user_with_korean_text(spec):
    request = compile_plan(spec, conditions=["baseline"]).requests[0]
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.messages[0].content.startswith("당신은 한국 사회조사")
    assert "질문: 귀하는 금융기관을 얼마나 신뢰하십니까?" in request.messages[1].content
    assert "보기: 1=매우 신뢰, 2=보통, 3=거의 신뢰 안 함" in request.messages[1].content


def test_temperature_changes_ids_but_transport_does_not(spec):
    ids = [r.id for r in compile_plan(spec, conditions=["baseline"]).requests]
    transport = _set_model(spec, "gpt52", base_url="http://127.0.0.1:8000/v1", concurrency=100,
                           retries=9, timeout_s=5.0, api_key_env="OTHER_KEY")
    assert [r.id for r in compile_plan(transport, conditions=["baseline"]).requests] == ids
    hotter = _set_model(spec, "gpt52", params={**spec.models["gpt52"].params, "temperature": 1.0})
    hot_ids = [r.id for r in compile_plan(hotter, conditions=["baseline"]).requests]
    assert not set(hot_ids) & set(ids)


def test_parser_change_keeps_ids(spec):
    ids = [r.id for r in compile_plan(spec, conditions=["baseline"]).requests]
    other = evolve(spec, parsers={"first_int": evolve(spec.parsers["first_int"], on_invalid="drop")})
    assert [r.id for r in compile_plan(other, conditions=["baseline"]).requests] == ids


def test_prompt_change_changes_ids(spec):
    ids = {r.id for r in compile_plan(spec, conditions=["baseline"]).requests}
    prompt = Template("persona_prompt", spec.conditions["baseline"].prompt.source + " ")
    other = _set_condition(spec, "baseline", prompt=prompt)
    assert not ids & {r.id for r in compile_plan(other, conditions=["baseline"]).requests}


def test_replicate_seeds_only_for_seeded_models(spec):
    plan = compile_plan(spec, conditions=["baseline", "indigenous"])
    assert all(r.seed is None for r in plan.requests if r.condition == "baseline")
    seeds = [r.seed for r in plan.requests if r.condition == "indigenous"]  # clova has seed=7
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in seeds)
    assert len(set(seeds)) == len(seeds)


def test_hf_models_get_replicate_seeds(spec):
    spec = _set_model(spec, "gpt52", backend="hf", params={})
    plan = compile_plan(spec, conditions=["baseline"])
    assert all(r.seed is not None for r in plan.requests)


def test_country_level_condition_has_one_persona_per_country(spec):
    plan = compile_plan(spec, conditions=["by_country"])
    assert [(r.item, r.persona, r.country) for r in plan.requests] == [
        ("wvs.Q1", "KOR", "KOR"), ("wvs.Q1", "JPN", "JPN"),
        ("wvs.Q2", "KOR", "KOR"), ("wvs.Q2", "JPN", "JPN"),
    ]
    assert plan.requests[0].messages[0].content.startswith("You answer for the population of KOR.")


def test_ten_point_item_is_shown_with_letters(spec):
    plan = compile_plan(spec, conditions=["by_country"])
    q2 = [r for r in plan.requests if r.item == "wvs.Q2"][0]
    assert q2.option_codes == tuple(range(1, 11))
    assert q2.option_tokens == tuple("ABCDEFGHIJ")
    assert "A=1, B=2" in q2.messages[0].content and "J=10" in q2.messages[0].content
    assert "one of A, B, C" in q2.messages[0].content
    q1 = [r for r in plan.requests if r.item == "wvs.Q1"][0]
    assert q1.option_tokens == ("1", "2", "3", "4")


def test_shuffled_order_is_seeded_per_request(spec):
    spec = _set_condition(spec, "baseline", option_order="shuffled", samples=3)
    first = compile_plan(spec, conditions=["baseline"]).requests
    again = compile_plan(spec, conditions=["baseline"]).requests
    assert [r.option_codes for r in first] == [r.option_codes for r in again]
    assert len({r.option_codes for r in first}) > 1
    for r in first:
        assert sorted(r.option_codes) == [1, 2, 3]
        shown = ", ".join(f"{t}={['매우 신뢰', '보통', '거의 신뢰 안 함'][c - 1]}"
                          for t, c in zip(r.option_tokens, r.option_codes))
        assert shown in r.messages[1].content
    # a request's order does not depend on what else is planned
    limited = compile_plan(spec, conditions=["baseline"], limit=5).requests
    assert [r.option_codes for r in limited] == [r.option_codes for r in first[:5]]


def test_reversed_order(spec):
    spec = _set_condition(spec, "baseline", option_order="reversed")
    request = compile_plan(spec, conditions=["baseline"]).requests[0]
    assert request.option_codes == (3, 2, 1)
    assert "보기: 3=거의 신뢰 안 함, 2=보통, 1=매우 신뢰" in request.messages[1].content


def test_limit_takes_the_first_requests_in_plan_order(spec):
    full = compile_plan(spec).requests
    plan = compile_plan(spec, limit=25)
    assert [r.id for r in plan.requests] == [r.id for r in full[:25]]
    assert plan.header.limit == 25
    assert plan.header.conditions["baseline"].n_requests == 20
    assert plan.header.conditions["indigenous"].n_requests == 5
    assert plan.header.conditions["by_country"].n_requests == 0


def test_condition_selection_keeps_spec_order_and_rejects_unknown_names(spec):
    plan = compile_plan(spec, conditions=["indigenous", "baseline"])
    assert list(plan.header.conditions) == ["baseline", "indigenous"]
    with pytest.raises(PlanError, match="unknown condition 'nope'.*baseline"):
        compile_plan(spec, conditions=["nope"])


def test_header_is_complete(spec):
    header = compile_header(spec)
    assert header.study == "kgss_test" and header.seed == 42
    assert set(header.models) == {"gpt52", "clova"}
    assert header.models["gpt52"].api_key_env == "OPENAI_API_KEY"
    assert set(header.items) == {"kgss.CONFINAN", "kgss.CONLEGIS", "wvs.Q1", "wvs.Q2"}
    assert header.items["kgss.CONFINAN"].labels == ("매우 신뢰", "보통", "거의 신뢰 안 함")
    assert header.items["kgss.CONFINAN"].midpoint == 2
    assert set(header.templates) == {"kgss_system", "persona_prompt", "by_country.prompt",
                                     "value_personas.prompt"}
    assert all(c.estimated_prompt_tokens > 0 for c in header.conditions.values())
    assert header.conditions["indigenous"].persona_ids == header.conditions["baseline"].persona_ids
    assert len(header.spec_hash) == 64


def test_iter_requests_streams_what_compile_plan_holds(spec):
    header = compile_header(spec)
    assert [r.id for r in iter_requests(spec, header)] == [r.id for r in compile_plan(spec).requests]


def test_template_error_names_template_and_variable(spec):
    bad = _set_condition(spec, "baseline", prompt=Template("persona_prompt", "{{ persona.hobby }}"))
    with pytest.raises(PlanError, match="template 'persona_prompt'.*hobby"):
        compile_plan(bad, conditions=["baseline"])


def test_sandbox_escape_in_spec_template_is_a_plan_error(spec):
    bad = _set_condition(spec, "baseline", prompt=Template("", "{{ ''.__class__.__mro__ }}"))
    with pytest.raises(PlanError, match="baseline.prompt.*unsafe"):
        compile_plan(bad, conditions=["baseline"])


def test_same_spec_gives_byte_identical_json(spec):
    assert plan_to_json(compile_plan(spec)) == plan_to_json(compile_plan(spec))


SCRIPT = """
import sys
sys.path.insert(0, {here!r})
from conftest import make_spec
from silspec.plan import compile_plan, plan_to_json
sys.stdout.buffer.write(plan_to_json(compile_plan(make_spec())).encode("utf-8"))
"""


def test_json_is_byte_identical_across_processes_with_different_hash_seeds(spec):
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "HF_HUB_OFFLINE": "1"}
        done = subprocess.run([sys.executable, "-c", SCRIPT.format(here=str(HERE))],
                              env=env, capture_output=True, check=True)
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].decode("utf-8") == plan_to_json(compile_plan(spec))
    assert "금융기관" in outputs[0].decode("utf-8")  # not \\u-escaped


def test_personas_with_identical_prompts_are_still_distinct_requests():
    """The KGSS paper's 100 personas have 77 distinct attribute rows: 100 requests per item anyway."""
    from pathlib import Path

    from silspec.spec.load import load_spec

    repo = Path(__file__).resolve().parents[2]
    result = load_spec(str(repo / "specs" / "kgss_paper_replay.sil"))
    assert result.ok
    plan = compile_plan(result.spec)
    assert len(plan.requests) == 1200
    assert len({r.id for r in plan.requests}) == 1200
    prompts = {(r.condition, r.item, r.prompt_hash) for r in plan.requests}
    assert len(prompts) < 1200  # some personas do share a prompt
