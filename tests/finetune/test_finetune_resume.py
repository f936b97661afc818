"""Checkpoint after every epoch; a run interrupted after an epoch resumes to the same adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file

from silspec.finetune.train import checkpoint_path, train_finetune
from tests.finetune.conftest import load as load_spec

# LoRA dropout on: resuming must restore the dropout RNG too, not only the data order.
DROPOUT = ("finetune.align.lora.dropout=0.1",)


def load(path):
    return load_spec(path, DROPOUT)


class Interrupt(KeyboardInterrupt):
    pass


def _stop_after_epoch(epoch: int, seen: list):
    def progress(event, payload):
        seen.append((event, payload))
        if event == "checkpoint" and payload["epoch"] == epoch:
            raise Interrupt

    return progress


def _weights(result) -> dict:
    return load_file(str(Path(result.adapter_dir) / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def uninterrupted(tiny_project, tmp_path_factory):
    spec = load(tiny_project)
    return train_finetune(spec, "align", out_dir=tmp_path_factory.mktemp("whole"))


def test_an_interrupted_run_resumes_to_the_uninterrupted_adapter(tiny_project, tmp_path, uninterrupted):
    spec = load(tiny_project)
    seen: list = []
    with pytest.raises(Interrupt):
        train_finetune(spec, "align", out_dir=tmp_path, progress=_stop_after_epoch(1, seen))
    checkpoint = checkpoint_path(tmp_path, "align")
    assert checkpoint.is_file() and not (tmp_path / "align").exists()
    assert [p["epoch"].epoch for e, p in seen if e == "epoch"] == [1]

    events: list = []
    resumed = train_finetune(spec, "align", out_dir=tmp_path, progress=lambda e, p: events.append((e, p)))
    assert ("resumed", {"path": str(checkpoint), "epoch": 1, "steps": 2}) in events
    assert [p["epoch"].epoch for e, p in events if e == "epoch"] == [2, 3]  # epoch 1 is not redone
    assert resumed.resumed_from_epoch == 1 and uninterrupted.resumed_from_epoch is None
    assert resumed.steps == uninterrupted.steps == 6
    assert resumed.epochs == uninterrupted.epochs  # loss history and valid JS, exactly
    assert resumed.valid_js_before == uninterrupted.valid_js_before
    assert resumed.best_epoch == uninterrupted.best_epoch
    assert resumed.test_js_after == uninterrupted.test_js_after
    mine, theirs = _weights(resumed), _weights(uninterrupted)
    assert mine.keys() == theirs.keys()
    assert all((mine[k] == theirs[k]).all() for k in mine)
    assert not checkpoint.exists()  # removed once the result is saved


def test_a_checkpoint_of_other_run_settings_is_ignored_and_says_so(tiny_project, tmp_path):
    spec = load(tiny_project)
    with pytest.raises(Interrupt):
        train_finetune(spec, "align", out_dir=tmp_path, max_steps=4, progress=_stop_after_epoch(1, []))
    events: list = []
    result = train_finetune(spec, "align", out_dir=tmp_path, max_steps=3, progress=lambda e, p: events.append((e, p)))
    ignored = [p for e, p in events if e == "checkpoint_ignored"]
    assert len(ignored) == 1 and "max_steps" in ignored[0]["reason"]
    assert not any(e == "resumed" for e, _ in events)
    assert result.steps == 3 and result.resumed_from_epoch is None


def test_a_torn_checkpoint_is_ignored_and_says_so(tiny_project, tmp_path):
    spec = load(tiny_project)
    checkpoint = checkpoint_path(tmp_path, "align")
    checkpoint.write_bytes(b"not a checkpoint")
    events: list = []
    result = train_finetune(spec, "align", out_dir=tmp_path, max_steps=1, progress=lambda e, p: events.append((e, p)))
    assert [p["reason"].split(" ")[0] for e, p in events if e == "checkpoint_ignored"] == ["unreadable"]
    assert result.steps == 1 and not checkpoint.exists()


def test_resume_false_starts_over(tiny_project, tmp_path):
    spec = load(tiny_project)
    with pytest.raises(Interrupt):
        train_finetune(spec, "align", out_dir=tmp_path, progress=_stop_after_epoch(1, []))
    events: list = []
    result = train_finetune(spec, "align", out_dir=tmp_path, resume=False, progress=lambda e, p: events.append((e, p)))
    assert not any(e == "resumed" for e, _ in events)
    assert [e.epoch for e in result.epochs] == [1, 2, 3] and result.resumed_from_epoch is None
