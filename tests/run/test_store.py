"""The results store: round trips, uniqueness, append-only attempts, manifests, --fresh."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silspec.run.manifest import collect_manifest
from silspec.run.records import AnswerRecord, AttemptRecord
from silspec.run.store import STORE_FILE, SCHEMA_VERSION, Store, StoreError, move_aside


def answer(rid="r1", **changes):
    base = dict(
        request_id=rid, condition="c", model="m", model_id="gpt-x", item="s.Q1", persona="P001",
        replicate=0, answers="sampled", params={"temperature": 0.7, "seed": 3},
        prompt_hash="h" * 64, outcome="answered", raw_text="답변: 3", parsed_code=3,
        scorer="0123456789abcdef", attempts=1, latency_s=0.25, prompt_tokens=120,
        completion_tokens=4, provider_model="gpt-x-2025", system_fingerprint="fp_1",
        started_at="2026-01-01T00:00:00.000+00:00", finished_at="2026-01-01T00:00:01.000+00:00",
        meta={"finish_reason": "stop"},
    )
    base.update(changes)
    return AnswerRecord(**base)


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "run") as s:
        yield s


def test_answers_round_trip_every_field(store):
    records = [
        answer("a"),
        answer("b", answers="option_probs", raw_text=None, option_probs={1: 0.25, 2: 0.75},
               valid_mass=0.93, parsed_code=None),
        answer("c", outcome="error", raw_text=None, parsed_code=3, reason="HTTP 429 after 3 attempts",
               defaulted=True, error="HTTP 429 after 3 attempts", error_status=429, attempts=3),
        answer("d", answers="verbalised", raw_text="1: 50, 2: 40, -8: 10", parsed_code=None,
               probs={1: 0.5555555555555556, 2: 0.4444444444444444}, reason="10% on non-substantive codes dropped"),
        answer("e", outcome="refused", raw_text="I cannot", parsed_code=None, dropped=True,
               reason="no admissible code; refusal phrase"),
    ]
    for record in records:
        store.record_answer(record)
    assert list(store.iter_answers()) == records
    assert store.get_answer("b").option_probs == {1: 0.25, 2: 0.75}  # int keys survive JSON


def test_one_row_per_request_id_and_the_last_write_wins(store):
    store.record_answer(answer("a", outcome="error", error="boom", raw_text=None))
    store.record_answer(answer("a"))
    rows = list(store.iter_answers())
    assert len(rows) == 1 and rows[0].outcome == "answered"
    count = sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    assert count == 1


def test_answered_and_failed_ids(store):
    store.record_answer(answer("ok1"))
    store.record_answer(answer("bad", outcome="error", raw_text=None))
    assert store.answered_ids() == {"ok1", "bad"}
    assert store.failed_ids() == {"bad"}
    assert store.outcomes() == {"ok1": "answered", "bad": "error"}


def test_iter_answers_filters_by_condition(store):
    store.record_answer(answer("a", condition="x"))
    store.record_answer(answer("b", condition="y"))
    assert [a.request_id for a in store.iter_answers("y")] == ["b"]


def test_attempts_are_append_only_and_ordered(store):
    first = AttemptRecord("a", 1, None, "HTTP 503", 503, 0.1, "t1")
    second = AttemptRecord("a", 2, "3", None, None, 0.2, "t2")
    store.record_attempt(first)
    store.record_attempt(second)
    store.record_attempt(first)  # a duplicate attempt is still a new row: nothing is overwritten
    assert list(store.iter_attempts("a")) == [first, second, first]
    assert list(store.iter_attempts("zzz")) == []


def test_answers_survive_reopening(tmp_path):
    with Store.open(tmp_path) as s:
        s.record_answer(answer("a"))
    with Store.open(tmp_path, create=False) as s:
        assert s.answered_ids() == {"a"}


def test_wal_mode_is_on(store):
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_open_without_create_on_a_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no results store"):
        Store.open(tmp_path / "nope", create=False)
    assert not (tmp_path / "nope").exists()


def test_a_newer_schema_is_refused(tmp_path):
    with Store.open(tmp_path) as s:
        s._db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="schema"):
        Store.open(tmp_path)


def test_a_corrupt_file_is_a_clear_error(tmp_path):
    (tmp_path / STORE_FILE).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store.open(tmp_path)


def test_delete_answer(store):
    store.record_answer(answer("a"))
    assert store.delete_answer("a") is True
    assert store.delete_answer("a") is False
    assert store.answered_ids() == set()


def test_manifest_rows_per_invocation(store):
    manifest = collect_manifest(spec_path="x.sil", spec_hash="s" * 64, plan_hash="p" * 64,
                                n_requests=10, overrides=(("model.m.temperature", "0.5"),))
    first = store.begin_invocation(manifest)
    store.record_answer(answer("a"))
    store.end_invocation(first, "complete")
    second = store.begin_invocation(manifest)
    entries = store.manifests()
    assert [e["id"] for e in entries] == [first, second]
    assert entries[0]["status"] == "complete" and entries[0]["finished_at"]
    assert entries[1]["status"] == "running" and entries[1]["finished_at"] is None
    assert entries[0]["plan_hash"] == "p" * 64
    assert entries[0]["overrides"] == [["model.m.temperature", "0.5"]]
    assert "attrs" in entries[0]["packages"] and entries[0]["python"]
    invocation = sqlite3.connect(store.path).execute("SELECT invocation FROM answers").fetchone()[0]
    assert invocation == first


def test_move_aside_keeps_the_old_store_whole(tmp_path):
    with Store.open(tmp_path) as s:
        s.record_answer(answer("a"))
    backup = move_aside(tmp_path)
    assert backup is not None and backup.name.startswith(STORE_FILE + ".") and backup.suffix == ".bak"
    assert not (tmp_path / STORE_FILE).exists()
    rows = sqlite3.connect(backup).execute("SELECT request_id FROM answers").fetchall()
    assert rows == [("a",)]
    assert move_aside(tmp_path) is None
    with Store.open(tmp_path) as fresh:
        assert fresh.answered_ids() == set()


def test_requests_table_keeps_first_sighting(store):
    from tests.run import _fakes as fk

    requests = fk.requests_for("c", "m", [fk.item()], 3)
    store.record_requests(requests)
    store.record_requests(requests[:1])
    assert store.requested_ids() == {r.id for r in requests}


texts = st.one_of(st.none(), st.text(max_size=50))


@settings(max_examples=25, deadline=None)
@given(raw=texts, probs=st.one_of(st.none(), st.dictionaries(st.integers(-10, 10), st.floats(0, 1), max_size=5)),
       meta=st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
       code=st.one_of(st.none(), st.integers(-9, 99)))
def test_round_trip_property(tmp_path_factory, raw, probs, meta, code):
    record = answer("p", raw_text=raw, option_probs=probs, meta=meta, parsed_code=code)
    with Store.open(tmp_path_factory.mktemp("prop")) as s:
        s.record_answer(record)
        assert s.get_answer("p") == record
