"""The analysis reads the verdict the runner stored, and scores again only what it must."""

import sqlite3

import pytest
from attrs import evolve

from silspec.analysis.pipeline import analyse
from silspec.answers import Reply, score, scorer_hash
from silspec.plan.compile import build_plan_item
from silspec.run.store import SCHEMA_VERSION, Store
from silspec.spec.model import Parser

from tests.analysis.test_pipeline import make_spec, record


def decided(spec, rec, parser=None):
    """``rec`` as the runner stores it: the verdict of ``parser`` (default: the spec's)."""
    parser = parser or spec.parsers["p"]
    item = build_plan_item(spec.item(rec.item))
    failure = rec.error if rec.outcome == "error" else None
    verdict = score(Reply(text=rec.raw_text, option_probs=rec.option_probs, failure=failure),
                    answers=rec.answers, parser=parser, item=item)
    return evolve(rec, outcome=verdict.outcome, reason=verdict.reason, parsed_code=verdict.code,
                  defaulted=verdict.defaulted, dropped=verdict.dropped,
                  probs=dict(verdict.probs) if verdict.probs else None,
                  scorer=scorer_hash(answers=rec.answers, parser=parser, item=item))


def test_the_stored_verdict_is_what_counts_when_the_definition_is_unchanged():
    spec = make_spec(conditions=("a",))
    rows = [decided(spec, record("a", "Q1", f"P{i}", f"answer: {c}")) for i, c in enumerate([1, 2, 2, 4])]
    # the store says P0 answered 3 (as if the runner had decided so): the analysis does not re-read the text
    rows[0] = evolve(rows[0], parsed_code=3)
    results = analyse(spec, rows)
    assert results.item_metrics("a")[0].counts == (0, 2, 1, 1)
    assert not [w for w in results.warnings if w.kind == "rescored"]


def test_a_changed_parser_rescores_and_says_how_many_verdicts_differ():
    run_parser = Parser(name="p", on_invalid="none", on_error="midpoint")
    spec = make_spec(conditions=("a",), parser=Parser(name="p", on_invalid="midpoint", on_error="midpoint"))
    texts = ["answer: 1", "answer: 2", "no idea", "no clue", "answer: 4"]
    rows = [decided(spec, record("a", "Q1", f"P{i}", t), run_parser) for i, t in enumerate(texts)]
    assert [r.parsed_code for r in rows] == [1, 2, None, None, 4]
    results = analyse(spec, rows)
    # scored again with the spec's parser: the two invalid answers now carry the midpoint (3)
    assert results.item_metrics("a")[0].counts == (1, 1, 2, 1)
    (warning,) = [w for w in results.warnings if w.kind == "rescored"]
    assert warning.severity == "medium"
    assert warning.message.startswith("a: 5 stored answers were decided by another parser definition")
    assert warning.message.endswith("2 verdicts differ from the stored ones")


def test_option_probs_without_probabilities_is_an_error_never_the_text():
    spec = make_spec(conditions=("a",))  # on_error = midpoint
    probs = {1: 0.1, 2: 0.4, 3: 0.4, 4: 0.1}
    rows = [record("a", "Q1", f"P{i}", "2", answers="option_probs", option_probs=probs, valid_mass=0.9) for i in range(3)]
    rows.append(record("a", "Q1", "P3", "1", answers="option_probs"))  # a stored reply without logprobs
    results = analyse(spec, rows)
    (compliance,) = results.compliance
    assert (compliance.n, compliance.answered, compliance.error, compliance.defaulted) == (4, 3, 1, 0)
    row = results.item_metrics("a")[0]
    assert row.n == 3 and row.probs == pytest.approx((0.1, 0.4, 0.4, 0.1))  # the "1" in the text counts nowhere
    (warning,) = [w for w in results.warnings if w.kind == "option_probs_unfilled"]
    assert warning.message.startswith("a: 1 option_probs answers have no probabilities")


# ----------------------------------------------------------------------------- schema 1 stores

SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE answers (request_id TEXT PRIMARY KEY, condition TEXT, model TEXT, model_id TEXT, item TEXT,
    persona TEXT, replicate INTEGER, answers TEXT, params TEXT, prompt_hash TEXT, outcome TEXT, raw_text TEXT,
    option_probs TEXT, valid_mass REAL, parsed_code INTEGER, parse_outcome TEXT, defaulted INTEGER, error TEXT,
    error_status INTEGER, attempts INTEGER, latency_s REAL, prompt_tokens INTEGER, completion_tokens INTEGER,
    provider_model TEXT, system_fingerprint TEXT, country TEXT, started_at TEXT, finished_at TEXT, meta TEXT,
    invocation INTEGER);
"""
V1_ROWS = [  # request id, answers, outcome, raw text, option_probs, parse_outcome, error
    ("r1", "sampled", "ok", "answer: 2", None, "valid", None),
    ("r2", "sampled", "ok", "no idea", None, "invalid", None),
    ("r3", "sampled", "ok", "I cannot", None, "refusal", None),
    ("r4", "sampled", "error", None, None, "error", "HTTP 429"),
    ("r5", "option_probs", "ok", "1", '{"1": 0.5, "2": 0.5}', "valid", None),
    ("r6", "option_probs", "ok", "1", None, None, None),
]


def test_a_schema_1_store_is_migrated_and_reported_as_before(tmp_path):
    db = sqlite3.connect(tmp_path / "store.sqlite")
    db.executescript(SCHEMA_1)
    for rid, answers, outcome, text, probs, parsed, error in V1_ROWS:
        db.execute(
            "INSERT INTO answers (request_id, condition, model, model_id, item, persona, replicate, answers,"
            " params, prompt_hash, outcome, raw_text, option_probs, parse_outcome, defaulted, error, attempts, meta)"
            " VALUES (?, 'a', 'a', 'm-a', 's.Q1', ?, 0, ?, '{}', '', ?, ?, ?, ?, 0, ?, 1, '{}')",
            (rid, rid, answers, outcome, text, probs, parsed, error),
        )
    db.commit()
    db.close()
    with Store.open(tmp_path) as store:
        rows = {r.request_id: r for r in store.iter_answers()}
        assert store.failed_ids() == {"r4", "r6"}  # --retry-errors now asks the reply without logprobs too
    assert {k: r.outcome for k, r in rows.items()} == {
        "r1": "answered", "r2": "invalid", "r3": "refused", "r4": "error", "r5": "answered", "r6": "error",
    }
    assert rows["r6"].reason == rows["r6"].error == "the endpoint returned no log-probabilities"
    assert all(r.scorer is None for r in rows.values())  # scored from the text by the analysis, as before
    version = sqlite3.connect(tmp_path / "store.sqlite").execute("SELECT value FROM meta").fetchone()[0]
    assert version == str(SCHEMA_VERSION) == "2"
    with Store.open(tmp_path) as store:  # opening again changes nothing
        assert {r.request_id: r for r in store.iter_answers()} == rows

    spec = make_spec(conditions=("a",), parser=Parser(name="p", refusal=("cannot",)))
    sampled = [r for r in rows.values() if r.answers == "sampled"]
    results = analyse(spec, sampled)
    (compliance,) = results.compliance
    assert (compliance.answered, compliance.invalid, compliance.refused, compliance.error) == (1, 1, 1, 1)
    assert results.item_metrics("a")[0].counts == (0, 1, 0, 0)
    assert not [w for w in results.warnings if w.kind == "rescored"]  # nothing to disagree with
