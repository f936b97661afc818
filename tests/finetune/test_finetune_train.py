"""LoRA training on the tiny model: loss goes down, the adapter is saved, the hf backend loads it."""

from __future__ import annotations

import asyncio
import json

import attrs
import pytest

from silspec.finetune.train import FirstTokenScorer, train_finetune
from tests.finetune.conftest import load


@pytest.fixture(scope="module")
def trained(tiny_project):
    """One training run into the default folder (runs/<study>/finetune), as `silspec run` expects."""
    spec = load(tiny_project)
    return spec, train_finetune(spec, "align")


def test_training_lowers_valid_js_and_reports_every_epoch(trained):
    _, result = trained
    assert [e.epoch for e in result.epochs] == [1, 2, 3]
    assert result.steps == 6  # 8 examples, batch 4, 3 epochs
    assert result.valid_js_after < result.valid_js_before
    assert result.best_epoch >= 1
    assert result.valid_js_after == min(e.valid_js for e in result.epochs)


def test_saved_files(trained):
    spec, result = trained
    folder = tiny_root(spec) / "runs" / "tiny_ft" / "finetune" / "align"
    assert result.out_dir == str(folder)
    assert (folder / "adapter" / "adapter_config.json").is_file()
    meta = json.loads((folder / "adapter" / "silspec.json").read_text())
    assert meta["config_hash"] == spec.models["tiny_ft"].options["adapter"]["config_hash"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["valid_js_before"] == pytest.approx(result.valid_js_before)
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3]
    assert metrics["examples"]["train"] == {"examples": 8, "cells": 9, "without_benchmark": 1}
    assert metrics["config"]["lora"] == {"rank": 4, "alpha": 16, "dropout": 0.0, "targets": []}
    assert metrics["spec_hash"] and metrics["duration_s"] > 0
    assert json.loads((folder / "finetune.json").read_text()) == metrics["config"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_the_adapter_lowers_the_training_loss_on_a_fixed_batch(trained):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec, result = trained
    from silspec.finetune.examples import build_examples

    batch = list(build_examples(spec, "align")["train"].examples)
    folder = spec.models["tiny"].external.path
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    tokenizer.padding_side = "left"
    base = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    scorer = FirstTokenScorer(torch, tokenizer, "cpu")
    with torch.no_grad():
        before = float(scorer.loss(base, batch, "kl").mean())
        adapted = PeftModel.from_pretrained(base, result.adapter_dir).eval()
        after = float(scorer.loss(adapted, batch, "kl").mean())
    assert after < before


def test_training_is_deterministic_with_a_seed(tiny_project, tmp_path):
    spec = load(tiny_project)
    one = train_finetune(spec, "align", out_dir=tmp_path / "one", max_steps=2)
    two = train_finetune(spec, "align", out_dir=tmp_path / "two", max_steps=2)
    assert one.steps == two.steps == 2
    assert [e.train_loss for e in one.epochs] == [e.train_loss for e in two.epochs]
    assert one.valid_js_after == two.valid_js_after


@pytest.mark.parametrize("loss", ["ce", "js", "wasserstein"])
def test_ablation_losses_train(tiny_project, tmp_path, loss):
    spec = load(tiny_project, (f"finetune.align.loss={loss}",))
    result = train_finetune(spec, "align", out_dir=tmp_path, max_steps=2, limit_examples=4)
    assert result.steps == 2 and result.examples["train"]["examples"] == 4
    assert all(e.train_loss == e.train_loss for e in result.epochs)  # finite, not NaN


def test_rerun_overwrites_in_place(tiny_project, tmp_path):
    spec = load(tiny_project)
    train_finetune(spec, "align", out_dir=tmp_path, max_steps=1)
    (tmp_path / "align" / "stale.txt").write_text("old")
    train_finetune(spec, "align", out_dir=tmp_path, max_steps=1)
    assert not (tmp_path / "align" / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["align"]


# ------------------------------------------------------------------------ the hf backend


def _first_cell_requests(spec):
    from silspec.plan.compile import compile_plan

    plan = compile_plan(spec)
    zs = next(r for r in plan.requests if r.condition == "zs")
    ft = next(r for r in plan.requests if r.condition == "ft" and (r.item, r.persona) == (zs.item, zs.persona))
    return plan.header, zs, ft


def _answer(model, request):
    from silspec.run.backends.hf import HFBackend

    async def go():
        backend = HFBackend(model, env={})
        try:
            return await backend.answer(request)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_hf_backend_loads_the_adapter_and_answers_differently(trained):
    spec, _ = trained
    header, zs, ft = _first_cell_requests(spec)
    assert zs.id != ft.id and zs.messages == ft.messages
    base_answer = _answer(header.models["tiny"], zs)
    ft_answer = _answer(header.models["tiny_ft"], ft)
    assert sum(ft_answer.option_probs.values()) == pytest.approx(1.0)
    difference = max(abs(base_answer.option_probs[c] - ft_answer.option_probs[c]) for c in zs.option_codes)
    assert difference > 1e-3
    assert ft_answer.provider_model.startswith(header.models["tiny_ft"].model_id + "@")


def test_missing_adapter_says_which_command_trains_it(trained, tmp_path):
    from silspec.run.backends.base import PermanentError

    spec, _ = trained
    header, _, ft = _first_cell_requests(spec)
    model = header.models["tiny_ft"]
    adapter = {**model.options["adapter"], "dir": str(tmp_path / "nowhere")}
    with pytest.raises(PermanentError, match=r"run `silspec finetune SPEC --name align` first"):
        _answer(attrs.evolve(model, options={**model.options, "adapter": adapter}), ft)


def test_an_adapter_trained_with_another_config_is_refused(trained):
    from silspec.run.backends.base import PermanentError

    spec, _ = trained
    header, _, ft = _first_cell_requests(spec)
    model = header.models["tiny_ft"]
    adapter = {**model.options["adapter"], "config_hash": "0" * 64}
    with pytest.raises(PermanentError, match="another configuration"):
        _answer(attrs.evolve(model, options={**model.options, "adapter": adapter}), ft)


def tiny_root(spec):
    from pathlib import Path

    return Path(spec.root)


def test_base_and_adapter_models_load_concurrently(trained):
    """Two hf models of one run load in two worker threads at once (transformers' loading is
    not thread-safe: the backend serialises it)."""
    from silspec.run.backends.hf import HFBackend

    spec, _ = trained
    header, zs, ft = _first_cell_requests(spec)

    async def go():
        backends = [HFBackend(header.models["tiny"], env={}), HFBackend(header.models["tiny_ft"], env={})]
        try:
            return await asyncio.gather(backends[0].answer(zs), backends[1].answer(ft))
        finally:
            for backend in backends:
                await backend.aclose()

    base_answer, ft_answer = asyncio.run(go())
    assert base_answer.option_probs != ft_answer.option_probs


def test_a_pilot_never_lands_where_adapter_models_look(tiny_project):
    from pathlib import Path

    from silspec.spec.finetune import adapter_dir, default_pilot_root

    spec = load(tiny_project)
    result = train_finetune(spec, "align", max_steps=1)
    assert Path(result.out_dir) == Path(default_pilot_root(spec.root, spec.study.name)) / "align"
    assert Path(result.adapter_dir) != Path(adapter_dir(spec.root, spec.study.name, "align"))
