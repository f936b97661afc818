"""`silspec report RUN_DIR`: from a run directory alone (bundle + plan header + store)."""

from __future__ import annotations

import json
import shutil

import pytest
from attrs import evolve

from tests.report.kgss_fixture import ITEMS, ROOT, inputs_present, load_records

SPEC = ROOT / "specs" / "kgss_paper_replay.sil"
pytestmark = pytest.mark.skipif(
    not (inputs_present() and SPEC.exists()), reason="KGSS replay spec and inputs not shipped yet"
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    load = pytest.importorskip("silspec.spec.load")
    from silspec.run.store import Store

    loaded = load.load_spec(str(SPEC))
    assert loaded.ok
    spec = loaded.spec
    run = tmp_path_factory.mktemp("run")
    for relative in [spec.path] + [f.path for f in spec.files]:
        target = run / "bundle" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / relative, target)
    (run / "plan_header.json").write_text(json.dumps({"header": {"spec_path": spec.path, "overrides": []}}))
    names = {"gpt52": "baseline", "clova": "indigenous"}
    with Store.open(run, create=True) as store:
        for record in load_records():
            store.record_answer(evolve(record, condition=names[record.condition]))
    return run


def test_json_report_reproduces_the_paper(run_dir, tmp_path):
    from silspec.cli.main import main

    out = tmp_path / "r.json"
    assert main(["report", str(run_dir), "--format", "json", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    js = {(r["condition"], r["code"]): r["values"]["js"] for r in data["items"] if r["variant"] == "with_defaults"}
    assert round(js[("indigenous", "UNIFI")], 3) == 0.115 and round(js[("baseline", "UNIFI")], 3) == 0.267


def test_benchmark_option_switches_to_the_codebook(run_dir, tmp_path):
    from silspec.cli.main import main

    out = tmp_path / "r.csv"
    assert main(["report", str(run_dir), "--format", "csv", "--out", str(out), "--benchmark", "codebook_2023"]) == 0
    rows = [line.split(",") for line in out.read_text().splitlines()]
    confinan = [r for r in rows if r[:2] == ["indigenous", "kgss2023.CONFINAN"] and r[3] == "with_defaults" and r[5] == "js"]
    benchmark = rows[0].index("benchmark")
    assert round(float(confinan[0][6]), 3) == 0.065 and confinan[0][benchmark] == "codebook_2023"


def test_update_doc_and_text_output(run_dir, tmp_path, capsys):
    from silspec.cli.main import main

    doc = tmp_path / "paper.md"
    doc.write_text("Table 2\n<!-- silspec:js_table -->\n<!-- /silspec:js_table -->\n", encoding="utf-8")
    assert main(["report", str(run_dir), "--update-doc", str(doc), "--format", "md"]) == 0
    filled = doc.read_text(encoding="utf-8")
    assert "| UNIFI | 0.267 | 0.115 |" in filled
    assert "## Warnings" in capsys.readouterr().out


def test_bad_run_dir_is_a_clear_error(tmp_path, capsys):
    from silspec.cli.main import main

    assert main(["report", str(tmp_path / "missing")]) == 2  # a usage error, like a missing file
    assert "is not a silspec run directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no store.sqlite" in capsys.readouterr().err
    (tmp_path / "empty" / "store.sqlite").write_bytes(b"")
    assert main(["report", str(tmp_path / "empty")]) == 1  # a run dir, but broken
    assert "no spec bundle" in capsys.readouterr().err


def test_unknown_block_is_reported_not_raised(run_dir, tmp_path, capsys):
    from silspec.cli.main import main

    doc = tmp_path / "bad.md"
    doc.write_text("<!-- silspec:tabel -->\n<!-- /silspec:tabel -->\n", encoding="utf-8")
    assert main(["report", str(run_dir), "--update-doc", str(doc), "--format", "json", "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "unknown block 'tabel'" in err and "js_table" in err
    assert doc.read_text(encoding="utf-8") == "<!-- silspec:tabel -->\n<!-- /silspec:tabel -->\n"
