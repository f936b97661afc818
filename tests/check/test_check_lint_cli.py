"""`silspec lint`: exit codes, output formats, several files, the lock check, internal errors."""

from __future__ import annotations

import json

import pytest

from silspec.cli.main import main

from .golden import FIXTURES

VALID = str(FIXTURES / "valid" / "kgss_like.sil")
INVALID = str(FIXTURES / "invalid" / "unknown_key.sil")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_clean_spec_exits_0(capsys):
    assert main(["lint", VALID]) == 0
    assert "ok (0 error(s), 0 warning(s))" in capsys.readouterr().out  # its missing share closes the gap: SIL415 info


def test_errors_exit_1_with_location_caret_and_hint(capsys):
    assert main(["lint", VALID, INVALID]) == 1
    out = capsys.readouterr().out
    assert "unknown_key.sil:12:42: error[SIL102]: unknown key `temprature` in `model`" in out
    assert "^^^^" in out and "hint: did you mean `temperature`?" in out
    assert "kgss_like.sil: ok" in out


def test_missing_file_is_a_usage_error():
    assert main(["lint", "does/not/exist.sil"]) == 2


def test_json_format(capsys):
    assert main(["lint", "--format", "json", VALID, INVALID]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert [p["ok"] for p in payload] == [True, False]
    assert {"code": "SIL102", "line": 12, "col": 42}.items() <= payload[1]["diagnostics"][-1].items()


def test_github_format(capsys):
    assert main(["lint", "--format", "github", INVALID]) == 1
    assert "::error file=" in capsys.readouterr().out


def test_set_and_frozen_are_accepted(capsys):
    assert main(["lint", "--frozen", "--set", "model.gpt52.temperature=2.5", VALID]) == 1
    assert "SIL203" in capsys.readouterr().out


def test_frozen_without_a_lock_is_an_error_through_lint_alone(capsys):
    """lint calls the lock check itself (it once worked only after cli/freeze.py registered it)."""
    assert main(["lint", VALID]) == 0
    capsys.readouterr()
    assert main(["lint", "--frozen", "--format", "json", VALID]) == 1
    out = capsys.readouterr().out
    assert '"SIL961"' in out and "no lock file" in out


def test_shipped_specs_lint_without_errors(capsys):
    import glob

    specs = sorted(glob.glob(str(FIXTURES.parent.parent.parent / "specs" / "*.sil")))
    if not specs:
        pytest.skip("no shipped specs yet")
    assert main(["lint", "-q", *specs]) == 0, capsys.readouterr().out


def _copy_valid(tmp_path):
    import shutil

    tree = tmp_path / "tree"
    shutil.copytree(FIXTURES / "valid", tree)
    (tree / "silspec.toml").write_text("", encoding="utf-8")
    return tree / "kgss_like.sil"


def test_an_unreadable_lock_is_sil962_and_an_error_with_frozen(tmp_path, capsys):
    spec = _copy_valid(tmp_path)
    spec.with_name(spec.name + ".lock").write_text("{not json", encoding="utf-8")
    assert main(["lint", "--format", "json", str(spec)]) == 0
    found = json.loads(capsys.readouterr().out)[0]["diagnostics"]
    assert [(d["code"], d["severity"]) for d in found if d["code"].startswith("SIL96")] == [("SIL962", "warning")]
    assert main(["lint", "--frozen", "--format", "json", str(spec)]) == 1
    found = json.loads(capsys.readouterr().out)[0]["diagnostics"]
    assert [(d["code"], d["severity"]) for d in found if d["code"].startswith("SIL96")] == [("SIL962", "error")]


def test_a_lock_that_cannot_be_compared_is_sil963(tmp_path, capsys, monkeypatch):
    from silspec.prereg import lock_check

    spec = _copy_valid(tmp_path)
    assert main(["freeze", str(spec)]) == 0

    def broken(spec):
        raise RuntimeError("the plan does not compile")

    monkeypatch.setattr(lock_check, "compute_lock", broken)
    capsys.readouterr()
    assert main(["lint", "--frozen", "--format", "json", str(spec)]) == 1
    found = json.loads(capsys.readouterr().out)[0]["diagnostics"]
    sil963 = [d for d in found if d["code"] == "SIL963"]
    assert len(sil963) == 1 and "the plan does not compile" in sil963[0]["message"]


def test_a_crashing_rule_is_sil000_not_a_traceback(monkeypatch, capsys):
    import silspec.check

    def crash(spec, ctx):
        raise KeyError("boom")

    monkeypatch.setattr(silspec.check, "RULES", (crash,))
    assert main(["lint", "--format", "json", VALID]) == 1
    found = json.loads(capsys.readouterr().out)[0]["diagnostics"]
    assert [(d["code"], d["line"]) for d in found if d["code"] == "SIL000"] == [("SIL000", 1)]
    assert "KeyError" in found[0]["message"] and "bug in silspec" in found[0]["hint"]
