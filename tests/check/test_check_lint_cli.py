"""`silspec lint`: exit codes, output formats, several files, extension hook."""

from __future__ import annotations

import json

import pytest

from silspec.cli import lint
from silspec.cli.main import main
from silspec.lang.diagnostics import Diagnostic

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


def test_extra_checks_hook(monkeypatch, capsys):
    seen = []

    def lock_check(result, args):
        seen.append((result.ok, args.frozen))
        return [Diagnostic("SIL990", "error", "lock file is stale", None, "run silspec freeze")]

    monkeypatch.setattr(lint, "EXTRA_CHECKS", [lock_check])
    assert main(["lint", "--frozen", VALID]) == 1
    assert seen == [(True, True)] and "lock file is stale" in capsys.readouterr().out


def test_shipped_specs_lint_without_errors(capsys):
    import glob

    specs = sorted(glob.glob(str(FIXTURES.parent.parent.parent / "specs" / "*.sil")))
    if not specs:
        pytest.skip("no shipped specs yet")
    assert main(["lint", "-q", *specs]) == 0, capsys.readouterr().out
