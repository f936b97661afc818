"""The batch engine reads replies with ``chat_completion.parse_chat_completion``; the live
``openai`` backend still has its own copy (``OpenAIBackend._to_answer``) until it is switched to
the shared function. Until then this keeps the two identical on every kind of reply."""

from __future__ import annotations

import math

import attrs
import pytest

from silspec.run.backends.base import ReplyError
from silspec.run.backends.chat_completion import chat_request_body, chat_request_kwargs, parse_chat_completion
from silspec.run.backends.openai_chat import OpenAIBackend
from tests.run import _fakes as fk

MODEL = fk.model("gpt", "openai", base_url="http://127.0.0.1:9/v1", params={"temperature": 0.5, "top_k": 5})


def choice(content="3", finish="stop", **message):
    return {"choices": [{"message": {"content": content, **message}, "finish_reason": finish}],
            "model": "m", "usage": {"prompt_tokens": 5, "completion_tokens": 1}}


def with_logprobs(tokens):
    body = choice("1", "length")
    body["choices"][0]["logprobs"] = {"content": [{"token": tokens[0][0], "logprob": tokens[0][1], "top_logprobs": [
        {"token": t, "logprob": lp} for t, lp in tokens]}]}
    return body


REPLIES = [
    choice(), choice(None), choice(None, refusal="no"), choice("", "content_filter"), choice("", "length"),
    choice(5), {"choices": []}, [], choice("2", reasoning_content="hmm"),
    with_logprobs([("1", math.log(0.5)), (" 2", math.log(0.3)), ("x", math.log(0.2))]),
    with_logprobs([("x", 0.0)]), choice("1", "length"),
]


def outcome(fn):
    try:
        return fn()
    except ReplyError as exc:
        return ("error", exc.reason, str(exc), exc.counts_against_model, exc.detail)


@pytest.mark.parametrize("answers", ["sampled", "option_probs"])
@pytest.mark.parametrize("body", REPLIES)
def test_shared_parser_matches_the_live_backend(body, answers):
    request = attrs.evolve(fk.requests_for("c", "gpt", [fk.item("Q1")], 1, backend="openai")[0], answers=answers)
    live = OpenAIBackend(MODEL, env={})
    assert outcome(lambda: parse_chat_completion(body, request, where="model 'gpt'")) == \
        outcome(lambda: live._to_answer(request, body))
    if hasattr(live, "_request_body"):  # the wire-format transport: one body, extra_body merged
        assert chat_request_body(request, MODEL) == live._request_body(request)
    else:
        assert chat_request_kwargs(request, MODEL) == live._request_kwargs(request)
