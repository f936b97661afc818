"""Freeze a spec, run it, and verify the run: passes when untouched, fails precisely otherwise.

Uses the KGSS replay spec (offline, real recorded answers) inside a copy of the project, so
the tests may edit specs, templates and stores freely.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from silspec.cli.main import main
from silspec.prereg.lock import compute_lock, lock_path_for, read_lock
from silspec.prereg.verify import verify_run
from silspec.spec.load import load_spec

REPO = Path(__file__).resolve().parents[2]
SPEC = "specs/kgss_paper_replay.sil"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "specs").mkdir(parents=True)
    shutil.copy(REPO / SPEC, root / SPEC)
    shutil.copytree(REPO / "data" / "kgss2023", root / "data" / "kgss2023")
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "silspec.toml").write_text("# spec tree root\n", encoding="utf-8")
    return root


def _freeze_and_run(project: Path, out: Path) -> Path:
    spec = project / SPEC
    assert main(["freeze", str(spec)]) == 0
    main(["run", str(spec), "--out", str(out), "--no-report", "--quiet"])
    return lock_path_for(spec)


def _failed(verification) -> dict[str, list[str]]:
    failed: dict[str, list[str]] = {}
    for check in verification.checks:
        if check.status != "ok":
            failed.setdefault(check.name, []).append(check.detail)
    return failed


def test_lock_is_readable_json_with_every_referenced_file(project: Path) -> None:
    spec = project / SPEC
    assert main(["freeze", str(spec)]) == 0
    data = json.loads(lock_path_for(spec).read_text(encoding="utf-8"))
    assert data["requests"] == 1200
    paths = {f["path"] for f in data["files"]}
    assert "templates/kgss_persona_ko.j2" in paths
    assert "data/kgss2023/replay/clova_hcx007_seed42.csv" in paths
    assert len(data["spec_hash"]) == 64 and len(data["plan_hash"]) == 64


def test_comments_and_layout_do_not_change_the_spec_hash(project: Path) -> None:
    spec = project / SPEC
    before = compute_lock(load_spec(str(spec)).spec)
    text = spec.read_text(encoding="utf-8")
    spec.write_text("// a new leading comment\n\n" + text.replace("\n", "\n\n", 3), encoding="utf-8")
    after = compute_lock(load_spec(str(spec)).spec)
    assert after.spec_hash == before.spec_hash
    assert after.plan_hash == before.plan_hash


def test_one_character_in_a_template_changes_the_hash(project: Path) -> None:
    spec = project / SPEC
    before = compute_lock(load_spec(str(spec)).spec)
    template = project / "templates" / "kgss_persona_ko.j2"
    template.write_text(template.read_text(encoding="utf-8").replace("답변", "답번", 1), encoding="utf-8")
    after = compute_lock(load_spec(str(spec)).spec)
    assert after.spec_hash != before.spec_hash
    changed = {f.path for f in after.files} - {f.path for f in before.files if f in after.files}
    assert changed == {"templates/kgss_persona_ko.j2"}


def test_verify_passes_on_a_fresh_run_of_the_frozen_spec(project: Path, tmp_path: Path) -> None:
    lock = _freeze_and_run(project, tmp_path / "run")
    result = verify_run(tmp_path / "run", lock)
    assert result.ok, _failed(result)
    assert main(["verify", str(tmp_path / "run"), "--lock", str(lock)]) == 0


def test_verify_fails_when_the_spec_was_edited_before_the_run(project: Path, tmp_path: Path) -> None:
    spec = project / SPEC
    assert main(["freeze", str(spec)]) == 0
    lock = lock_path_for(spec)
    text = spec.read_text(encoding="utf-8")
    edited = text.replace("금융기관을", "은행을", 1)
    assert edited != text
    spec.write_text(edited, encoding="utf-8")
    main(["run", str(spec), "--out", str(tmp_path / "run"), "--no-report", "--quiet"])
    failed = _failed(verify_run(tmp_path / "run", lock))
    assert {"spec", "plan", "manifest"} <= failed.keys()
    assert main(["verify", str(tmp_path / "run"), "--lock", str(lock)]) == 1


def test_verify_fails_when_a_bundled_template_was_edited(project: Path, tmp_path: Path) -> None:
    lock = _freeze_and_run(project, tmp_path / "run")
    template = tmp_path / "run" / "bundle" / "templates" / "kgss_persona_ko.j2"
    template.write_text(template.read_text(encoding="utf-8") + " ", encoding="utf-8")
    failed = _failed(verify_run(tmp_path / "run", lock))
    assert failed["file"] == ["templates/kgss_persona_ko.j2"]
    assert "spec" in failed and "plan" in failed


def test_verify_fails_when_an_answer_was_deleted(project: Path, tmp_path: Path) -> None:
    from silspec.run.store import Store

    lock = _freeze_and_run(project, tmp_path / "run")
    with Store.open(tmp_path / "run", create=False) as store:
        victim = sorted(store.answered_ids())[0]
        assert store.delete_answer(victim)
    failed = _failed(verify_run(tmp_path / "run", lock))
    assert list(failed) == ["answers"]
    assert "1 planned requests have no stored row" in failed["answers"][0]
    assert victim[:12] in failed["answers"][0]


def test_verify_fails_when_an_answer_outside_the_plan_was_added(project: Path, tmp_path: Path) -> None:
    lock = _freeze_and_run(project, tmp_path / "run")
    db = sqlite3.connect(tmp_path / "run" / "store.sqlite")
    row = db.execute("SELECT * FROM answers LIMIT 1").fetchone()
    columns = [d[0] for d in db.execute("SELECT * FROM answers LIMIT 1").description]
    forged = dict(zip(columns, row))
    forged["request_id"] = "f" * 64
    db.execute(
        f"INSERT INTO answers ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
        [forged[c] for c in columns],
    )
    db.commit()
    db.close()
    failed = _failed(verify_run(tmp_path / "run", lock))
    assert list(failed) == ["extras"]
    assert "ffffffffffff" in failed["extras"][0]


def test_lint_warns_on_a_stale_lock_and_frozen_makes_it_an_error(project: Path, capsys) -> None:
    spec = project / SPEC
    assert main(["freeze", str(spec)]) == 0
    assert main(["lint", "--frozen", str(spec)]) == 0
    template = project / "templates" / "kgss_system_ko.j2"
    template.write_text(template.read_text(encoding="utf-8") + "!", encoding="utf-8")
    capsys.readouterr()
    assert main(["lint", str(spec)]) == 0
    assert "SIL960" in capsys.readouterr().out
    assert main(["lint", "--frozen", str(spec)]) == 1


def test_frozen_lint_without_a_lock_is_an_error(project: Path) -> None:
    assert main(["lint", "--frozen", str(project / SPEC)]) == 1


def test_a_malformed_lock_is_a_clear_error(project: Path, tmp_path: Path, capsys) -> None:
    lock = _freeze_and_run(project, tmp_path / "run")
    lock.write_text("{not json", encoding="utf-8")
    assert main(["verify", str(tmp_path / "run"), "--lock", str(lock)]) == 2
    assert "not a readable lock file" in capsys.readouterr().err
    with pytest.raises(Exception):
        read_lock(lock)
