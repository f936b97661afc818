"""The vLLM backend's mapping on plain data: requests -> SamplingParams kwargs, RequestOutput-like
objects -> BackendAnswer. No vLLM here (CI never installs it); the one test that needs the
engine skips saying so."""

from __future__ import annotations

import importlib.util
import math
from types import SimpleNamespace as NS

import attrs
import pytest

from silspec.plan.model import Message, Request
from silspec.run.backends.base import BackendAnswer, PermanentError
from silspec.run.backends.vllm_engine import (
    Group, group_replicates, ignored_params, option_prompts, read_full_strings, read_option_probs,
    read_sampled, sampling_kwargs,
)
from tests.run import _fakes as fk

MODEL = fk.model("qwen", "vllm", params={"temperature": 0.7, "max_tokens": 12, "top_p": 0.9, "thinking": "low"})


def request(rid: str, *, replicate: int = 0, seed: int | None = 100, answers: str = "sampled",
            tokens: tuple[str, ...] = ("1", "2", "3"), prompt: str = "Q?") -> Request:
    return Request(id=rid, condition="c", model="qwen", item="s.Q1", persona="P1", replicate=replicate,
                   answers=answers, messages=(Message("user", prompt),), option_codes=(1, 2, 3),
                   option_tokens=tokens, seed=seed)


def lp(token: str, logprob: float) -> NS:
    return NS(logprob=logprob, rank=1, decoded_token=token)


def test_replicates_of_one_prompt_become_one_request_with_n_samples():
    reqs = [request("a2", replicate=2, seed=102), request("a0", replicate=0, seed=100),
            request("b0", prompt="other"), request("a1", replicate=1, seed=101)]
    groups = group_replicates(reqs, MODEL)
    assert [[r.id for r in g.requests] for g in groups] == [["a0", "a1", "a2"], ["b0"]]
    assert groups[0].seed == 100
    kwargs = sampling_kwargs(groups[0], MODEL)
    assert kwargs == {"temperature": 0.7, "top_p": 0.9, "seed": 100, "n": 3, "max_tokens": 12}
    assert ignored_params(reqs[0], MODEL) == ["thinking"]  # kept in meta, never silently dropped


def test_option_probs_requests_ask_one_token_with_top_logprobs_and_stay_alone():
    reqs = [request("p0", answers="option_probs"), request("p1", answers="option_probs", replicate=1)]
    groups = group_replicates(reqs, MODEL)
    assert len(groups) == 2
    kwargs = sampling_kwargs(groups[0], MODEL)
    assert kwargs["n"] == 1 and kwargs["max_tokens"] == 1 and kwargs["logprobs"] == 20
    assert "prompt_logprobs" not in kwargs
    wide = sampling_kwargs(Group((request("x", answers="option_probs", tokens=("1", "10", "2")),), 1), MODEL)
    assert wide["prompt_logprobs"] == 0  # labels share a prefix: scored as whole strings
    assert option_prompts("<prompt>", request("x", tokens=(" 1", "10", "2"))) == ["<prompt>1", "<prompt>10", "<prompt>2"]


def test_samples_map_to_replicates_in_order():
    group = Group((request("a0"), request("a1", replicate=1)), 100)
    output = NS(prompt_token_ids=[1, 2, 3], outputs=[
        NS(text="I'd say 2", token_ids=[5, 6], finish_reason="stop", logprobs=None),
        NS(text="4", token_ids=[7], finish_reason="length", logprobs=None)])
    answers = read_sampled(output, group, "qwen-7b")
    assert [a.text for a in answers] == ["I'd say 2", "4"]
    assert answers[1].meta == {"finish_reason": "length", "vllm_n": 2, "sample_index": 1}
    assert answers[0].prompt_tokens == 3 and answers[0].completion_tokens == 2
    short = read_sampled(NS(prompt_token_ids=[1], outputs=output.outputs[:1]), group, "q")
    assert isinstance(short[1], PermanentError)  # a missing sample is an error, never a gap


def test_first_token_logprobs_follow_the_option_rules():
    req = request("p", answers="option_probs")
    candidates = {11: lp("1", math.log(0.3)), 12: lp(" 1", math.log(0.1)), 13: lp("2", math.log(0.2)),
                  14: lp("Hello", math.log(0.4))}
    output = NS(prompt_token_ids=[1, 2], outputs=[NS(text="1", token_ids=[11], finish_reason="length",
                                                     logprobs=[candidates])])
    answer = read_option_probs(output, req, "q")
    assert answer.option_probs == pytest.approx({1: 0.4 / 0.6, 2: 0.2 / 0.6, 3: 0.0})
    assert answer.valid_mass == pytest.approx(0.6)
    assert answer.meta["options_not_in_top_logprobs"] == [3]
    none = read_option_probs(NS(prompt_token_ids=[1], outputs=[NS(text="x", token_ids=[1], finish_reason="length",
                                                                  logprobs=None)]), req, "q")
    assert none.option_probs is None and none.meta["note"] == "the engine returned no logprobs"


def test_full_string_labels_from_prompt_logprobs():
    req = request("p", answers="option_probs", tokens=("1", "10", "2"))
    base = NS(prompt_token_ids=[5, 6], prompt_logprobs=[None, {6: lp("x", -0.1)}], outputs=[])

    def option(ids, logprobs, end_candidates):
        positions = [None, {6: lp("x", -0.1)}] + [{i: lp("t", v)} for i, v in zip(ids[2:], logprobs)]
        return NS(prompt_token_ids=ids, prompt_logprobs=positions,
                  outputs=[NS(text="", token_ids=[0], finish_reason="length", logprobs=[end_candidates])])

    end_all = {0: lp("\n", 0.0)}  # the answer surely ends after the label
    per_option = [
        option([5, 6, 21], [math.log(0.5)], {0: lp("0", math.log(0.6)), 1: lp("\n", math.log(0.4))}),  # "1" then "0" = "10"
        option([5, 6, 21, 30], [math.log(0.5), math.log(0.6)], end_all),  # "10"
        option([5, 6, 22], [math.log(0.2)], end_all),  # "2"
    ]
    answer = read_full_strings(base, per_option, req, "q")
    masses = [0.5 * 0.4, 0.5 * 0.6, 0.2]
    # codes 1, 2, 3 are labelled "1", "10", "2"
    assert answer.option_probs == pytest.approx({code: m / sum(masses) for code, m in zip((1, 2, 3), masses)})
    assert answer.valid_mass == pytest.approx(min(sum(masses), 1.0))
    merged = [option([5, 7], [math.log(0.5)], end_all)] + per_option[1:]  # the label merged into the prompt
    with pytest.raises(PermanentError, match="does not start with the plain prompt"):
        read_full_strings(base, merged, req, "q")


def test_the_backend_stops_its_model_when_vllm_is_missing():
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here; this checks the message shown where it is not")
    from silspec.run.backends.vllm_engine import VLLMBackend

    with pytest.raises(PermanentError, match=r"pip install 'silspec\[vllm\]'"):
        VLLMBackend(MODEL, env={})


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                    reason="vLLM is not installed (optional extra silspec[vllm], needs a GPU); the mapping"
                           " above is tested without it")
def test_vllm_engine_answers_a_tiny_plan(tiny_model_dir):  # pragma: no cover - needs vLLM and a GPU
    import asyncio

    from silspec.run.backends.vllm_engine import VLLMBackend

    model = attrs.evolve(MODEL, path=str(tiny_model_dir), params={"temperature": 0.0, "max_tokens": 4})
    backend = VLLMBackend(model, env={})
    results = asyncio.run(backend.answer_batch([request("a"), request("p", answers="option_probs")]))
    assert all(isinstance(r, BackendAnswer) for r in results)
