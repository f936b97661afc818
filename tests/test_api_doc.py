"""docs/api.md is a notebook that runs: every python cell is executed in order, in one namespace,
and what it prints must be the text cell after it."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"
CELL = re.compile(r"```python\n(.*?)```\n(?:\s*```text\n(.*?)```)?", re.DOTALL)


def cells() -> list[tuple[str, str | None]]:
    return [(code, printed) for code, printed in CELL.findall(DOC.read_text(encoding="utf-8"))]


def test_the_api_page_has_cells_with_outputs():
    found = cells()
    assert len(found) >= 4 and all(printed for _, printed in found)


def test_the_api_page_runs_and_prints_what_it_says(tmp_path, monkeypatch):
    if not (ROOT / "specs" / "kgss_paper_replay.sil").is_file():
        pytest.skip("the KGSS replay spec is not shipped in this checkout")
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    for code, printed in cells():
        code = code.replace('"runs/api-example"', repr(str(tmp_path / "api-example")))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - the doc's own example
        assert out.getvalue() == (printed or ""), code


def test_answers_as_a_frame_needs_pandas_and_says_so(tmp_path):
    import silspec

    if not (ROOT / "specs" / "kgss_paper_replay.sil").is_file():
        pytest.skip("the KGSS replay spec is not shipped in this checkout")
    spec = silspec.load_spec(ROOT / "specs" / "kgss_paper_replay.sil")
    silspec.run_plan(silspec.make_plan(spec, limit=2), tmp_path, spec=spec)
    run = silspec.open_run(tmp_path)
    assert len(run.answers()) == 4
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="needs pandas"):
            run.answers(frame=True)
    else:
        frame = run.answers(frame=True)
        assert len(frame) == 4 and "request_id" in frame.columns


def test_the_package_reexports_the_api():
    import silspec
    import silspec.api

    assert set(silspec.api.__all__) <= set(dir(silspec))
    for name in silspec.api.__all__:
        assert getattr(silspec, name) is getattr(silspec.api, name)


def test_open_run_refuses_a_folder_without_a_store(tmp_path):
    import silspec

    with pytest.raises(silspec.ReportError, match="not a silspec run directory"):
        silspec.open_run(tmp_path)
