"""The runner's verdict and the analysis's verdict are the same object, per answer mode.

Each corpus goes through the real executor (a scripted in-process backend, a real SQLite
store); every stored verdict is then read back by the analysis twice: as stored (the current
definition decided it) and scored again from the stored reply as if the definition had
changed. All three must be equal, and it is one function that decides them.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from attrs import evolve

import silspec.analysis.scoring as analysis
import silspec.run.executor as runner
from silspec.answers import NO_LOGPROBS, NO_TEXT, Verdict, score
from silspec.plan.compile import build_plan_item
from silspec.run.backends.base import BackendAnswer
from silspec.run.executor import Executor
from silspec.run.records import stored_verdict
from silspec.run.store import Store
from silspec.spec.model import Category, Item, Parser, Scale

from tests.run import _fakes as fk

# One item as the spec has it (1-4 plus "don't know" = -8); the plan item is built from it by
# the same function the plan compiler uses, so the runner and the analysis see the same codes.
SCALE = Scale(name="trust", categories=(
    Category(1, "매우 신뢰"), Category(2, "다소 신뢰"), Category(3, "별로"), Category(4, "전혀"),
    Category(-8, "모름", missing=True),
))
ITEM = build_plan_item(Item(id="s.Q1", code="Q1", survey="s", text="Trust?", scale=SCALE))

SAMPLED = [
    "3", "I'd say 2.", "7", "-8", "I cannot answer that.", "", None, "asdf junk", "scale 1-4: 2",
    "I cannot be sure, but 4",
]
VERBALISED = [
    "1: 50, 2: 40, -8: 10",  # the case the runner used to re-ask and the analysis accepted
    '{"1": 20, "2": 30, "3": 40, "4": 10}',
    "1: 60, 2: 60",
    "5: 100",
    "모름: 100",
    "I cannot answer that.",
    "",
    None,
    "junk",
]
OPTION_PROBS = [
    BackendAnswer(text="2", option_probs={1: 0.1, 2: 0.6, 3: 0.2, 4: 0.1}, valid_mass=0.9),
    BackendAnswer(text="3", option_probs=None, valid_mass=0.0, meta={"note": "the endpoint returned no logprobs"}),
    BackendAnswer(text="3", option_probs=None),
    BackendAnswer(text=None, option_probs={}),
    BackendAnswer(text="1", option_probs={1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}, valid_mass=0.0),
]


def run_corpus(tmp_path, mode, replies, parser):
    requests = [evolve(r, answers=mode) for r in fk.requests_for("c", "m", [ITEM], len(replies))]
    by_persona = {r.persona: reply for r, reply in zip(requests, replies)}

    def script(request, attempt):
        reply = by_persona[request.persona]
        return reply if isinstance(reply, BackendAnswer) else BackendAnswer(text=reply)

    backend, log, _ = fk.scripted_backend(script)
    plan = fk.plan([fk.model("m", backend)], {"c": ("m", parser)}, [ITEM], requests)
    store = Store.open(tmp_path / mode)
    executor = Executor(models=plan.header.models, conditions=plan.header.conditions,
                        items=plan.header.items, store=store, env={}, rng=random.Random(0))
    asyncio.run(executor.execute(plan.requests))
    records = {r.persona: r for r in store.iter_answers()}
    store.close()
    return [records[r.persona] for r in requests], log


def assert_agree(records, parser):
    assert runner.score is analysis.score is score  # one function decides
    verdicts = []
    for record in records:
        stored = stored_verdict(record)
        as_read, how = analysis.verdict_of(record, parser, ITEM)
        rescored, how_again = analysis.verdict_of(evolve(record, scorer="another definition"), parser, ITEM)
        assert (how, how_again) == ("stored", "rescored")
        assert stored == as_read == rescored, record.raw_text
        verdicts.append(stored)
    return verdicts


def test_sampled_verdicts_agree(tmp_path):
    parser = Parser("p", refusal=("cannot",), on_invalid="midpoint")
    records, _ = run_corpus(tmp_path, "sampled", SAMPLED, parser)
    verdicts = assert_agree(records, parser)
    assert verdicts == [
        Verdict("answered", code=3),
        Verdict("answered", code=2),
        Verdict("invalid", "no admissible code", code=3, defaulted=True),
        Verdict("invalid", "no admissible code", code=3, defaulted=True),
        Verdict("refused", "no admissible code; refusal phrase", code=3, defaulted=True),
        Verdict("error", NO_TEXT),  # on_error = none: a reply without text is never a midpoint
        Verdict("error", NO_TEXT),
        Verdict("invalid", "no admissible code", code=3, defaulted=True),
        Verdict("answered", code=1),  # the paper's rule: the first admissible integer
        Verdict("answered", code=4),
    ]
    assert [r.outcome for r in records] == [v.outcome for v in verdicts]


def test_verbalised_verdicts_agree_and_non_substantive_mass_is_not_reasked(tmp_path):
    parser = Parser("p", refusal=("cannot",), on_invalid="reask", reask=2)
    records, log = run_corpus(tmp_path, "verbalised", VERBALISED, parser)
    verdicts = assert_agree(records, parser)
    first = verdicts[0]
    assert first.outcome == "answered" and records[0].attempts == 1
    assert first.probs == pytest.approx({1: 50 / 90, 2: 40 / 90, 3: 0.0, 4: 0.0})
    assert first.reason == "10% on non-substantive codes dropped"
    assert [v.outcome for v in verdicts] == [
        "answered", "answered", "invalid", "invalid", "invalid", "refused", "error", "error", "invalid",
    ]
    # invalid answers were re-asked twice (3 attempts), refusals and errors never
    assert [r.attempts for r in records] == [1, 1, 3, 3, 3, 1, 1, 1, 3]
    assert len(log) == 1 + 1 + 3 + 3 + 3 + 1 + 1 + 1 + 3


def test_option_probs_verdicts_agree_and_are_never_read_from_the_text(tmp_path):
    parser = Parser("p", on_error="midpoint", on_invalid="midpoint")
    records, _ = run_corpus(tmp_path, "option_probs", OPTION_PROBS, parser)
    verdicts = assert_agree(records, parser)
    assert verdicts[0] == Verdict("answered", probs={1: 0.1, 2: 0.6, 3: 0.2, 4: 0.1})
    unfilled = "not filled: option_probs answers are never mixed with one-hot defaults"
    assert verdicts[1] == Verdict("error", f"{NO_LOGPROBS} (the endpoint returned no logprobs); {unfilled}")
    for verdict in verdicts[2:]:
        assert verdict == Verdict("error", f"{NO_LOGPROBS}; {unfilled}")
    # an error row: --retry-errors asks it again, the summary groups it by this message
    assert all(r.outcome == "error" and r.error == r.reason for r in records[1:])
    assert all(r.parsed_code is None and not r.defaulted for r in records)


def test_a_reply_whose_text_is_not_a_string_is_stored_as_an_error_and_read_back_the_same(tmp_path):
    parser = Parser("p", on_invalid="midpoint")
    records, _ = run_corpus(tmp_path, "sampled", [BackendAnswer(text=3), "2"], parser)  # type: ignore[arg-type]
    verdicts = assert_agree(records, parser)
    assert verdicts == [Verdict("error", "the reply's text is of type int, not a string"), Verdict("answered", code=2)]
    assert records[0].raw_text is None and records[0].meta["text_of_type"] == "int: 3"
