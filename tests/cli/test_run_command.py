"""`silspec run` is a thin call of the Python API: the command and ``silspec.run_spec`` leave the
same answers, and the command's report is the API's report."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "kgss_paper_replay.sil"
pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason="the KGSS replay spec is not shipped here")


def test_the_command_and_the_api_store_the_same_answers(tmp_path, capsys):
    import silspec
    from silspec.cli.main import main

    assert main(["run", str(SPEC), "--limit", "6", "--out", str(tmp_path / "cli"), "--quiet", "--no-report"]) == 0
    summary = silspec.run_spec(SPEC, out=tmp_path / "api", limit=6)
    assert summary.exit_code == 0 and summary.total == 12
    by_cli = {(a.request_id, a.outcome, a.parsed_code) for a in silspec.open_run(tmp_path / "cli").answers()}
    by_api = {(a.request_id, a.outcome, a.parsed_code) for a in silspec.open_run(tmp_path / "api").answers()}
    assert by_cli == by_api and len(by_cli) == 12


def test_the_report_command_prints_what_the_api_reports(tmp_path, capsys):
    import silspec
    from silspec.cli.main import main

    silspec.run_spec(SPEC, out=tmp_path, limit=6)
    capsys.readouterr()
    assert main(["report", str(tmp_path), "--format", "md"]) == 0
    assert capsys.readouterr().out == silspec.open_run(tmp_path).report("md").rstrip("\n") + "\n"


def test_verify_without_a_run_directory_is_a_usage_error(tmp_path, capsys):
    from silspec.cli.main import main

    assert main(["verify", str(tmp_path)]) == 2
    assert "not a silspec run directory" in capsys.readouterr().err
