"""The test server itself: what other tests (executor, crash, bench) rely on."""

from __future__ import annotations

import json
import urllib.request

from tests.servers import respondent
from tests.servers.fixtures import make_request, wire_messages


def post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            raise AssertionError(f"HTTP {error.code} with a non-JSON body: {raw[:300]!r}") from None


def test_models_endpoint_and_request_log(chat_server):
    with urllib.request.urlopen(chat_server.url + "/models", timeout=10) as response:
        assert json.loads(response.read())["data"][0]["id"] == "scripted"
    request = make_request()
    body = {"model": "m", "messages": wire_messages(request), "n": 3, "seed": 5}
    status, payload = post(chat_server.url + "/chat/completions", body)
    assert status == 200
    texts = [c["message"]["content"] for c in payload["choices"]]
    assert texts == [respondent.scripted_answer(wire_messages(request), 5, i) for i in range(3)]
    (logged,) = chat_server.requests()
    assert logged["n"] == 1 and logged["status"] == 200 and logged["body"] == body
    assert logged["messages_sha256"] == request.prompt_hash


def test_every_and_rate_rules(chat_server_factory):
    server = chat_server_factory(faults=[{"fault": "503", "every": 3}, {"fault": "500", "rate": 1.0, "marker": "R"}])
    statuses = [post(server.url + "/chat/completions",
                     {"messages": [{"role": "user", "content": f"q{i} 1-5"}]})[0] for i in range(6)]
    assert statuses == [200, 200, 503, 200, 200, 503]
    assert post(server.url + "/chat/completions", {"messages": [{"role": "user", "content": "R"}]})[0] == 500


def test_bad_body_is_400(chat_server):
    status, payload = post(chat_server.url + "/chat/completions", {"messages": []})
    assert status == 400 and "messages" in payload["error"]["message"]


def test_options_are_read_from_ranges_and_letters():
    def opts(text):
        return respondent.options_for([{"role": "user", "content": text}])

    assert opts("Answer 1-10") == [str(i) for i in range(1, 11)]
    assert opts("답하세요 (1~4 척도)") == ["1", "2", "3", "4"]
    assert opts("Choose A-E") == ["A", "B", "C", "D", "E"]
    assert opts("no range") == ["1", "2", "3", "4", "5"]
