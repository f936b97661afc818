"""LoRA training of a ``finetune`` block: first-token alignment to survey distributions.

``train_finetune(spec, name, out_dir=...)`` loads the base model exactly as the ``hf`` backend
does (``load_causal_lm``: same weights, dtype, tokenizer, left padding), wraps it with
``peft.LoraConfig(r, lora_alpha, lora_dropout, target_modules)`` (peft's default targets for the
architecture unless ``lora { targets = [...] }``), and trains with AdamW on batches of ``batch``
left-padded prompts for ``epochs`` epochs, seeded (LoRA init and data order). Mean JS (natural
log) on the valid split is measured before training and after each epoch; the adapter of the
best epoch is kept (epoch 0 is the untrained, identity adapter, so a run that only makes things
worse saves the base model's behaviour and says so). Everything is written to a temporary folder
and swapped in at the end, so an interrupted run leaves the previous result intact:

    <out_dir>/<name>/adapter/        peft ``save_pretrained`` + silspec.json (config hash)
    <out_dir>/<name>/metrics.json    per-epoch train loss, valid JS, counts, config, timings
    <out_dir>/<name>/finetune.json   the finetune block's canonical configuration
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Sequence

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


class FirstTokenScorer:
    """Option logits of a batch of examples at the last prompt position, as the backend sees them."""

    def __init__(self, torch: Any, tokenizer: Any, device: str):
        from silspec.run.backends.hf import render_messages

        self.torch = torch
        self.tokenizer = tokenizer
        self.device = device
        self._render = render_messages
        self._texts: dict[int, tuple[str, bool]] = {}
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

    def logits(self, lm: Any, examples: Sequence[Example]) -> tuple[Any, Any]:
        """(option logits ``(B, K)``, mask ``(B, K)``), differentiable when grad is enabled."""
        from silspec.finetune.loss import option_logits

        rendered = [self._render(self.tokenizer, e.messages) for e in examples]
        encoded = self.tokenizer(
            [text for text, _ in rendered], add_special_tokens=rendered[0][1], padding=True, return_tensors="pt",
        )
        input_ids = encoded["input_ids"].to(self.device)
        attention = encoded["attention_mask"].to(self.device)
        positions = (attention.long().cumsum(-1) - 1).clamp(min=0)
        out = lm(input_ids=input_ids, attention_mask=attention, position_ids=positions, logits_to_keep=1)
        last = out.logits[:, -1, :].float()
        return option_logits(last, [self.option_ids(e.option_tokens) for e in examples])

    def loss(self, lm: Any, examples: Sequence[Example], name: str) -> Any:
        """Per-example first-token loss ``(B,)``."""
        from silspec.finetune.loss import loss_function, padded_targets

        logits, mask = self.logits(lm, examples)
        return loss_function(name)(logits, padded_targets([e.target for e in examples], logits), mask)

    def mean_js(self, lm: Any, examples: Sequence[Example], batch_size: int) -> float:
        """Mean JS divergence (natural log) between model and target shares over ``examples``."""
        import numpy as np

        from silspec.analysis.metrics import js_divergence_rows
        from silspec.finetune.loss import option_probabilities

        values: list[float] = []
        was_training = lm.training
        lm.eval()
        with self.torch.inference_mode():
            for start in range(0, len(examples), batch_size):
                chunk = examples[start:start + batch_size]
                logits, mask = self.logits(lm, chunk)
                probs = option_probabilities(logits, mask).double().cpu().numpy()
                for row, example in zip(probs, chunk):
                    k = len(example.target)
                    values.append(float(js_divergence_rows(row[:k], np.asarray(example.target))[0]))
        if was_training:
            lm.train()
        return float(np.mean(values)) if values else math.nan


def train_finetune(
    spec: Spec,
    name: str | None = None,
    *,
    out_dir: str | os.PathLike | None = None,
    max_steps: int | None = None,
    limit_examples: int | None = None,
    device: str | None = None,
    progress: Progress | None = None,
) -> FinetuneResult:
    """Train the named finetune block's LoRA adapter and save it (see the module docstring).

    ``out_dir`` defaults to ``<spec root>/runs/<study>/finetune``; ``max_steps`` caps optimiser
    steps over all epochs; ``limit_examples`` keeps a seeded subsample of each split.
    """
    started = time.perf_counter()
    emit = progress or (lambda event, payload: None)
    finetune = get_finetune(spec, name)
    if max_steps is not None and max_steps < 1:
        raise FinetuneError("--max-steps must be at least 1")
    if finetune.optimiser.lower() != "adamw":
        raise FinetuneError(f"finetune {finetune.name!r}: optimiser {finetune.optimiser!r} is not supported (use adamw)")
    base = spec.models[finetune.base]
    if base.backend != "hf":
        raise FinetuneError(f"finetune {finetune.name!r}: base model {base.name!r} uses backend {base.backend!r}; "
                            "fine-tuning needs a local `backend = hf` model")
    seed = finetune.seed if finetune.seed is not None else spec.study.seed
    hash_ = config_hash(finetune, base, spec.study.seed)
    splits = build_examples(spec, finetune, limit=limit_examples, seed=seed)
    example_counts = counts(splits.values())
    emit("examples", {"counts": example_counts})
    train, valid = list(splits["train"].examples), list(splits["valid"].examples)
    test = list(splits["test"].examples) if "test" in splits else []
    if not train or not valid:
        empty = "train" if not train else "valid"
        raise FinetuneError(f"finetune {finetune.name!r}: the {empty} split has no example with a benchmark")

    torch, tokenizer, lm, device = _load_base(spec, base, device)
    torch.manual_seed(seed)
    model = _wrap_lora(lm, finetune)
    scorer = FirstTokenScorer(torch, tokenizer, device)
    for example in train + valid + test:  # fail before training on any option-token problem
        scorer.option_ids(example.option_tokens)

    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    eval_batch = max(finetune.batch_size, int(base.options.get("batch_size", 8)))
    valid_before = scorer.mean_js(model, valid, eval_batch)
    test_before = scorer.mean_js(model, test, eval_batch) if test else None
    emit("baseline", {"valid_js": valid_before, "test_js": test_before})
    best_js, best_epoch = valid_before, 0
    best_state = _clone(get_peft_model_state_dict(model))

    trainable = [p for p in model.parameters() if p.requires_grad]
    options = finetune.options
    optimiser = torch.optim.AdamW(trainable, lr=finetune.learning_rate,
                                  weight_decay=float(options.get("weight_decay", 0.0)))
    warmup = int(options.get("warmup", 0) or 0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0)
    order = torch.Generator().manual_seed(seed)
    epochs: list[EpochMetrics] = []
    steps = 0
    for epoch in range(1, finetune.epochs + 1):
        if max_steps is not None and steps >= max_steps:
            break
        model.train()
        permutation = torch.randperm(len(train), generator=order).tolist()
        losses: list[float] = []
        for start in range(0, len(permutation), finetune.batch_size):
            if max_steps is not None and steps >= max_steps:
                break
            batch = [train[i] for i in permutation[start:start + finetune.batch_size]]
            loss = scorer.loss(model, batch, finetune.loss).mean()
            if not torch.isfinite(loss):
                raise FinetuneError(f"finetune {finetune.name!r}: the {finetune.loss} loss became {float(loss)} at step {steps + 1}; "
                                    "lower the learning rate")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            steps += 1
        valid_js = scorer.mean_js(model, valid, eval_batch)
        metrics = EpochMetrics(epoch, len(losses), float(sum(losses) / len(losses)) if losses else math.nan, valid_js)
        epochs.append(metrics)
        emit("epoch", {"epoch": metrics})
        if valid_js < best_js:
            best_js, best_epoch = valid_js, epoch
            best_state = _clone(get_peft_model_state_dict(model))

    set_peft_model_state_dict(model, best_state)
    model.eval()
    test_after = scorer.mean_js(model, test, eval_batch) if test else None
    pilot = max_steps is not None or limit_examples is not None
    default_root = default_pilot_root if pilot else default_finetune_root
    root = Path(out_dir) if out_dir is not None else Path(default_root(spec.root, spec.study.name))
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
    )
    _save(model, spec, finetune, base, result, limit_examples=limit_examples, max_steps=max_steps)
    emit("saved", {"result": result})
    return result


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
    import warnings

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
