"""`silspec run` reads its plan in passes (``silspec.plan.stream``, ``silspec.run.pending``)
instead of holding it: the same requests, the same asking rules, the same summary as a plan held
in memory. The oracle for the rules is the held-plan code (``unique_requests``,
``pending_requests``) and the summary's set formulas it replaced."""

from __future__ import annotations

import asyncio
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silspec.plan.compile import compile_plan
from silspec.plan.stream import RequestStream, compile_streamed_plan, requests_of
from silspec.run.pending import outcomes, pending_stream, scan
from silspec.run.runner import load_checked_spec, pending_requests, run_plan, run_spec, unique_requests
from silspec.run.store import Store
from silspec.spec.model import Parser

from tests.run import _fakes as fk
from tests.run.test_store import answer

ROOT = Path(__file__).resolve().parents[2]
REPLAY_SPEC = ROOT / "specs" / "kgss_paper_replay.sil"
PARSER = Parser("first_number")


def test_a_streamed_plan_holds_the_same_requests_as_the_compiled_one():
    spec = load_checked_spec(REPLAY_SPEC)
    held = compile_plan(spec)
    streamed = compile_streamed_plan(spec)
    assert isinstance(streamed.requests, RequestStream)
    assert streamed.plan_hash == held.plan_hash and len(streamed.requests) == len(held.requests)
    assert tuple(streamed.requests) == held.requests  # and again: each pass compiles anew
    assert tuple(streamed.requests) == held.requests
    names = list(held.header.conditions)
    assert len(names) > 1
    per_condition = [r for name in names for r in requests_of(streamed.requests, [name])]
    assert per_condition == [r for name in names for r in held.requests if r.condition == name]


def _tricky_plan():
    """Two conditions of one model sharing every request id, ids repeated within a condition,
    and a third condition of its own."""
    backend, log, _ = fk.scripted_backend()
    items = [fk.item("Q1"), fk.item("Q2")]
    shared = fk.requests_for("a", "m", items, 4)
    again = [attrs.evolve(r, condition="b") for r in shared]
    own = fk.requests_for("c", "m", items, 3, marker="own ")
    requests = shared + shared[:3] + again + own + own[:1]
    conditions = {"a": ("m", PARSER), "b": ("m", PARSER), "c": ("m", PARSER)}
    return fk.plan([fk.model("m", backend, concurrency=2)], conditions, items, requests), log


@pytest.mark.parametrize("retry_errors", [False, True])
def test_the_scan_and_the_pending_stream_ask_what_the_held_plan_asked(tmp_path, retry_errors):
    plan, _ = _tricky_plan()
    with Store.open(tmp_path / "run") as store:
        unique = unique_requests(plan.requests)
        store.record_answer(_stored(unique[0]))
        store.record_answer(_stored(unique[5], outcome="error"))
        store.record_answer(_stored(unique[-1]))
        held, kept = pending_requests(plan, store, retry_errors=retry_errors)
        scanned = scan(plan.requests, store, retry_errors=retry_errors)
        assert list(pending_stream(plan.requests, store, scanned, retry_errors=retry_errors)) == held
        by_condition: dict[str, int] = {}
        for request in held:
            by_condition[request.condition] = by_condition.get(request.condition, 0) + 1
        assert scanned.to_ask() == by_condition
        firsts: dict[str, int] = {}
        for request in unique:
            firsts[request.condition] = firsts.get(request.condition, 0) + 1
        assert scanned.totals() == firsts
        assert sum(c.first - c.to_ask for c in scanned.conditions.values()) == kept
        assert scanned.conditions["b"].distinct == 8 and scanned.conditions["b"].first == 0


@pytest.mark.parametrize("retry_errors", [False, True])
def test_the_summary_counts_what_the_held_plan_counted(tmp_path, retry_errors):
    plan, log = _tricky_plan()
    with Store.open(tmp_path / "run") as store:
        unique = unique_requests(plan.requests)
        store.begin_invocation(_manifest())
        store.record_answer(_stored(unique[1]))
        store.record_answer(_stored(unique[2], outcome="error"))
        held, _ = pending_requests(plan, store, retry_errors=retry_errors)
        invocation = store.begin_invocation(_manifest())
        scanned = scan(plan.requests, store, retry_errors=retry_errors)
        # the old error row (pending under --retry-errors) and the last request are not asked again
        for request in [r for r in held if r.id != unique[2].id][:-1]:
            store.record_answer(_stored(request))
        counted = outcomes(plan.requests, store, scanned, invocation=invocation, retry_errors=retry_errors)
        stored = store.outcomes()
        pending_ids = {r.id for r in held}
        for name in plan.header.conditions:  # the formulas of the held-plan summary
            ids = {r.id for r in plan.requests if r.condition == name}
            c = counted[name]
            assert (c.distinct, c.already, c.missing, c.stored_errors) == (
                len(ids), len(ids - pending_ids), sum(1 for i in ids if i not in stored),
                sum(1 for i in ids if stored.get(i) == "error"))


def _stored(request, outcome="answered"):
    return answer(request.id, condition=request.condition, outcome=outcome)


def _manifest():
    return {"started_at": "2026-12-01T00:00:00Z", "spec_hash": "x", "plan_hash": "y"}


def test_a_streamed_run_asks_and_summarises_as_a_held_plan_run(tmp_path):
    spec = load_checked_spec(REPLAY_SPEC)
    held = run_plan(compile_plan(spec), tmp_path / "held", spec=spec, env={})
    streamed = run_spec(REPLAY_SPEC, out=tmp_path / "streamed", env={})
    assert streamed.plan_hash == held.plan_hash
    assert streamed.conditions == held.conditions and streamed.exit_code == held.exit_code
    with Store.open(tmp_path / "held", create=False) as a, Store.open(tmp_path / "streamed", create=False) as b:
        assert a.outcomes() == b.outcomes()
    again = run_spec(REPLAY_SPEC, out=tmp_path / "streamed", env={})  # a rerun asks nothing
    assert sum(c.asked for c in again.conditions) == 0
    assert [c.already for c in again.conditions] == [c.total for c in again.conditions]


def test_a_streamed_lane_pulls_requests_as_it_asks(tmp_path):
    """The executor never drains a lane's stream up front: at most the workers' requests and
    one looked-ahead request are out of the stream at any time."""
    from silspec.run.executor import Executor

    backend, log, _ = fk.scripted_backend(delay_s=0.001)
    items = [fk.item("Q1")]
    requests = fk.requests_for("c", "m", items, 50)
    plan = fk.plan([fk.model("m", backend, concurrency=3)], {"c": ("m", PARSER)}, items, requests)
    pulled: list[int] = []

    def source():
        for n, request in enumerate(requests):
            pulled.append(n - len(log))  # pulled ahead of the calls made so far
            yield request

    class Once:
        def __iter__(self):
            return source()

    with Store.open(tmp_path / "run") as store:
        executor = Executor(models=plan.header.models, conditions=plan.header.conditions,
                            items=plan.header.items, store=store, env={})
        report = asyncio.run(executor.execute_streams({"m": (Once(), 50)}, {"c": 50}))
        assert report.counts["c"].ok == 50 and store.count_answers() == 50
    assert max(pulled) <= 3 + 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(), st.text()), max_size=4))
def test_the_prompt_hash_is_the_hash_of_the_canonical_json(pairs):
    from silspec.plan.hashing import canonical_json, messages_hash, sha256_text
    from silspec.plan.model import Message

    messages = [Message(role, content) for role, content in pairs]
    assert messages_hash(messages) == sha256_text(canonical_json([[r, c] for r, c in pairs]))


def test_lanes_of_backends_that_never_suspend_still_take_turns(tmp_path):
    """A replay-like backend answers without suspending; each call still gives the event loop
    a turn, so one model's lane never runs to its end before another's starts (nor before
    Ctrl-C is seen)."""
    from silspec.run.executor import Executor

    first, _, _ = fk.scripted_backend()
    second, _, _ = fk.scripted_backend()
    items = [fk.item("Q1")]
    requests = fk.requests_for("a", "ma", items, 20) + fk.requests_for("b", "mb", items, 20)
    plan = fk.plan([fk.model("ma", first, concurrency=2), fk.model("mb", second, concurrency=2)],
                   {"a": ("ma", PARSER), "b": ("mb", PARSER)}, items, requests)
    with Store.open(tmp_path / "run") as store:
        executor = Executor(models=plan.header.models, conditions=plan.header.conditions,
                            items=plan.header.items, store=store, env={})
        asyncio.run(executor.execute(plan.requests))
        order = [r.condition for r in store.iter_answers()]
    assert len(order) == 40
    assert order.index("b") < 4 and order[:8].count("a") == order[:8].count("b") == 4
