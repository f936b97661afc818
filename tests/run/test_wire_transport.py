"""The API backends' transport (``_wire.py``, aiohttp) keeps what the official client did: URL
credentials as basic auth, organisation headers, environment proxies and NO_PROXY, refusals of
bodies JSON cannot carry, and many concurrent calls on one backend. Against the real test server."""

from __future__ import annotations

import asyncio
import gc

import pytest

from silspec.plan.model import PlanModel
from silspec.run.backends.base import PermanentError, TransientError
from silspec.run.backends.clova import ClovaBackend
from silspec.run.backends.openai_chat import OpenAIBackend
from tests.servers import respondent
from tests.servers.fixtures import TEST_API_KEY, make_request, wire_messages

ENV = {"TEST_KEY": TEST_API_KEY}
URL_SECRET = "pa55-url-SECRET-987654321"


def openai_backend(base_url: str, env=ENV, **overrides) -> OpenAIBackend:
    fields = dict(name="gpt", backend="openai", model_id="gpt-test", base_url=base_url,
                  api_key_env="TEST_KEY", timeout_s=5.0)
    fields.update(overrides)
    return OpenAIBackend(PlanModel(**fields), env=env)


def ask_all(backend, requests):
    async def go():
        try:
            return await asyncio.gather(*(backend.answer(r) for r in requests), return_exceptions=True)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_url_credentials_are_sent_as_basic_auth_instead_of_the_key(chat_server):
    url = chat_server.url.replace("http://", f"http://alice:{URL_SECRET}@")
    request = make_request()
    (answer,) = ask_all(openai_backend(url), [request])
    assert answer.text == respondent.scripted_answer(wire_messages(request), 7)
    (logged,) = chat_server.requests()
    assert logged["auth"] == "Basic alice"


def test_the_bearer_key_and_organisation_header_are_sent(chat_server):
    ask_all(openai_backend(chat_server.url, env={**ENV, "OPENAI_ORG_ID": "org-test"}), [make_request()])
    (logged,) = chat_server.requests()
    assert logged["auth"] == "Bearer" and logged["organization_header"] == "org-test"


def test_url_credentials_never_appear_in_a_connection_error():
    url = f"http://alice:{URL_SECRET}@127.0.0.1:9/v1"  # nothing listens
    (error,) = ask_all(openai_backend(url), [make_request()])
    assert isinstance(error, TransientError) and "connection failed" in str(error)
    assert URL_SECRET not in str(error) and TEST_API_KEY not in str(error)


def test_an_environment_proxy_carries_the_requests(chat_server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", chat_server.root_url)  # the test server answers as the proxy
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    request = make_request()
    (answer,) = ask_all(openai_backend("http://api.example.invalid/v1"), [request])
    assert answer.text == respondent.scripted_answer(wire_messages(request), 7)
    (logged,) = chat_server.requests()
    assert logged["via_proxy"] is True and logged["path"].startswith("http://api.example.invalid/")


def test_no_proxy_hosts_are_asked_directly(chat_server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", chat_server.root_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    (error,) = ask_all(openai_backend("http://127.0.0.1:9/v1"), [make_request()])
    assert isinstance(error, TransientError)  # straight to port 9, where nothing listens
    assert chat_server.requests() == []


def test_a_parameter_json_cannot_carry_is_permanent_and_nothing_is_sent(chat_server):
    (error,) = ask_all(openai_backend(chat_server.url, params={"temperature": float("nan")}), [make_request()])
    assert isinstance(error, PermanentError) and "cannot be encoded" in str(error)
    assert chat_server.requests() == []


def test_many_concurrent_calls_on_one_backend_each_get_their_own_answer(chat_server):
    requests = [make_request(f"Question {i}: answer 1-5", seed=i) for i in range(60)]
    answers = ask_all(openai_backend(chat_server.url, concurrency=20), requests)
    assert [a.text for a in answers] == [
        respondent.scripted_answer(wire_messages(r), r.seed) for r in requests
    ]
    assert len(chat_server.requests()) == 60


def test_clova_sends_basic_auth_from_url_credentials(chat_server):
    url = chat_server.root_url.replace("http://", f"http://bob:{URL_SECRET}@")
    model = PlanModel(name="hcx", backend="clova", model_id="HCX-005", base_url=url,
                      api_key_env="TEST_KEY", timeout_s=5.0)
    (answer,) = ask_all(ClovaBackend(model, env=ENV), [make_request()])
    assert answer.text
    (logged,) = chat_server.requests()
    assert logged["auth"] == "Basic bob"


@pytest.mark.parametrize("backend_name", ["openai", "clova"])
def test_a_backend_closed_before_any_call_closes_cleanly(backend_name, chat_server):
    if backend_name == "openai":
        backend = openai_backend(chat_server.url)
    else:
        backend = ClovaBackend(PlanModel(name="hcx", backend="clova", model_id="HCX-005",
                                         base_url=chat_server.root_url, api_key_env="TEST_KEY"), env=ENV)
    asyncio.run(backend.aclose())
    assert chat_server.requests() == []


# The first loop's connection cannot be closed once that loop is gone: its socket is left to the
# garbage collector (collected here, so that the warning stays in this test).
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_backend_answers_again_under_a_new_event_loop(chat_server):
    backend = openai_backend(chat_server.url)
    first = asyncio.run(backend.answer(make_request("First: answer 1-5")))
    second = asyncio.run(backend.answer(make_request("Second: answer 1-5")))  # the first loop is gone
    asyncio.run(backend.aclose())
    gc.collect()
    assert first.text and second.text
    assert len(chat_server.requests()) == 2
