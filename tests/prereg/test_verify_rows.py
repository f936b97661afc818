"""`silspec verify` checks what the store says, row by row, with exact figures per tampering.

One frozen KGSS replay run (1,200 stored rows, real recorded answers) is made once; each test
tampers a copy of its run directory the way a careless or dishonest editor of the SQLite file
would, and asserts exactly which checks fail and which row they name.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from silspec.cli.main import main
from silspec.prereg.lock import lock_path_for
from silspec.prereg.verify import verify_run

REPO = Path(__file__).resolve().parents[2]
SPEC = "specs/kgss_paper_replay.sil"


@pytest.fixture(scope="module")
def frozen_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("verify") / "project"
    (root / "specs").mkdir(parents=True)
    shutil.copy(REPO / SPEC, root / SPEC)
    shutil.copytree(REPO / "data" / "kgss2023", root / "data" / "kgss2023")
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "silspec.toml").write_text("# spec tree root\n", encoding="utf-8")
    spec = root / SPEC
    assert main(["freeze", str(spec)]) == 0
    run_dir = root.parent / "run"
    main(["run", str(spec), "--out", str(run_dir), "--no-report", "--quiet"])
    return run_dir, lock_path_for(spec)


@pytest.fixture()
def run(frozen_run, tmp_path) -> tuple[Path, Path, sqlite3.Connection]:
    source, lock = frozen_run
    copy = tmp_path / "run"
    shutil.copytree(source, copy)
    db = sqlite3.connect(copy / "store.sqlite", isolation_level=None)
    yield copy, lock, db
    db.close()


def failed(run_dir: Path, lock: Path) -> dict[str, str]:
    return {c.name: c.detail for c in verify_run(run_dir, lock).checks if c.status != "ok"}


def victim(db, condition="baseline") -> str:
    return db.execute(
        "SELECT request_id FROM answers WHERE condition=? AND outcome='answered' ORDER BY request_id LIMIT 1",
        (condition,),
    ).fetchone()[0]


def test_the_untouched_run_passes_every_row_check(run):
    run_dir, lock, _ = run
    checks = {c.name: c for c in verify_run(run_dir, lock).checks}
    assert all(c.status == "ok" for c in checks.values())
    for name in ("request ids", "params", "verdicts"):
        assert (checks[name].locked, checks[name].actual) == ("1200 rows", "1200 rows")
    assert checks["answers"].detail == "all answered (253 recorded as failed)"
    assert checks["overrides"].detail == "every invocation (1)"


def test_a_tampered_parameter_fails_the_id_and_the_params_check_naming_the_row(run):
    run_dir, lock, db = run
    rid = victim(db)
    params = json.loads(db.execute("SELECT params FROM answers WHERE request_id=?", (rid,)).fetchone()[0])
    db.execute("UPDATE answers SET params=? WHERE request_id=?", (json.dumps({**params, "temperature": 0.0}), rid))
    bad = failed(run_dir, lock)
    assert set(bad) == {"request ids", "params"}
    assert bad["request ids"].startswith(f"1 of 1200 stored rows: {rid[:12]} (baseline, ")
    assert bad["request ids"].endswith("(the stored parameters differ from the plan's)")
    assert bad["params"].startswith(f"1 of 1200 stored rows: {rid[:12]}")
    assert "temperature=0.0" in bad["params"]


def test_an_unknown_prompt_hash_fails_the_id_check(run):
    run_dir, lock, db = run
    rid = victim(db)
    db.execute("UPDATE answers SET prompt_hash=? WHERE request_id=?", ("0" * 64, rid))
    bad = failed(run_dir, lock)
    assert set(bad) == {"request ids"}
    assert bad["request ids"] == (
        f"1 of 1200 stored rows: {bad['request ids'].split(': ')[1]}: "
        "stored prompt hash 000000000000 matches no prompt of the plan"
    )
    assert rid[:12] in bad["request ids"]


def test_another_planned_prompt_and_a_changed_model_id_are_named(run):
    run_dir, lock, db = run
    first, second = [r[0] for r in db.execute(
        "SELECT request_id FROM answers WHERE condition='baseline' ORDER BY request_id LIMIT 2")]
    other_prompt = db.execute("SELECT prompt_hash FROM answers WHERE request_id=?", (second,)).fetchone()[0]
    db.execute("UPDATE answers SET prompt_hash=? WHERE request_id=?", (other_prompt, first))
    db.execute("UPDATE answers SET model_id='gpt-4o' WHERE request_id=?", (second,))
    bad = failed(run_dir, lock)
    assert set(bad) == {"request ids"}
    assert bad["request ids"].startswith("2 of 1200 stored rows: ")
    assert "(the stored prompt differs from the plan's)" in bad["request ids"]
    assert "(the stored model id differs from the plan's)" in bad["request ids"]


def test_a_stored_code_that_does_not_follow_from_the_reply_fails_the_verdicts_check(run):
    run_dir, lock, db = run
    rid = victim(db)
    code, text = db.execute("SELECT parsed_code, raw_text FROM answers WHERE request_id=?", (rid,)).fetchone()
    forged = 1 if code != 1 else 2
    db.execute("UPDATE answers SET parsed_code=? WHERE request_id=?", (forged, rid))
    bad = failed(run_dir, lock)
    assert set(bad) == {"verdicts"}
    assert bad["verdicts"].startswith(f"1 of 1200 stored rows: {rid[:12]}")
    assert bad["verdicts"].endswith(f"stored answered (code {forged}), the stored reply scores answered (code {code})")


def test_overrides_are_read_from_every_invocation(run):
    run_dir, lock, db = run
    db.execute("UPDATE manifest SET data=json_set(data, '$.overrides', json('[[\"model.gpt52.temperature\", \"0\"]]'))")
    bad = failed(run_dir, lock)
    assert set(bad) == {"overrides"}
    assert bad["overrides"].startswith("1 of 1 invocations ran with other overrides, e.g. invocation 1 started ")


def test_a_run_whose_requests_all_failed_is_not_complete(run):
    run_dir, lock, db = run
    db.execute("UPDATE answers SET outcome='error', error='HTTP 500', reason='HTTP 500', scorer=NULL")
    bad = failed(run_dir, lock)
    assert set(bad) == {"answers"}
    assert bad["answers"] == "every one of the 1200 planned requests failed: the run is not complete"
    assert main(["verify", str(run_dir), "--lock", str(lock)]) == 1
