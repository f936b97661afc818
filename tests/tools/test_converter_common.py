"""tools/_common.py: the CSV dialect and the --check comparison every data converter shares."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))

import _common  # noqa: E402


def test_write_csv_uses_lf_line_ends_and_creates_folders(tmp_path):
    target = tmp_path / "deep" / "table.csv"
    _common.write_csv(target, ("item", "value"), [["Q1", "1.5"], ["Q,2", 3]])
    assert target.read_bytes() == b'item,value\nQ1,1.5\n"Q,2",3\n'


def test_compare_trees_is_up_to_date_for_identical_trees(tmp_path, capsys):
    for tree in ("new", "old"):
        _common.write_csv(tmp_path / tree / "a.csv", ("x",), [[1]])
    assert _common.compare_trees(tmp_path / "new", tmp_path / "old") == 0
    assert capsys.readouterr().out == "up to date\n"


def test_compare_trees_names_changed_and_missing_files(tmp_path, capsys):
    _common.write_csv(tmp_path / "new" / "a.csv", ("x",), [[1]])
    _common.write_csv(tmp_path / "new" / "sub" / "b.csv", ("x",), [[2]])
    _common.write_csv(tmp_path / "old" / "a.csv", ("x",), [[9]])
    assert _common.compare_trees(tmp_path / "new", tmp_path / "old") == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"stale: {tmp_path / 'old' / 'a.csv'}",
        f"stale: {tmp_path / 'old' / 'sub' / 'b.csv'}",
        "2 file(s) differ: rerun without --check",
    ]


def test_run_converter_check_converts_into_a_temporary_folder(tmp_path, capsys):
    shipped = tmp_path / "shipped"
    written: list[Path] = []

    def convert(source: Path, out: Path) -> None:
        written.append(out)
        _common.write_csv(out / "t.csv", ("source",), [[source.name]])

    def source() -> Path:
        return tmp_path / "src"

    assert _common.run_converter([], "demo", shipped, source, convert) == 0
    assert (shipped / "t.csv").read_text() == "source\nsrc\n"
    assert _common.run_converter(["--check"], "demo", shipped, source, convert) == 0
    assert written[-1] != shipped and not written[-1].exists()  # the temporary folder is gone
    assert _common.run_converter(["--check", "--source", str(tmp_path / "other")], "demo", shipped, source, convert) == 1
    assert "1 file(s) differ" in capsys.readouterr().out


def test_shared_data_root_missing_folder_says_pass_source():
    with pytest.raises(SystemExit, match="cannot find shared/data/no-such-dataset-xyz; pass --source"):
        _common.shared_data_root("no-such-dataset-xyz")


@pytest.mark.parametrize("tool", ["convert_gss", "convert_kgss", "convert_wvs", "convert_goqa"])
def test_each_converter_still_runs_as_a_script(tool):
    """`--help` needs no data: it proves the script imports _common when run as `python tools/X.py`."""
    done = subprocess.run([sys.executable, str(TOOLS / f"{tool}.py"), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--check" in done.stdout and "--source" in done.stdout
