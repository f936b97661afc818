"""The ``openai`` backend through the real ``openai`` client against the test server process."""

from __future__ import annotations

import asyncio
import math

import pytest

from silspec.plan.hashing import messages_hash
from silspec.plan.model import PlanModel
from silspec.run.backends.base import PermanentError, TransientError
from silspec.run.backends.openai_chat import OpenAIBackend
from tests.servers import respondent
from tests.servers.fixtures import TEST_API_KEY, make_request, wire_messages

ENV = {"TEST_KEY": TEST_API_KEY}


def backend_for(server, **overrides) -> OpenAIBackend:
    fields = dict(name="gpt", backend="openai", model_id="gpt-test", base_url=server.url,
                  api_key_env="TEST_KEY", timeout_s=5.0)
    fields.update(overrides)
    return OpenAIBackend(PlanModel(**fields), env=ENV)


def ask(backend: OpenAIBackend, request):
    async def go():
        try:
            return await backend.answer(request)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_sampled_answer_is_the_scripted_text_and_params_are_sent(chat_server):
    backend = backend_for(chat_server, params={"temperature": 0.7, "max_tokens": 8, "top_k": 5})
    request = make_request(seed=11)
    answer = ask(backend, request)
    assert answer.text == respondent.scripted_answer(wire_messages(request), 11)
    assert answer.provider_model == "gpt-test"
    assert answer.system_fingerprint == "fp_silspec_test"
    assert answer.prompt_tokens > 0 and answer.completion_tokens == 1
    assert answer.meta["finish_reason"] == "stop"
    (logged,) = chat_server.requests()
    body = logged["body"]
    assert body["temperature"] == 0.7 and body["max_tokens"] == 8 and body["seed"] == 11
    assert body["top_k"] == 5  # an unknown parameter travels through extra_body
    assert "logprobs" not in body
    assert logged["messages_sha256"] == messages_hash(request.messages)


def test_respondent_hash_matches_the_plan_hash():
    request = make_request("한국어 질문 1~4 척도")
    assert respondent.messages_sha256(wire_messages(request)) == messages_hash(request.messages)
    assert respondent.options_for(wire_messages(request)) == ["1", "2", "3", "4"]


def test_option_probs_sums_token_variants_and_keeps_valid_mass(chat_server):
    request = make_request(answers="option_probs")
    answer = ask(backend_for(chat_server), request)
    expected = respondent.scripted_distribution(wire_messages(request))
    assert answer.option_probs is not None
    assert set(answer.option_probs) == {1, 2, 3, 4, 5}
    for code, prob in answer.option_probs.items():
        assert prob == pytest.approx(expected[str(code)], abs=1e-9)
    assert math.fsum(answer.option_probs.values()) == pytest.approx(1.0)
    assert answer.valid_mass == pytest.approx(1 - respondent.INVALID_MASS)
    body = chat_server.requests()[0]["body"]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1


def test_option_probs_with_few_top_logprobs_counts_only_what_came_back(chat_server):
    request = make_request(answers="option_probs", prompt="Answer 1-3")
    answer = ask(backend_for(chat_server, params={"top_logprobs": 2}), request)
    top = respondent.scripted_top_logprobs(wire_messages(request))[:2]
    expected_mass = sum(math.exp(lp) for token, lp in top if token.strip() in {"1", "2", "3"})
    assert answer.valid_mass == pytest.approx(expected_mass)
    assert chat_server.requests()[0]["body"]["top_logprobs"] == 2


def test_max_completion_tokens_replaces_max_tokens_in_option_probs(chat_server):
    backend = backend_for(chat_server, params={"max_completion_tokens": 50})
    ask(backend, make_request(answers="option_probs"))
    body = chat_server.requests()[0]["body"]
    assert body["max_completion_tokens"] == 1 and "max_tokens" not in body


def test_no_option_token_in_top_logprobs_gives_no_probs_and_zero_mass(chat_server):
    request = make_request(answers="option_probs", codes=(1, 2), tokens=("X", "Y"))
    answer = ask(backend_for(chat_server), request)
    assert answer.option_probs is None
    assert answer.valid_mass == 0.0
    assert "no probability" in answer.meta["note"]


@pytest.mark.parametrize(
    "rule, error, status",
    [
        ({"fault": "429", "retry_after": 7}, TransientError, 429),
        ({"fault": "500"}, TransientError, 500),
        ({"fault": "503", "retry_after": 1}, TransientError, 503),
        ({"fault": "malformed"}, TransientError, None),
        ({"fault": "drop"}, TransientError, None),
        ({"fault": "slow", "seconds": 3}, TransientError, None),
        ({"fault": "400"}, PermanentError, 400),
        ({"fault": "404"}, PermanentError, 404),
        ({"fault": "422"}, PermanentError, 422),
    ],
)
def test_each_fault_maps_to_its_error_class(chat_server_factory, rule, error, status):
    server = chat_server_factory(faults=[{**rule, "marker": "FAULT"}])
    backend = backend_for(server, timeout_s=0.5)
    with pytest.raises(error) as caught:
        ask(backend, make_request("FAULT: answer 1-5"))
    assert type(caught.value) is error
    assert caught.value.status == status
    assert TEST_API_KEY not in str(caught.value)
    if rule.get("retry_after"):
        assert caught.value.retry_after == pytest.approx(float(rule["retry_after"]))


def test_retry_after_as_http_date_is_parsed_to_seconds(chat_server_factory):
    server = chat_server_factory(faults=[{"fault": "429", "requests": [1], "retry_after_date": 30}])
    with pytest.raises(TransientError) as caught:
        ask(backend_for(server), make_request())
    assert 25 <= caught.value.retry_after <= 31


def test_fault_clears_after_times_then_answers(chat_server_factory):
    server = chat_server_factory(faults=[{"fault": "503", "marker": "FLAKY", "times": 1}])
    request = make_request("FLAKY 1-5")

    async def twice():
        backend = backend_for(server)
        try:
            with pytest.raises(TransientError):
                await backend.answer(request)
            return await backend.answer(request)
        finally:
            await backend.aclose()

    answer = asyncio.run(twice())
    assert answer.text == respondent.scripted_answer(wire_messages(request), 7)
    assert [r["status"] for r in server.requests()] == [503, 200]


def test_wrong_key_is_permanent_and_never_echoed(chat_server_factory):
    server = chat_server_factory(api_key="sk-the-right-key-000000")
    with pytest.raises(PermanentError) as caught:
        ask(backend_for(server), make_request())
    assert caught.value.status == 401
    assert TEST_API_KEY not in str(caught.value)
    assert TEST_API_KEY[-8:] not in str(caught.value)
    # The server saw (and echoed) the key, so redaction was what kept it out.
    assert server.requests()[0]["status"] == 401


def test_right_key_is_accepted(chat_server_factory):
    server = chat_server_factory(api_key=TEST_API_KEY)
    assert ask(backend_for(server), make_request()).text in {"1", "2", "3", "4", "5"}


def test_missing_key_variable_is_permanent_and_named(chat_server):
    with pytest.raises(PermanentError, match="NOT_SET_KEY"):
        backend_for(chat_server, api_key_env="NOT_SET_KEY")


def test_connection_refused_is_transient():
    model = PlanModel(name="gpt", backend="openai", model_id="x", base_url="http://127.0.0.1:9/v1",
                      api_key_env="TEST_KEY", timeout_s=2.0)
    with pytest.raises(TransientError):
        ask(OpenAIBackend(model, env=ENV), make_request())
