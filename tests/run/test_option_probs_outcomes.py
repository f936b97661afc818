"""`option_probs` against the real test server: a reply without usable log-probabilities is an
error row with its reason, never a code read from the reply's text; every other request completes."""

from __future__ import annotations

from attrs import evolve

from silspec.run.runner import run_plan
from silspec.run.store import Store
from silspec.spec.model import Backoff, Parser

from tests.run import _fakes as fk
from tests.servers.fixtures import TEST_API_KEY

KEY_ENV = "SILSPEC_TEST_KEY"
FAST = Backoff(base=0.01, max_s=0.05, jitter=True)


def test_no_option_token_among_the_logprobs_is_an_error_row_and_the_rest_completes(chat_server, tmp_path):
    good, bad = fk.item("Q1"), fk.item("Q2")
    requests = [evolve(r, answers="option_probs") for r in fk.requests_for("c", "gpt", [good, bad], 4, backend="openai")]
    # Q2 asks for letters the prompt never shows: the server's top log-probabilities hold digits only
    requests = [evolve(r, option_tokens=("V", "W", "X", "Y", "Z")) if r.item == bad.id else r for r in requests]
    model = fk.model("gpt", "openai", base_url=chat_server.url, api_key_env=KEY_ENV, backoff=FAST)
    plan = fk.plan([model], {"c": ("gpt", Parser("p", on_error="midpoint", on_invalid="midpoint"))}, [good, bad], requests)

    summary = run_plan(plan, tmp_path / "run", env={KEY_ENV: TEST_API_KEY})

    (row,) = summary.conditions
    assert (row.total, row.ok, row.invalid, row.errors, row.missing) == (8, 4, 0, 4, 0)
    assert summary.exit_code == 1
    with Store.open(tmp_path / "run", create=False) as store:
        rows = list(store.iter_answers())
        assert store.failed_ids() == {r.id for r in requests if r.item == bad.id}  # --retry-errors asks them
    answered = [r for r in rows if r.item == good.id]
    failed = [r for r in rows if r.item == bad.id]
    assert all(r.outcome == "answered" and sum(r.probs.values()) > 0.99 for r in answered)
    for r in failed:
        assert r.outcome == "error" and "log-probabilities" in r.reason and r.error == r.reason
        assert r.raw_text and r.raw_text.strip().isdigit()  # a readable digit came back ...
        assert r.parsed_code is None and r.probs is None and not r.defaulted  # ... and counts for nothing
