"""The ``vllm`` backend: the plan run in-process by ``vllm.LLM`` on the GPUs of this machine.

Why in-process (not a vLLM server behind the ``openai`` backend): the whole plan goes to the
engine in large batches, so its scheduler keeps the GPU full and its prefix cache (on here) reuses
the shared system prompt + persona of every item; and option probabilities come from the
engine's own log-probabilities without an HTTP round trip per option.

The work splits in two, and only the second touches vLLM:

- the *mapping*, pure functions on plain data (unit-tested without vLLM): ``sampling_kwargs``
  (what each request asks of ``SamplingParams``), ``group_replicates`` (replicates of one prompt
  become one request with ``n`` samples), ``read_sampled`` / ``read_option_probs`` /
  ``read_full_strings`` (a ``RequestOutput``-like object -> ``BackendAnswer``, with the option
  rules of ``tokens.py``: whitespace-stripped exact match, variants summed, renormalised, valid
  mass kept; labels that share a prefix scored as whole strings from prompt log-probabilities);
- ``VLLMBackend``, which renders prompts with the model's chat template (the ``hf`` backend's
  rule, so the same spec asks the same text on ``hf`` and ``vllm``), builds ``SamplingParams``
  and calls ``LLM.generate`` in a worker thread.

Replicates and seeds: the requests of one prompt that differ only in replicate (and so in seed)
are asked as one vLLM request with ``n`` = their number and the lowest replicate's seed;
sample i answers the i-th replicate (``meta.vllm_n``, ``meta.sample_index``). Asked whole, a
group gives the same answers on the same engine; a resumed run that asks part of a group asks a
smaller group, whose samples can differ. Option probabilities use vLLM's *raw* log-probabilities
of the first generated token (top ``top_logprobs``, default 20, so options outside them get 0
and lower ``valid_mass``, as on the ``openai`` backend).

vLLM is an optional extra (``pip install 'silspec[vllm]'``); without it the backend stops its
model with that hint. No GPU was available while this was written: nothing here was run on vLLM
(see ``docs/scale.md``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
from typing import Any, ClassVar, Mapping, Sequence

from attrs import frozen

from silspec.plan.model import PlanModel, Request, request_params
from silspec.run.backends.base import BackendAnswer, BackendError, PermanentError
from silspec.run.backends.tokens import (
    continues_label, from_logprobs, labels_need_full_strings, option_distribution,
)

DEFAULT_MAX_TOKENS = 256
DEFAULT_TOP_LOGPROBS = 20
DEFAULT_BATCH = 4096  # requests handed to one LLM.generate call
# SamplingParams fields a spec parameter maps to one to one
SAMPLING_FIELDS = frozenset({
    "temperature", "top_p", "top_k", "min_p", "presence_penalty", "frequency_penalty",
    "repetition_penalty", "stop",
})
OPTION_RULE_FIRST = "first_token_logprobs"
OPTION_RULE_FULL = "full_string_prompt_logprobs"


# ------------------------------------------------------------------------------ requests


@frozen
class Group:
    """Requests asked as one vLLM request: ``n`` samples of one prompt (or one option_probs request)."""

    requests: tuple[Request, ...]
    seed: int | None


def _group_key(request: Request, model: PlanModel) -> tuple[Any, ...]:
    params = request_params(request, model)
    params.pop("seed", None)
    return (request.messages, request.answers, request.option_tokens,
            tuple(sorted((k, repr(v)) for k, v in params.items())))


def group_replicates(requests: Sequence[Request], model: PlanModel) -> list[Group]:
    """Sampled/verbalised requests that differ only in replicate -> one group (replicate order);
    option_probs requests stay alone (one distribution serves one request)."""
    groups: dict[tuple[Any, ...], list[Request]] = {}
    alone: list[Group] = []
    order: list[tuple[Any, ...] | int] = []
    for request in requests:
        if request.answers == "option_probs":
            order.append(len(alone))
            alone.append(Group((request,), _seed(request, model)))
            continue
        key = _group_key(request, model)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(request)
    out = []
    for entry in order:
        if isinstance(entry, int):
            out.append(alone[entry])
        else:
            members = sorted(groups[entry], key=lambda r: r.replicate)
            out.append(Group(tuple(members), _seed(members[0], model)))
    return out


def _seed(request: Request, model: PlanModel) -> int | None:
    if request.seed is not None:
        return int(request.seed)
    seed = request_params(request, model).get("seed")
    return None if seed is None else int(seed)


def sampling_kwargs(group: Group, model: PlanModel) -> dict[str, Any]:
    """The ``SamplingParams`` keyword arguments of one group.

    Sampled / verbalised: the spec's sampling parameters, ``max_tokens`` (default 256), ``n`` =
    the group's size, its seed. Option probabilities: one token with the top ``top_logprobs``
    log-probabilities (``logprobs``); labels sharing a prefix are scored per option by
    ``option_prompts`` (this call then gives the plain prompt's tokens: ``prompt_logprobs=0``).
    """
    first = group.requests[0]
    params = request_params(first, model)
    kwargs: dict[str, Any] = {k: v for k, v in params.items() if k in SAMPLING_FIELDS}
    if group.seed is not None:
        kwargs["seed"] = group.seed
    if first.answers == "option_probs":
        kwargs.update(n=1, max_tokens=1,
                      logprobs=int(params.get("top_logprobs", DEFAULT_TOP_LOGPROBS)))
        if labels_need_full_strings(first.option_tokens):
            kwargs["prompt_logprobs"] = 0
        return kwargs
    kwargs["n"] = len(group.requests)
    kwargs["max_tokens"] = int(params.get("max_tokens") or params.get("max_completion_tokens") or DEFAULT_MAX_TOKENS)
    return kwargs


def option_prompts(prompt: str, request: Request) -> list[str]:
    """Per option, the prompt with the bare label appended (scored from prompt log-probabilities)."""
    return [prompt + token.strip() for token in request.option_tokens]


def ignored_params(request: Request, model: PlanModel) -> list[str]:
    """Spec parameters vLLM does not take (never dropped silently: kept in each answer's meta)."""
    known = SAMPLING_FIELDS | {"seed", "max_tokens", "max_completion_tokens", "top_logprobs"}
    return sorted(k for k in request_params(request, model) if k not in known)


# ------------------------------------------------------------------------------ outputs


def _logprob_value(entry: Any) -> float:
    return float(entry.logprob if hasattr(entry, "logprob") else entry["logprob"])


def _decoded(entry: Any) -> str:
    token = entry.decoded_token if hasattr(entry, "decoded_token") else entry.get("decoded_token")
    return "" if token is None else str(token)


def _first_token_candidates(completion: Any) -> list[tuple[str, float]]:
    """(decoded token, logprob) of the first generated position's candidates ([] when absent)."""
    positions = getattr(completion, "logprobs", None) or []
    if not positions or not positions[0]:
        return []
    return [(_decoded(entry), _logprob_value(entry)) for entry in positions[0].values()]


def _common(output: Any, provider_model: str) -> dict[str, Any]:
    prompt_ids = getattr(output, "prompt_token_ids", None)
    return {"provider_model": provider_model,
            "prompt_tokens": len(prompt_ids) if prompt_ids is not None else None}


def read_sampled(output: Any, group: Group, provider_model: str) -> list[BackendAnswer | BackendError]:
    """One answer per request of the group, sample i for the i-th replicate."""
    samples = list(getattr(output, "outputs", None) or [])
    out: list[BackendAnswer | BackendError] = []
    for index, request in enumerate(group.requests):
        if index >= len(samples):
            out.append(PermanentError(f"vLLM returned {len(samples)} samples for {len(group.requests)} replicates"))
            continue
        sample = samples[index]
        out.append(BackendAnswer(
            text=sample.text, completion_tokens=len(sample.token_ids or ()),
            meta={"finish_reason": sample.finish_reason, "vllm_n": len(group.requests), "sample_index": index},
            **_common(output, provider_model),
        ))
    return out


def read_option_probs(output: Any, request: Request, provider_model: str) -> BackendAnswer:
    """First-token option probabilities (``tokens.option_distribution``), as ``openai`` reads them."""
    samples = list(getattr(output, "outputs", None) or [])
    completion = samples[0] if samples else None
    candidates = _first_token_candidates(completion) if completion is not None else []
    meta: dict[str, Any] = {"option_rule": OPTION_RULE_FIRST, "candidates": len(candidates)}
    text = completion.text if completion is not None else None
    if not candidates:
        meta["note"] = "the engine returned no logprobs"
        return BackendAnswer(text=text, option_probs=None, valid_mass=0.0, meta=meta, **_common(output, provider_model))
    dist = option_distribution(from_logprobs(candidates), request.option_codes, request.option_tokens)
    if dist.option_probs is None:
        meta.update(note="no probability on any option token among the top logprobs",
                    top_tokens=[t for t, _ in sorted(candidates, key=lambda c: -c[1])[:10]])
        return BackendAnswer(text=text, option_probs=None, valid_mass=0.0, meta=meta, **_common(output, provider_model))
    absent = [code for code, tokens in dist.matched_tokens.items() if not tokens]
    if absent:
        meta["options_not_in_top_logprobs"] = absent
    return BackendAnswer(text=text, option_probs=dist.option_probs, valid_mass=dist.valid_mass, meta=meta,
                         **_common(output, provider_model))


def _prompt_logprob_sum(output: Any, start: int) -> float:
    """Sum of the prompt log-probabilities from position ``start`` on (vLLM: one dict per
    position, the first None; each holds the actual prompt token among its entries)."""
    ids = list(output.prompt_token_ids)
    positions = output.prompt_logprobs
    total = []
    for position in range(start, len(ids)):
        entry = positions[position]
        if not entry or ids[position] not in entry:
            raise PermanentError(f"no prompt log-probability for the option token at position {position}")
        total.append(_logprob_value(entry[ids[position]]))
    return math.fsum(total)


def read_full_strings(base: Any, per_option: Sequence[Any], request: Request, provider_model: str) -> BackendAnswer:
    """Whole-label probabilities: P(label tokens | prompt) x P(the answer ends there), the same
    rule as the ``hf`` backend and ``prompt_logprobs.py`` (end = a next token that does not
    continue the label, read from the top log-probabilities)."""
    prefix = list(base.prompt_token_ids)
    masses = []
    for label, output in zip(request.option_tokens, per_option):
        ids = list(output.prompt_token_ids)
        if len(ids) <= len(prefix) or ids[: len(prefix)] != prefix:
            raise PermanentError(
                f"the prompt with option {label.strip()!r} appended does not start with the plain prompt's tokens"
                " (the tokenizer merges the label into the prompt's last token), so it cannot be scored")
        logprob = _prompt_logprob_sum(output, len(prefix))
        samples = list(getattr(output, "outputs", None) or [])
        candidates = _first_token_candidates(samples[0]) if samples else []
        end = math.fsum(math.exp(lp) for token, lp in candidates if not continues_label(token))
        masses.append(math.exp(logprob) * end)
    valid_mass = math.fsum(masses)
    meta: dict[str, Any] = {"option_rule": OPTION_RULE_FULL, "calls": 1 + len(per_option)}
    option_probs = None
    if valid_mass > 0:
        option_probs = {code: mass / valid_mass for code, mass in zip(request.option_codes, masses)}
    else:
        meta["note"] = "no probability on any option string"
    return BackendAnswer(text=None, option_probs=option_probs, valid_mass=min(valid_mass, 1.0), meta=meta,
                         **_common(base, provider_model))


# ------------------------------------------------------------------------------ backend


class VLLMBackend:
    name: ClassVar[str] = "vllm"
    answer_modes: ClassVar[frozenset[str]] = frozenset({"sampled", "option_probs", "verbalised"})
    call_timeout_s: ClassVar[None] = None  # a large batch on a GPU has no meaningful per-call limit

    def __init__(self, model: PlanModel, *, env: Mapping[str, str]):
        if importlib.util.find_spec("vllm") is None:  # stop the model at once, not 20 errors later
            raise PermanentError(f"model {model.name!r}: the vllm backend needs vLLM, which is not installed"
                                 " (pip install 'silspec[vllm]', on a machine with a GPU)")
        self.model = model
        self.max_batch = int(model.options.get("batch_size") or DEFAULT_BATCH)
        self.on_status: Any = None
        self._llm: Any = None
        self._tokenizer: Any = None

    def _load(self) -> tuple[Any, Any]:
        if self._llm is None:
            try:
                import vllm
            except ImportError as exc:
                raise PermanentError(f"model {self.model.name!r}: the vllm backend needs vLLM"
                                     " (pip install 'silspec[vllm]', on a machine with a GPU)") from exc
            if self.on_status is not None:
                self.on_status(f"loading {self.model.model_id} into vLLM")
            kwargs: dict[str, Any] = {"model": self.model.path or self.model.model_id,
                                      "enable_prefix_caching": True,
                                      "max_logprobs": max(DEFAULT_TOP_LOGPROBS,
                                                          int(self.model.params.get("top_logprobs") or 0))}
            if self.model.options.get("dtype"):
                kwargs["dtype"] = self.model.options["dtype"]
            self._llm = vllm.LLM(**kwargs)
            self._tokenizer = self._llm.get_tokenizer()
            if self.on_status is not None:
                self.on_status(None)
        return self._llm, self._tokenizer

    def render(self, request: Request) -> str:
        from silspec.run.backends.hf import render_messages  # one prompt rule for hf and vllm

        text, _ = render_messages(self._tokenizer, request.messages)
        return text

    def _run(self, requests: Sequence[Request]) -> list[BackendAnswer | BackendError]:
        import vllm

        llm, _ = self._load()
        provider = self.model.model_id or str(self.model.path)
        groups = group_replicates(requests, self.model)
        prompts: list[str] = []
        params: list[Any] = []
        spans: list[tuple[Group, int, int]] = []  # group, first prompt index, prompts used
        for group in groups:
            request = group.requests[0]
            kwargs = sampling_kwargs(group, self.model)
            prompt = self.render(request)
            start = len(prompts)
            prompts.append(prompt)
            params.append(vllm.SamplingParams(**kwargs))
            if kwargs.get("prompt_logprobs") is not None:  # full strings: one prompt per option
                for text in option_prompts(prompt, request):
                    prompts.append(text)
                    params.append(vllm.SamplingParams(**kwargs))
            spans.append((group, start, len(prompts) - start))
        outputs = llm.generate(prompts, params, use_tqdm=False)
        by_id: dict[str, BackendAnswer | BackendError] = {}
        for group, start, used in spans:
            request = group.requests[0]
            ignored = ignored_params(request, self.model)
            try:
                if request.answers != "option_probs":
                    results = read_sampled(outputs[start], group, provider)
                elif used > 1:
                    results = [read_full_strings(outputs[start], outputs[start + 1: start + used], request, provider)]
                else:
                    results = [read_option_probs(outputs[start], request, provider)]
            except BackendError as exc:
                results = [exc] * len(group.requests)
            for member, result in zip(group.requests, results):
                if ignored and isinstance(result, BackendAnswer):
                    result.meta["ignored_params"] = ignored
                by_id[member.id] = result
        return [by_id[r.id] for r in requests]

    async def answer_batch(self, requests: Sequence[Request]) -> list[BackendAnswer | BackendError]:
        return await asyncio.to_thread(self._run, requests)

    async def answer(self, request: Request) -> BackendAnswer:
        result = (await self.answer_batch([request]))[0]
        if isinstance(result, BaseException):
            raise result
        return result

    async def aclose(self) -> None:
        self._llm = None
        self._tokenizer = None
