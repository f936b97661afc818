"""`silspec pilot` on a real model: SmolLM2-135M (CPU) answering the GSS example, then the run
it gates. Slow tier: the model loads twice (pilot, gated run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.smollm2_project import smollm2_project

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "gss_confidence.sil"

pytestmark = pytest.mark.slow


@pytest.fixture()
def project(tmp_path):
    smollm2_project(tmp_path)
    spec = tmp_path / "examples" / "gss_confidence.sil"
    spec.write_text(spec.read_text(encoding="utf-8")
                    + "\npilot { personas = 10  js_max = 0.1  valid_min = 0.8  modal_max = 0.95 }\n", encoding="utf-8")
    return spec


def test_a_smollm2_pilot_judges_every_item_and_gates_the_run(project, capsys):
    import silspec
    from silspec.cli.main import main

    run_dir = project.parent.parent / "runs" / "gss_confidence"
    assert main(["pilot", str(project), "--condition", "option_probs", "--quiet"]) == 0
    data = json.loads((run_dir / "pilot.json").read_text(encoding="utf-8"))
    verdicts = data["verdicts"]
    assert {v["label"] for v in verdicts} == {"CONFINAN", "CONLEGIS", "POLVIEWS"}
    for v in verdicts:  # option probabilities: every request answers; the verdict read a real interval
        assert v["planned"] == 10 and v["answered"] == 10 and v["verdict"] in ("go", "no-go", "inconclusive")
        assert v["js_low"] <= v["js"] <= v["js_high"]
        if v["verdict"] == "go":
            assert v["js_high"] < 0.1
    passed = [v["item"] for v in verdicts if v["verdict"] == "go"]
    capsys.readouterr()
    code = main(["run", str(project), "--condition", "option_probs", "--only-passed", str(run_dir), "--quiet", "--no-report"])
    assert code == 0
    assert f"{3 - len(passed)} left out" in capsys.readouterr().out
    asked = {(a.item, a.persona) for a in silspec.open_run(run_dir).answers() if a.condition == "option_probs"}
    for item in ("gss2024.CONFINAN", "gss2024.CONLEGIS", "gss2024.POLVIEWS"):
        assert len({p for i, p in asked if i == item}) == (20 if item in passed else 10)
