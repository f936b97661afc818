"""Full-string option probabilities through the `openai` backend: prompt log-probabilities from a
real local server (vLLM's `prompt_logprobs` + `continue_final_message`, served by
tests/servers/chat_server.py over a tiny transformers model), and the refusal without them."""

from __future__ import annotations

import asyncio
import math

import pytest

from silspec.plan.model import PlanModel
from silspec.run.backends.base import PermanentError
from silspec.run.backends.openai_chat import OpenAIBackend
from tests.servers.fixtures import make_request, start_chat_server

TEN = tuple(range(1, 11))
PROMPT = "Divorce (1 = never, 10 = always)\nRespond with ONLY the single integer (1-10):"


def openai_model(url: str, **options) -> PlanModel:
    return PlanModel(name="served", backend="openai", model_id="tiny", base_url=url, options=options)


async def answer(model: PlanModel, request):
    backend = OpenAIBackend(model, env={})
    try:
        return await backend.answer(request)
    finally:
        await backend.aclose()


def reference(path, request, top_k: int = 20) -> tuple[dict[int, float], float]:
    """One option at a time, by hand: the prompt, the bare option's tokens teacher-forced, then
    the non-continuing share of the next token's top k (the rule in docs/backends.md)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    prompt = tokenizer(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True),
                       add_special_tokens=False)["input_ids"]
    masses = {}
    for code, option in zip(request.option_codes, request.option_tokens):
        seq = tokenizer.encode(option, add_special_tokens=False)
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids=torch.tensor([prompt + seq])).logits[0].float(), dim=-1)
        chain = sum(float(logprobs[len(prompt) - 1 + j, t]) for j, t in enumerate(seq))
        top = torch.topk(logprobs[-1], top_k)
        end = sum(math.exp(float(lp)) for lp, i in zip(top.values, top.indices)
                  if not (tokenizer.decode([int(i)]) or " ")[0].isalnum())
        masses[code] = math.exp(chain) * end
    total = sum(masses.values())
    return {c: m / total for c, m in masses.items()}, total


def test_prefix_sharing_labels_without_prompt_logprobs_are_refused_before_any_call(tmp_path):
    request = make_request(PROMPT, answers="option_probs", codes=TEN)
    with start_chat_server(tmp_path) as server:
        with pytest.raises(PermanentError, match="prompt_logprobs = true"):
            asyncio.run(answer(openai_model(server.url), request))
        assert server.requests() == []


@pytest.mark.slow  # the server process imports torch and loads the model
def test_served_prompt_logprobs_score_full_strings(tiny_model_dir, tmp_path):
    request = make_request(PROMPT, answers="option_probs", codes=TEN)
    with start_chat_server(tmp_path, model_path=tiny_model_dir) as server:
        result = asyncio.run(answer(openai_model(server.url, prompt_logprobs=True), request))
        bodies = [entry["body"] for entry in server.requests()]
    assert result.meta["option_rule"] == "full_string_prompt_logprobs" and result.meta["calls"] == 11
    assert len(bodies) == 11 and all(body["prompt_logprobs"] == 0 for body in bodies)
    assert sum(1 for body in bodies if body.get("continue_final_message")) == 10
    expected, mass = reference(tiny_model_dir, request)
    for code in TEN:
        assert result.option_probs[code] == pytest.approx(expected[code], abs=1e-5)
    assert result.valid_mass == pytest.approx(mass, abs=1e-6)
