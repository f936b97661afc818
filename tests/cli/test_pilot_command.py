"""`silspec pilot` end to end on the KGSS replay (the paper's recorded answers), and the main run
it gates (`silspec run --only-passed`): verdicts, what is asked, what is refused."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "kgss_paper_replay.sil"
pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason="the KGSS replay spec is not shipped here")

PILOT = "pilot { personas = 30  js_max = 0.15  valid_min = 0.8  modal_max = 0.95 }\n"
EXPECTED = {  # from the recorded answers of personas P001-P030 (see the comments in the tests)
    ("baseline", "CONFINAN"): "go",
    ("baseline", "CONLEGIS"): "no-go",  # every answer 3
    ("baseline", "KRPROUD"): "no-go",  # every answer 2
    ("baseline", "NORTHWHO"): "inconclusive",
    ("baseline", "UNIFI"): "no-go",  # every answer 2, the paper's "100 % on one option"
    ("baseline", "PARTYLR"): "go",
    ("indigenous", "CONFINAN"): "no-go",  # CLOVA's HTTP 429s: 12 of 30 valid
    ("indigenous", "CONLEGIS"): "no-go",
    ("indigenous", "KRPROUD"): "no-go",
    ("indigenous", "NORTHWHO"): "inconclusive",
    ("indigenous", "UNIFI"): "no-go",
    ("indigenous", "PARTYLR"): "inconclusive",
}


@pytest.fixture()
def project(tmp_path):
    for part in ("specs", "data", "templates"):
        shutil.copytree(ROOT / part, tmp_path / part)
    shutil.copy(ROOT / "silspec.toml", tmp_path / "silspec.toml")
    spec = tmp_path / "specs" / "kgss_paper_replay.sil"
    (spec.parent / "kgss_paper_replay.sil.lock").unlink(missing_ok=True)
    spec.write_text(spec.read_text(encoding="utf-8") + "\n" + PILOT, encoding="utf-8")
    return spec


def _pilot(spec: Path, capsys, *extra: str) -> tuple[dict, str]:
    from silspec.cli.main import main

    run_dir = spec.parent.parent / "runs" / "kgss_paper_replay"
    assert main(["pilot", str(spec), "--quiet", *extra]) == 0
    out = capsys.readouterr().out
    return json.loads((run_dir / "pilot.json").read_text(encoding="utf-8")), out


def test_the_pilot_judges_every_item_by_the_declared_criteria(project, capsys):
    import silspec

    data, out = _pilot(project, capsys)
    verdicts = {(v["condition"], v["label"]): v for v in data["verdicts"]}
    assert {k: v["verdict"] for k, v in verdicts.items()} == EXPECTED
    assert data["criteria"]["personas"] == 30 and data["criteria"]["js_max"] == 0.15
    # the pilot asked 30 personas x 6 items x 2 conditions, nothing more
    run = silspec.open_run(project.parent.parent / "runs" / "kgss_paper_replay")
    answers = run.answers()
    assert len(answers) == 360 and {a.persona for a in answers} == {f"P{i:03d}" for i in range(1, 31)}
    # the numbers each verdict read, recomputed by hand from the stored answers
    for (condition, code), v in verdicts.items():
        cell = [a for a in answers if a.condition == condition and a.item.endswith("." + code)]
        valid = [a.parsed_code for a in cell if a.outcome == "answered"]
        assert v["planned"] == 30 and v["answered"] == len(valid)
        assert v["valid_rate"] == pytest.approx(len(valid) / 30)
        mode, count = Counter(valid).most_common(1)[0]
        assert v["modal_share"] == pytest.approx(count / len(valid))
        bench = run.results().benchmarks
        shares = next(b for b in bench if b.item.endswith("." + code)).proportions
        codes = next(b for b in bench if b.item.endswith("." + code)).codes
        sim = np.array([valid.count(c) for c in codes], dtype=float) / len(valid)
        assert v["js"] == pytest.approx(jensenshannon(sim, shares) ** 2, abs=1e-12)  # ln JS divergence
        assert v["js_low"] <= v["js"] + 1e-12 and v["js_high"] >= v["js"] - 1e-12
    # UNIFI of GPT-5.2 collapsed onto one code: the verdict says so, and so does the table
    assert any("modal share 1.00 > modal_max 0.95" in r for r in verdicts[("baseline", "UNIFI")]["reasons"])
    assert "UNIFI" in out and "no-go" in out and "95% CI" in out
    assert "2 go, 7 no-go, 3 inconclusive of 12" in out
    # the cost of the full run it gates: 600 requests per condition, 420 still to ask, 140 gated
    costs = {c["condition"]: c for c in data["costs"]}
    assert (costs["baseline"]["requests"], costs["baseline"]["to_ask"], costs["baseline"]["gated_to_ask"]) == (600, 420, 140)
    assert costs["indigenous"]["gated_to_ask"] == 0


def test_the_gated_run_asks_only_the_passed_items_and_names_the_rest(project, capsys):
    import silspec
    from silspec.cli.main import main

    _pilot(project, capsys)
    run_dir = project.parent.parent / "runs" / "kgss_paper_replay"
    assert main(["run", str(project), "--only-passed", str(run_dir), "--quiet", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "asking 2 condition x item cells the pilot called go (200 requests); 10 left out" in out
    for (condition, code), verdict in EXPECTED.items():
        if verdict != "go":
            assert f"left out {condition} {code}: {verdict}" in out
    per_cell = Counter((a.condition, a.item.rpartition(".")[2]) for a in silspec.open_run(run_dir).answers())
    assert per_cell == {cell: 100 if verdict == "go" else 30 for cell, verdict in EXPECTED.items()}
    # the pilot's 30 answers of the go items were reused, not asked again: 140 new per go item pair
    report = silspec.open_run(run_dir).report("md")
    assert "did not pass 10 cells" in report


@pytest.mark.parametrize("override, why", [
    ("pilot.js_max=0.2", "other criteria"),
    ("model.gpt52.temperature=0.5", "another spec"),
])
def test_a_pilot_of_another_spec_or_criteria_gates_nothing(project, capsys, override, why):
    from silspec.cli.main import main

    _pilot(project, capsys)
    run_dir = project.parent.parent / "runs" / "kgss_paper_replay"
    code = main(["run", str(project), "--only-passed", str(run_dir), "--set", override, "--dry-run"])
    captured = capsys.readouterr()
    assert code == 2 and why in captured.err and "rerun `silspec pilot`" in captured.err


def test_no_pilot_block_and_no_pilot_file_are_usage_errors(tmp_path, capsys):
    from silspec.cli.main import main

    assert main(["pilot", str(SPEC), "--out", str(tmp_path / "p"), "--quiet"]) == 2
    assert "declares no `pilot" in capsys.readouterr().err
    assert main(["run", str(SPEC), "--only-passed", str(tmp_path), "--dry-run"]) == 2
    assert "holds no pilot verdicts" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["{not json", '{"format": "silspec-pilot/1", "verdicts": 3}', '["a list"]'])
def test_a_damaged_pilot_file_gates_nothing_and_the_report_says_so(project, capsys, damage):
    import silspec
    from silspec.cli.main import main

    _pilot(project, capsys)
    run_dir = project.parent.parent / "runs" / "kgss_paper_replay"
    (run_dir / "pilot.json").write_text(damage, encoding="utf-8")
    assert main(["run", str(project), "--only-passed", str(run_dir), "--dry-run"]) == 2
    assert "--only-passed" in capsys.readouterr().err
    warnings = silspec.open_run(run_dir).results().warnings
    assert any(w.kind == "pilot_unreadable" for w in warnings)
