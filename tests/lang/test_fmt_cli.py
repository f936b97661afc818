"""`silspec fmt`: in-place rewrite, --check / --diff for CI, stdin, syntax errors, exit codes."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from silspec.cli.main import main

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "fmt"
MESSY = (GOLDEN / "layout.in.sil").read_text(encoding="utf-8")
CANONICAL = (GOLDEN / "layout.out.sil").read_text(encoding="utf-8")
BROKEN = "silspec 1\nstudy s {\n  seed = = 1\n}\n"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rewrites_in_place(tmp_path, capsys):
    path = write(tmp_path, "messy.sil", MESSY)
    assert main(["fmt", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == CANONICAL
    assert f"reformatted {path}" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["messy.sil"]  # no temporary file left behind


def test_canonical_file_is_not_rewritten(tmp_path):
    path = write(tmp_path, "ok.sil", CANONICAL)
    os.utime(path, (1_000_000, 1_000_000))
    assert main(["fmt", str(path)]) == 0
    assert path.stat().st_mtime == 1_000_000


def test_check_exits_1_with_a_diff_and_changes_nothing(tmp_path, capsys):
    path = write(tmp_path, "messy.sil", MESSY)
    assert main(["fmt", "--check", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"--- {path}\n+++ {path} (formatted)\n@@ ")
    assert '+  title = "Layout: juxtaposed entries, alignment, blank lines"\n' in out
    assert path.read_text(encoding="utf-8") == MESSY


def test_check_exits_0_on_canonical_files(tmp_path, capsys):
    paths = [str(write(tmp_path, f"ok{i}.sil", CANONICAL)) for i in range(2)]
    assert main(["fmt", "--check", *paths]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "0 file(s) would be reformatted, 2 unchanged" in captured.err


def test_check_fails_if_any_file_is_not_canonical(tmp_path):
    ok, messy = write(tmp_path, "ok.sil", CANONICAL), write(tmp_path, "messy.sil", MESSY)
    assert main(["fmt", "--check", str(ok), str(messy)]) == 1


def test_diff_shows_changes_without_writing_and_exits_0(tmp_path, capsys):
    path = write(tmp_path, "messy.sil", MESSY)
    assert main(["fmt", "--diff", str(path)]) == 0
    assert "+++ " in capsys.readouterr().out and path.read_text(encoding="utf-8") == MESSY


def test_stdin_to_stdout(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MESSY.encode("utf-8")), encoding="utf-8"))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == CANONICAL


def test_stdin_check_reports_without_printing_the_text(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(MESSY))
    assert main(["fmt", "--check", "-"]) == 1
    assert capsys.readouterr().out.startswith("--- <stdin>\n+++ <stdin> (formatted)\n")


def test_syntax_error_leaves_file_byte_identical_and_exits_1(tmp_path, capsys):
    path = tmp_path / "bad.sil"
    path.write_bytes(BROKEN.encode("utf-8"))
    good = write(tmp_path, "good.sil", MESSY)
    assert main(["fmt", str(path), str(good)]) == 1
    assert path.read_bytes() == BROKEN.encode("utf-8")
    assert good.read_text(encoding="utf-8") == CANONICAL  # the other files are still formatted
    err = capsys.readouterr().err
    assert f"{path}:3:10: error[SIL001]: unexpected `=`" in err and "not formatted (syntax errors)" in err


def test_syntax_error_on_stdin_prints_no_text(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(BROKEN))
    assert main(["fmt", "-"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "<stdin>:3:10: error[SIL001]" in captured.err


def test_missing_file_is_a_usage_error_and_nothing_is_written(tmp_path, capsys):
    path = write(tmp_path, "messy.sil", MESSY)
    assert main(["fmt", str(path), str(tmp_path / "absent.sil")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == MESSY


def test_no_files_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["fmt"])
    assert exc.value.code == 2


def test_non_utf8_file_is_reported_not_raised(tmp_path, capsys):
    path = tmp_path / "latin1.sil"
    path.write_bytes('silspec 1\nx = "caf\xe9"\n'.encode("latin-1"))
    assert main(["fmt", str(path)]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_byte_order_mark_and_crlf_are_normalised(tmp_path):
    path = tmp_path / "bom.sil"
    path.write_bytes(("\ufeff" + CANONICAL.replace("\n", "\r\n")).encode("utf-8"))
    assert main(["fmt", "--check", str(path)]) == 1
    assert main(["fmt", str(path)]) == 0
    assert path.read_bytes() == CANONICAL.encode("utf-8")


def test_file_mode_is_kept(tmp_path):
    path = write(tmp_path, "messy.sil", MESSY)
    path.chmod(0o640)
    assert main(["fmt", str(path)]) == 0
    assert path.stat().st_mode & 0o777 == 0o640


def test_symlinked_spec_rewrites_its_target_and_stays_a_link(tmp_path):
    target = write(tmp_path, "target.sil", MESSY)
    link = tmp_path / "link.sil"
    link.symlink_to(target)
    assert main(["fmt", str(link)]) == 0
    assert link.is_symlink() and target.read_text(encoding="utf-8") == CANONICAL


def test_directory_is_a_usage_error(tmp_path, capsys):
    assert main(["fmt", str(tmp_path)]) == 2
    assert "not a file" in capsys.readouterr().err


def test_check_as_github_annotations_points_at_the_first_non_canonical_line(tmp_path, capsys):
    path = write(tmp_path, "x.sil", 'silspec 1\n\nstudy x {\n  seed=1\n}\n')
    assert main(["fmt", "--check", "--format", "github", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"::error file={path},line=4,title=silspec fmt::")
    assert "---" not in out  # annotations replace the diff


def test_check_as_json_gives_one_record_per_file(tmp_path, capsys):
    import json

    canonical = write(tmp_path, "ok.sil", 'silspec 1\n\nstudy x {\n  seed = 1\n}\n')
    messy = write(tmp_path, "messy.sil", 'silspec 1\nstudy x { seed=1 }\n')
    broken = write(tmp_path, "broken.sil", "silspec 1\nstudy x {\n")
    assert main(["fmt", "--check", "--format", "json", str(canonical), str(messy), str(broken)]) == 1
    records = {Path(r["file"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert records["ok.sil"]["status"] == "canonical"
    assert records["messy.sil"]["status"] == "not_canonical" and records["messy.sil"]["first_line"] == 2
    assert records["broken.sil"]["status"] == "error"
    assert records["broken.sil"]["diagnostics"][0]["code"].startswith("SIL")


def test_check_diff_never_prints_a_literal_api_key(tmp_path, capsys):
    path = write(tmp_path, "k.sil", 'silspec 1\nmodel m { backend = openai  name = "x"  api_key = "sk-secret-123" }\n')
    assert main(["fmt", "--check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "sk-secret-123" not in out
    assert 'api_key = "***"' in out
