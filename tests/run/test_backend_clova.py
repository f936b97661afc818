"""The ``clova`` backend (CLOVA Studio Chat Completions v3) against the test server process."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from silspec.plan.model import PlanModel
from silspec.run.backends.base import PermanentError, TransientError
from silspec.run.backends.clova import ClovaBackend, body_for
from tests.servers import respondent
from tests.servers.fixtures import TEST_API_KEY, make_request, wire_messages

ENV = {"CLOVA_KEY": TEST_API_KEY}


def clova_model(base_url: str | None, **fields) -> PlanModel:
    values = dict(name="clova", backend="clova", model_id="HCX-007", base_url=base_url,
                  api_key_env="CLOVA_KEY", timeout_s=5.0)
    values.update(fields)
    return PlanModel(**values)


def ask(model: PlanModel, request):
    async def go():
        backend = ClovaBackend(model, env=ENV)
        try:
            return await backend.answer(request)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_answer_reasoning_usage_and_the_body_sent(chat_server_factory):
    server = chat_server_factory(api_key=TEST_API_KEY)
    params = {"temperature": 0.5, "top_p": 0.8, "top_k": 0, "repetition_penalty": 1.1,
              "max_tokens": 512, "thinking": "medium"}
    request = make_request("한국어 질문입니다. 1~4 중 하나로 답하세요.", seed=42)
    answer = ask(clova_model(server.root_url, params=params), request)
    assert answer.text == respondent.scripted_answer(wire_messages(request), 42)
    assert answer.reasoning == "thinking (medium) about the question"
    assert answer.prompt_tokens > 0 and answer.completion_tokens == 1
    assert answer.provider_model == "HCX-007"
    (logged,) = server.requests()
    assert logged["path"] == "/v3/chat-completions/HCX-007"
    assert logged["body"] == {
        "messages": wire_messages(request),
        "temperature": 0.5, "topP": 0.8, "topK": 0, "repetitionPenalty": 1.1,
        "maxCompletionTokens": 512,  # HCX-007 takes maxCompletionTokens, never maxTokens
        "thinking": {"effort": "medium"}, "seed": 42,
    }
    assert uuid.UUID(logged["request_id_header"]).version == 4


def test_non_reasoning_models_keep_max_tokens():
    body = body_for(clova_model(None, model_id="HCX-005", params={"max_tokens": 100}), make_request())
    assert body["maxTokens"] == 100 and "maxCompletionTokens" not in body


def test_testapp_prefix_in_base_url(chat_server):
    ask(clova_model(chat_server.root_url + "/testapp"), make_request())
    assert chat_server.requests()[0]["path"] == "/testapp/v3/chat-completions/HCX-007"


@pytest.mark.parametrize(
    "rule, error, status",
    [
        ({"fault": "429", "retry_after": 4}, TransientError, 429),
        ({"fault": "500"}, TransientError, 500),
        ({"fault": "503"}, TransientError, 503),
        ({"fault": "malformed"}, TransientError, None),
        ({"fault": "drop"}, TransientError, None),
        ({"fault": "slow", "seconds": 3}, TransientError, None),
        ({"fault": "400"}, PermanentError, 400),
        ({"fault": "404"}, PermanentError, 404),
    ],
)
def test_each_fault_maps_to_its_error_class(chat_server_factory, rule, error, status):
    server = chat_server_factory(faults=[{**rule, "requests": [1]}])
    with pytest.raises(error) as caught:
        ask(clova_model(server.root_url, timeout_s=0.5), make_request())
    assert type(caught.value) is error and caught.value.status == status
    if "retry_after" in rule:
        assert caught.value.retry_after == pytest.approx(rule["retry_after"])


def test_wrong_key_is_permanent_and_never_echoed(chat_server_factory):
    server = chat_server_factory(api_key="nv-the-right-key-0000000")
    with pytest.raises(PermanentError) as caught:
        ask(clova_model(server.root_url), make_request())
    assert caught.value.status == 401
    assert TEST_API_KEY not in str(caught.value) and TEST_API_KEY[-8:] not in str(caught.value)


def test_missing_key_variable_is_named():
    with pytest.raises(PermanentError, match="CLOVA_UNSET"):
        ClovaBackend(clova_model(None, api_key_env="CLOVA_UNSET"), env=ENV)


def test_option_probs_is_refused_clearly(chat_server):
    with pytest.raises(PermanentError, match="option_probs"):
        ask(clova_model(chat_server.root_url), make_request(answers="option_probs"))
    assert chat_server.requests() == []


def test_a_per_item_parameter_override_is_what_is_sent():
    """`params UNIFI { thinking = "medium" }` in a condition reaches the wire for that item only."""
    import attrs

    from silspec.plan.model import PlanModel
    from silspec.run.backends.clova import body_for
    from tests.servers.fixtures import make_request

    model = PlanModel(name="clova", backend="clova", model_id="HCX-007",
                      params={"temperature": 0.7, "thinking": "short"})
    request = make_request("질문", answers="sampled")
    assert body_for(model, request)["thinking"] == {"effort": "short"}
    overridden = attrs.evolve(request, params={"temperature": 0.7, "thinking": "medium"})
    assert body_for(model, overridden)["thinking"] == {"effort": "medium"}
