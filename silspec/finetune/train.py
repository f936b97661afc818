"""LoRA training of a ``finetune`` block: first-token alignment to survey distributions.

``train_finetune(spec, name, out_dir=...)`` loads the base model exactly as the ``hf`` backend
does (``load_causal_lm``: same weights, dtype, tokenizer, left padding), wraps it with
``peft.LoraConfig(r, lora_alpha, lora_dropout, target_modules)`` (peft's default targets for the
architecture unless ``lora { targets = [...] }``), and trains with AdamW on batches of ``batch``
left-padded prompts for ``epochs`` epochs, seeded (LoRA init and data order). A batch goes
through the model in micro-batches of ``micro_batch`` prompts whose gradients accumulate, so
memory follows the micro-batch while each optimiser step still sees the whole batch. Mean JS (natural
log) on the valid split is measured before training and after each epoch; the adapter of the
best epoch is kept (epoch 0 is the untrained, identity adapter, so a run that only makes things
worse saves the base model's behaviour and says so). Everything is written to a temporary folder
and swapped in at the end, so an interrupted run leaves the previous result intact:

    <out_dir>/<name>/adapter/        peft ``save_pretrained`` + silspec.json (config hash)
    <out_dir>/<name>/metrics.json    per-epoch train loss, valid JS, counts, config, timings
    <out_dir>/<name>/finetune.json   the finetune block's canonical configuration

After every epoch the whole training state (LoRA weights, AdamW moments, scheduler, data-order
and dropout RNG, the best adapter so far, the metrics) goes to ``<out_dir>/.<name>.checkpoint.pt``
(atomically); a rerun of the same configuration and run settings resumes after the last finished
epoch and ends with the adapter an uninterrupted run would have saved. The checkpoint is
removed once the result is saved.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import attrs
from attrs import frozen

from silspec.spec.finetune import (
    ADAPTER_FOLDER,
    adapter_model_id,
    config_hash,
    default_finetune_root,
    default_pilot_root,
    finetune_config,
)
from silspec.finetune.errors import FinetuneError
from silspec.finetune.examples import Example, build_examples, counts, get_finetune
from silspec.spec.model import Spec

METRICS_FORMAT = "silspec-finetune-metrics/1"
Progress = Callable[[str, dict[str, Any]], None]  # (event, payload): "examples", "epoch", "saved"


@frozen
class EpochMetrics:
    epoch: int
    steps: int  # optimiser steps taken in this epoch
    train_loss: float  # mean first-token loss over this epoch's batches
    valid_js: float  # mean JS divergence (natural log) on the valid split after the epoch


@frozen
class FinetuneResult:
    name: str
    out_dir: str  # <out_dir>/<name>
    adapter_dir: str
    config_hash: str
    examples: dict[str, dict[str, int]]
    valid_js_before: float
    valid_js_after: float  # of the kept (best) adapter
    best_epoch: int  # 0 = no epoch beat the untrained adapter
    epochs: tuple[EpochMetrics, ...]
    steps: int
    device: str
    duration_s: float
    test_js_before: float | None = None
    test_js_after: float | None = None
    micro_batch: int | None = None  # prompts through the model at once (the optimiser steps per batch)
    resumed_from_epoch: int | None = None  # the checkpoint's epoch when the run resumed


class FirstTokenScorer:
    """Option logits of a batch of examples at the last prompt position, as the backend sees them.

    Each prompt is rendered and tokenised once; batches are left-padded from the cached ids
    exactly as the tokenizer pads them (``padding_side = "left"``, ``pad_token_id``), and the model
    computes logits at the last position only (``logits_to_keep=1``): a ``(B, V)`` slice instead
    of ``(B, T, V)``.
    """

    def __init__(self, torch: Any, tokenizer: Any, device: str):
        from silspec.run.backends.hf import render_messages

        self.torch = torch
        self.tokenizer = tokenizer
        self.device = device
        self._render = render_messages
        self._encoded: dict[Any, list[int]] = {}
        self._ids: dict[tuple[str, ...], list[list[int]]] = {}

    def option_ids(self, tokens: tuple[str, ...]) -> list[list[int]]:
        from silspec.run.backends.base import PermanentError
        from silspec.run.backends.hf import option_first_ids

        if tokens not in self._ids:
            try:
                self._ids[tokens] = option_first_ids(self.tokenizer, tokens)
            except PermanentError as exc:
                raise FinetuneError(str(exc)) from None
        return self._ids[tokens]

    def encode(self, example: Example) -> list[int]:
        """The prompt's token ids (rendered once per example)."""
        key = example.messages
        if key not in self._encoded:
            text, special = self._render(self.tokenizer, example.messages)
            self._encoded[key] = list(self.tokenizer(text, add_special_tokens=special)["input_ids"])
        return self._encoded[key]

    def by_length(self, examples: Sequence[Example]) -> list[Example]:
        """Shortest prompt first (stable): batches of neighbours carry little padding."""
        return sorted(examples, key=lambda e: len(self.encode(e)))

    def logits(self, lm: Any, examples: Sequence[Example]) -> tuple[Any, Any]:
        """(option logits ``(B, K)``, mask ``(B, K)``), differentiable when grad is enabled."""
        from silspec.finetune.loss import option_logits

        torch = self.torch
        encoded = [self.encode(e) for e in examples]
        width = max(len(ids) for ids in encoded)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded], device=self.device)
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], device=self.device)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        out = lm(input_ids=input_ids, attention_mask=attention, position_ids=positions, logits_to_keep=1)
        last = out.logits[:, -1, :].float()
        return option_logits(last, [self.option_ids(e.option_tokens) for e in examples])

    def loss(self, lm: Any, examples: Sequence[Example], name: str) -> Any:
        """Per-example first-token loss ``(B,)``."""
        from silspec.finetune.loss import loss_function, padded_targets

        logits, mask = self.logits(lm, examples)
        return loss_function(name)(logits, padded_targets([e.target for e in examples], logits), mask)

    def backward(self, lm: Any, batch: Sequence[Example], name: str, micro_batch: int) -> float:
        """Accumulate the gradient of the batch's mean loss in micro-batches; returns that mean.

        The sum of ``micro.sum() / len(batch)`` over micro-batches is the batch mean, so the
        gradient is the full batch's (up to float rounding) while only ``micro_batch`` prompts'
        activations are alive at once: peak memory follows the micro-batch, not the batch.
        """
        total = 0.0
        ordered = self.by_length(batch)
        for start in range(0, len(ordered), micro_batch):
            part = self.loss(lm, ordered[start:start + micro_batch], name).sum() / len(batch)
            if not self.torch.isfinite(part):
                return float(part.detach())
            part.backward()
            total += float(part.detach())
        return total

    def mean_js(self, lm: Any, examples: Sequence[Example], batch_size: int) -> float:
        """Mean JS divergence (natural log) between model and target shares over ``examples``."""
        import numpy as np

        from silspec.analysis.metrics import js_divergence_rows
        from silspec.finetune.loss import option_probabilities

        values: list[float] = []
        was_training = lm.training
        lm.eval()
        ordered = self.by_length(examples)  # the mean does not depend on the order
        with self.torch.inference_mode():
            for start in range(0, len(ordered), batch_size):
                chunk = ordered[start:start + batch_size]
                logits, mask = self.logits(lm, chunk)
                probs = option_probabilities(logits, mask).double().cpu().numpy()
                for row, example in zip(probs, chunk):
                    k = len(example.target)
                    values.append(float(js_divergence_rows(row[:k], np.asarray(example.target))[0]))
        if was_training:
            lm.train()
        return float(np.mean(values)) if values else math.nan


CPU_MICRO_BATCH = 1


def default_micro_batch(device: str, batch_size: int) -> int:
    """Prompts per forward/backward pass when ``--micro-batch`` is not given.

    On a CPU, one: activations kept for the backward pass cost ~0.3 GB per ~135-token prompt in
    float32 on SmolLM2-135M, a single prompt carries no padding, and a CPU gains little from
    batching. On an accelerator, the whole batch (``--micro-batch`` lowers it when memory is short).
    """
    return CPU_MICRO_BATCH if device == "cpu" else batch_size
CHECKPOINT_FORMAT = "silspec-finetune-checkpoint/1"


def checkpoint_path(root: Path, name: str) -> Path:
    """``<root>/.<name>.checkpoint.pt``: beside the result folder, removed once it is saved."""
    return root / f".{name}.checkpoint.pt"


def train_finetune(
    spec: Spec,
    name: str | None = None,
    *,
    out_dir: str | os.PathLike | None = None,
    max_steps: int | None = None,
    limit_examples: int | None = None,
    device: str | None = None,
    micro_batch: int | None = None,
    resume: bool = True,
    progress: Progress | None = None,
) -> FinetuneResult:
    """Train the named finetune block's LoRA adapter and save it (see the module docstring).

    ``out_dir`` defaults to ``<spec root>/runs/<study>/finetune``; ``max_steps`` caps optimiser
    steps over all epochs; ``limit_examples`` keeps a seeded subsample of each split;
    ``micro_batch`` bounds how many prompts go through the model at once (default
    ``default_micro_batch``; the optimiser still steps once per ``batch``); ``resume`` picks up the checkpoint of the last
    finished epoch when one of the same configuration and run settings exists.
    """
    started = time.perf_counter()
    emit = progress or (lambda event, payload: None)
    finetune = get_finetune(spec, name)
    if max_steps is not None and max_steps < 1:
        raise FinetuneError("--max-steps must be at least 1")
    if micro_batch is not None and micro_batch < 1:
        raise FinetuneError("--micro-batch must be at least 1")
    if finetune.optimiser.lower() != "adamw":
        raise FinetuneError(f"finetune {finetune.name!r}: optimiser {finetune.optimiser!r} is not supported (use adamw)")
    base = spec.models[finetune.base]
    if base.backend != "hf":
        raise FinetuneError(f"finetune {finetune.name!r}: base model {base.name!r} uses backend {base.backend!r}; "
                            "fine-tuning needs a local `backend = hf` model")
    seed = finetune.seed if finetune.seed is not None else spec.study.seed
    hash_ = config_hash(finetune, base, spec.study.seed)
    pilot = max_steps is not None or limit_examples is not None
    default_root = default_pilot_root if pilot else default_finetune_root
    root = Path(out_dir) if out_dir is not None else Path(default_root(spec.root, spec.study.name))
    splits = build_examples(spec, finetune, limit=limit_examples, seed=seed)
    example_counts = counts(splits.values())
    emit("examples", {"counts": example_counts})
    train, valid = list(splits["train"].examples), list(splits["valid"].examples)
    test = list(splits["test"].examples) if "test" in splits else []
    if not train or not valid:
        empty = "train" if not train else "valid"
        raise FinetuneError(f"finetune {finetune.name!r}: the {empty} split has no example with a benchmark")

    openmp_waits_passive()
    torch, tokenizer, lm, device = _load_base(spec, base, device)
    micro = min(micro_batch or default_micro_batch(device, finetune.batch_size), finetune.batch_size)
    torch.manual_seed(seed)
    model = _wrap_lora(lm, finetune)
    scorer = FirstTokenScorer(torch, tokenizer, device)
    for example in train + valid + test:  # fail before training on any option-token problem
        scorer.option_ids(example.option_tokens)

    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    trainable = [p for p in model.parameters() if p.requires_grad]
    options = finetune.options
    optimiser = torch.optim.AdamW(trainable, lr=finetune.learning_rate,
                                  weight_decay=float(options.get("weight_decay", 0.0)))
    warmup = int(options.get("warmup", 0) or 0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0)
    order = torch.Generator().manual_seed(seed)
    per_epoch = math.ceil(len(train) / finetune.batch_size)
    total_steps = per_epoch * finetune.epochs if max_steps is None else min(max_steps, per_epoch * finetune.epochs)
    eval_batch = max(finetune.batch_size, int(base.options.get("batch_size", 8)))
    run_key = {"config_hash": hash_, "limit_examples": limit_examples, "max_steps": max_steps}
    checkpoint = checkpoint_path(root, finetune.name)

    epochs: list[EpochMetrics] = []
    steps, first_epoch = 0, 1
    state = _read_checkpoint(torch, checkpoint, run_key, emit) if resume else None
    if state is not None:
        set_peft_model_state_dict(model, state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        order.set_state(state["order"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and device.startswith("cuda"):
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        epochs = [EpochMetrics(**e) for e in state["epochs"]]
        steps, first_epoch = int(state["steps"]), int(state["epoch"]) + 1
        valid_before, test_before = float(state["valid_before"]), _optional(state["test_before"])
        best_js, best_epoch, best_state = float(state["best_js"]), int(state["best_epoch"]), state["best_state"]
        emit("resumed", {"path": str(checkpoint), "epoch": first_epoch - 1, "steps": steps})
    else:
        valid_before = scorer.mean_js(model, valid, eval_batch)
        test_before = scorer.mean_js(model, test, eval_batch) if test else None
        best_js, best_epoch = valid_before, 0
        best_state = _clone(get_peft_model_state_dict(model))
    emit("baseline", {"valid_js": valid_before, "test_js": test_before})
    emit("start", {"total_steps": total_steps, "steps": steps, "epochs": finetune.epochs, "micro_batch": micro,
                   "valid_js": epochs[-1].valid_js if epochs else valid_before})

    for epoch in range(first_epoch, finetune.epochs + 1):
        if max_steps is not None and steps >= max_steps:
            break
        model.train()
        permutation = torch.randperm(len(train), generator=order).tolist()
        losses: list[float] = []
        for start in range(0, len(permutation), finetune.batch_size):
            if max_steps is not None and steps >= max_steps:
                break
            batch = [train[i] for i in permutation[start:start + finetune.batch_size]]
            optimiser.zero_grad(set_to_none=True)
            loss = scorer.backward(model, batch, finetune.loss, micro)
            if not math.isfinite(loss):
                raise FinetuneError(f"finetune {finetune.name!r}: the {finetune.loss} loss became {loss} at step {steps + 1}; "
                                    "lower the learning rate")
            optimiser.step()
            scheduler.step()
            losses.append(loss)
            steps += 1
            emit("step", {"epoch": epoch, "steps": steps, "total_steps": total_steps, "loss": loss,
                          "mean_loss": sum(losses) / len(losses)})
        valid_js = scorer.mean_js(model, valid, eval_batch)
        metrics = EpochMetrics(epoch, len(losses), float(sum(losses) / len(losses)) if losses else math.nan, valid_js)
        epochs.append(metrics)
        emit("epoch", {"epoch": metrics})
        if valid_js < best_js:
            best_js, best_epoch = valid_js, epoch
            best_state = _clone(get_peft_model_state_dict(model))
        _write_checkpoint(torch, checkpoint, {
            **run_key, "format": CHECKPOINT_FORMAT, "epoch": epoch, "steps": steps,
            "epochs": [attrs.asdict(e) for e in epochs], "valid_before": valid_before, "test_before": test_before,
            "best_js": best_js, "best_epoch": best_epoch, "best_state": best_state,
            "model": _clone(get_peft_model_state_dict(model)), "optimiser": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(), "order": order.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.startswith("cuda") else None,
        })
        emit("checkpoint", {"path": str(checkpoint), "epoch": epoch, "steps": steps})

    set_peft_model_state_dict(model, best_state)
    model.eval()
    test_after = scorer.mean_js(model, test, eval_batch) if test else None
    result = FinetuneResult(
        name=finetune.name,
        out_dir=str(root / finetune.name),
        adapter_dir=str(root / finetune.name / ADAPTER_FOLDER),
        config_hash=hash_,
        examples=example_counts,
        valid_js_before=valid_before,
        valid_js_after=best_js,
        best_epoch=best_epoch,
        epochs=tuple(epochs),
        steps=steps,
        device=device,
        duration_s=time.perf_counter() - started,
        test_js_before=test_before,
        test_js_after=test_after,
        micro_batch=micro,
        resumed_from_epoch=first_epoch - 1 if state is not None else None,
    )
    _save(model, spec, finetune, base, result, limit_examples=limit_examples, max_steps=max_steps)
    checkpoint.unlink(missing_ok=True)
    emit("saved", {"result": result})
    return result


def openmp_waits_passive() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy.

    By default OpenMP threads spin while waiting for work. On a CPU shared with other busy
    processes a spinning thread holds a core its partner needs, and every parallel region waits
    for a descheduled thread: a training step of 16 SmolLM2 prompts took 55-70 s with torch's 2
    threads at load 5 on 2 cores, against 12-19 s with passive waits (15 s with one thread).
    Results do not change, only how idle threads wait. The OpenMP runtime reads the variable
    when torch is first imported, so it takes effect in `silspec finetune` (which imports torch
    only here), not in a process that imported torch before.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def _read_checkpoint(torch: Any, path: Path, run_key: dict[str, Any], emit: Progress) -> dict[str, Any] | None:
    """The checkpoint's state when it belongs to this configuration and run; else None.

    A checkpoint of another configuration, or one that cannot be read, is not an error: the run
    starts afresh (and overwrites it at its first epoch), and says why (``checkpoint_ignored``).
    """
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn or foreign file: start afresh, loudly
        emit("checkpoint_ignored", {"path": str(path), "reason": f"unreadable ({type(exc).__name__}: {exc})"})
        return None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        emit("checkpoint_ignored", {"path": str(path), "reason": f"not a {CHECKPOINT_FORMAT} checkpoint"})
        return None
    mismatch = [key for key, value in run_key.items() if state.get(key) != value]
    if mismatch:
        emit("checkpoint_ignored", {"path": str(path), "reason": f"written with another {', '.join(mismatch)}"})
        return None
    return state


def _write_checkpoint(torch: Any, path: Path, state: dict[str, Any]) -> None:
    """Atomic: a kill while writing leaves the previous epoch's checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    torch.save(state, staging)
    os.replace(staging, path)


def _load_base(spec: Spec, base: Any, device: str | None) -> tuple[Any, Any, Any, str]:
    from silspec.plan.compile import plan_model
    from silspec.run.backends.base import PermanentError
    from silspec.run.backends.hf import load_causal_lm

    try:
        return load_causal_lm(plan_model(base, spec), device=device)
    except PermanentError as exc:
        raise FinetuneError(str(exc)) from None


def _wrap_lora(lm: Any, finetune: Any) -> Any:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise FinetuneError("fine-tuning needs the `peft` package (pip install 'silspec[finetune]')") from None
    config = LoraConfig(
        r=finetune.lora_rank,
        lora_alpha=finetune.lora_alpha,
        lora_dropout=finetune.lora_dropout,
        target_modules=list(finetune.lora_targets) or None,  # None: peft's default for the architecture
        task_type="CAUSAL_LM",
    )
    try:
        with warnings.catch_warnings():  # GPT-2's Conv1D note and a transformers deprecation: noise for users
            warnings.filterwarnings("ignore", message=".*fan_in_fan_out.*")
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            return get_peft_model(lm, config)
    except ValueError as exc:
        raise FinetuneError(f"finetune {finetune.name!r}: LoRA cannot wrap this model ({exc}); "
                            "name the layers: `lora { targets = [\"q_proj\", \"v_proj\"] }`") from None


def _clone(state: dict[str, Any]) -> dict[str, Any]:
    return {key: value.detach().clone() for key, value in state.items()}


def _save(model: Any, spec: Spec, finetune: Any, base: Any, result: FinetuneResult, **run: Any) -> None:
    """Write into a temporary sibling folder, then swap it in (the old result survives a crash)."""
    from silspec import __version__
    from silspec.plan.spec_hash import spec_hash

    final = Path(result.out_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{final.name}.tmp-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    adapter = staging / ADAPTER_FOLDER
    model.save_pretrained(str(adapter))
    config = finetune_config(finetune, base, spec.study.seed)
    model_id = adapter_model_id(base.model_id, finetune.name, result.config_hash)
    weights = sorted(adapter.glob("adapter_model.*"))
    weights_sha = _sha256(weights[0]) if weights else None
    _write_json(adapter / "silspec.json", {
        "finetune": finetune.name, "config_hash": result.config_hash, "model_id": model_id,
        "base_model_id": base.model_id, "weights_sha256": weights_sha, "silspec_version": __version__,
        **{k: v for k, v in run.items() if v is not None},
    })
    import peft
    import torch

    _write_json(staging / "metrics.json", {
        "format": METRICS_FORMAT,
        "finetune": finetune.name,
        "study": spec.study.name,
        "spec_hash": spec_hash(spec),
        "config_hash": result.config_hash,
        "model_id": model_id,
        "base_model_id": base.model_id,
        "device": result.device,
        "examples": result.examples,
        "limit_examples": run.get("limit_examples"),
        "max_steps": run.get("max_steps"),
        "steps": result.steps,
        "micro_batch": result.micro_batch,
        "resumed_from_epoch": result.resumed_from_epoch,
        "loss": finetune.loss,
        "valid_js_before": result.valid_js_before,
        "valid_js_after": result.valid_js_after,
        "best_epoch": result.best_epoch,
        "epochs": [{"epoch": e.epoch, "steps": e.steps, "train_loss": e.train_loss, "valid_js": e.valid_js}
                   for e in result.epochs],
        "test_js_before": result.test_js_before,
        "test_js_after": result.test_js_after,
        "duration_s": round(result.duration_s, 3),
        "config": config,
        "versions": {"silspec": __version__, "torch": torch.__version__, "peft": peft.__version__},
    })
    _write_json(staging / "finetune.json", config)
    retired = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        os.replace(final, retired)
    os.replace(staging, final)
    if retired.exists():
        shutil.rmtree(retired, ignore_errors=True)


def _sha256(path: Path) -> str:
    from silspec.plan.hashing import sha256_file

    return sha256_file(str(path))


def _finite(value: Any) -> Any:
    """NaN/inf become null: metrics.json stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(_finite(value), indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
