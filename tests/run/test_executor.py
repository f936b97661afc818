"""The executor against in-process scripted backends: retries, stops, re-asks, batching, Ctrl-C."""

from __future__ import annotations

import asyncio
import random

import pytest

from silspec.run.backends.base import BackendAnswer, PermanentError, TransientError
from silspec.run.executor import (
    CONSECUTIVE_PERMANENT_LIMIT, Executor, RunListener, backoff_delay,
)
from silspec.run.store import Store
from silspec.spec.model import Backoff, Parser

from tests.run import _fakes as fk

PARSER = Parser("first")
KEY = "sk-SENTINEL-do-not-leak-42"


def run(plan, store, *, env=None, listener=None, sleep=None):
    kwargs = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    executor = Executor(models=plan.header.models, conditions=plan.header.conditions,
                        items=plan.header.items, store=store, env=env or {},
                        listener=listener, rng=random.Random(0), **kwargs)
    return asyncio.run(executor.execute(plan.requests))


def one_model_plan(backend, *, personas=6, parser=PARSER, items=None, **model_kwargs):
    items = items or [fk.item("Q1"), fk.item("Q2", (1, 2, 3, 4))]
    reqs = fk.requests_for("c", "m", items, personas)
    return fk.plan([fk.model("m", backend, **model_kwargs)], {"c": ("m", parser)}, items, reqs)


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "run") as s:
        yield s


def test_every_request_is_answered_once_and_parsed_live(store):
    backend, log, cls = fk.scripted_backend()
    plan = one_model_plan(backend)
    report = run(plan, store)
    answers = {a.request_id: a for a in store.iter_answers()}
    assert set(answers) == {r.id for r in plan.requests}
    assert len(log) == len(plan.requests)
    first = answers[plan.requests[1].id]  # persona P001 on a 1..5 scale -> code 2
    assert (first.outcome, first.parsed_code, first.reason) == ("answered", 2, None)
    assert first.provider_model == "fake-2025" and first.attempts == 1
    assert report.counts["c"].ok == len(plan.requests) and report.errors == 0
    assert cls.closed


def test_transient_errors_are_retried_then_answered_with_every_attempt_kept(store):
    def flaky(request, attempt):
        if attempt <= 2:
            return TransientError("HTTP 503: busy", status=503)
        return fk.first_code_answer(request, attempt)

    backend, log, _ = fk.scripted_backend(flaky)
    plan = one_model_plan(backend, personas=2, retries=3)
    run(plan, store)
    for request in plan.requests:
        answer = store.get_answer(request.id)
        assert answer.outcome == "answered" and answer.attempts == 3
        attempts = list(store.iter_attempts(request.id))
        assert [a.error_status for a in attempts] == [503, 503, None]
        assert attempts[-1].raw_text == answer.raw_text


def test_exhausted_retries_store_an_error_never_a_silent_default(store):
    backend, log, _ = fk.scripted_backend(lambda r, a: TransientError("HTTP 429", status=429))
    parser = Parser("p", on_error="midpoint")
    plan = one_model_plan(backend, personas=1, retries=2, parser=parser)
    report = run(plan, store)
    for answer in store.iter_answers():
        assert answer.outcome == "error" and answer.error_status == 429
        assert answer.attempts == 3 and answer.raw_text is None
        assert answer.reason == "HTTP 429" and answer.defaulted  # flagged, never silent
    assert report.errors == len(plan.requests)
    assert store.failed_ids() == {r.id for r in plan.requests}


def test_retry_waits_at_least_retry_after(store):
    waits = []

    async def record_sleep(seconds):
        waits.append(seconds)

    def rate_limited(request, attempt):
        if attempt == 1:
            return TransientError("HTTP 429", retry_after=7.5, status=429)
        return fk.first_code_answer(request, attempt)

    backend, _, _ = fk.scripted_backend(rate_limited)
    plan = one_model_plan(backend, personas=2, backoff=Backoff(base=0.001, max_s=10))
    run(plan, store, sleep=record_sleep)
    assert waits and all(7.5 <= w <= 10 for w in waits)
    assert len(waits) == len(plan.requests)


def test_retry_after_beyond_the_backoff_maximum_is_capped_shown_and_warned(store):
    # Issue 10: a Retry-After date in 2099 froze every worker; the wait is now max_s at most.
    waits, statuses, warnings = [], [], []

    async def record_sleep(seconds):
        waits.append(seconds)

    class Listen(RunListener):
        def on_status(self, model, conditions, text):
            statuses.append((model, tuple(conditions), text))

        def on_warning(self, message):
            warnings.append(message)

    def far_future(request, attempt):
        if attempt == 1:
            return TransientError("HTTP 429", retry_after=2.3e9, status=429)
        return fk.first_code_answer(request, attempt)

    backend, _, _ = fk.scripted_backend(far_future)
    plan = one_model_plan(backend, personas=1, concurrency=1, backoff=Backoff(base=1, max_s=20))
    report = run(plan, store, sleep=record_sleep, listener=Listen())
    assert waits == [20.0] * len(plan.requests)
    assert ("m", ("c",), "waiting 20 s: rate limited") in statuses and statuses[-1][2] is None
    assert len(warnings) == 1 and "years" in warnings[0] and "20 s" in warnings[0]
    assert report.errors == 0 and store.count_answers() == len(plan.requests)


def test_auth_failure_stops_only_that_model_and_names_the_variable_not_the_key(store):
    bad, bad_log, _ = fk.scripted_backend(
        lambda r, a: PermanentError(f"HTTP 401: Incorrect API key provided: {KEY}", status=401)
    )
    good, good_log, _ = fk.scripted_backend()
    items = [fk.item("Q1")]
    reqs = fk.requests_for("a", "bad", items, 5) + fk.requests_for("b", "good", items, 5)
    plan = fk.plan([fk.model("bad", bad, api_key_env="BAD_KEY", concurrency=1),
                    fk.model("good", good)],
                   {"a": ("bad", PARSER), "b": ("good", PARSER)}, items, reqs)
    stopped = []

    class Listen(RunListener):
        def on_model_stopped(self, model, message):
            stopped.append((model, message))

    report = run(plan, store, env={"BAD_KEY": KEY}, listener=Listen())
    assert len(bad_log) == 1  # stopped at the first 401; nothing else asked
    assert {a.condition for a in store.iter_answers()} == {"b"}
    assert report.counts["a"].skipped == 5 and report.counts["b"].ok == 5
    message = report.stopped_models["bad"]
    assert stopped == [("bad", message)]
    assert "BAD_KEY" in message and KEY not in message
    for attempt in store.iter_attempts():
        assert KEY not in (attempt.error or "")


def test_a_per_request_permanent_error_is_recorded_and_the_model_goes_on(store):
    def one_bad(request, attempt):
        if request.persona == "P001":
            return PermanentError("no replay row for persona P001", status=None)
        return fk.first_code_answer(request, attempt)

    backend, log, _ = fk.scripted_backend(one_bad)
    plan = one_model_plan(backend, personas=4)
    report = run(plan, store)
    errors = [a for a in store.iter_answers() if a.outcome == "error"]
    assert {a.persona for a in errors} == {"P001"}
    assert all("P001" in a.error and a.attempts == 1 for a in errors)  # not retried
    assert report.counts["c"].ok == len(plan.requests) - len(errors)
    assert not report.stopped_models


def test_a_run_of_permanent_errors_stops_the_model(store):
    backend, log, _ = fk.scripted_backend(lambda r, a: PermanentError("HTTP 404: no such model", status=404))
    plan = one_model_plan(backend, personas=30, concurrency=1)
    report = run(plan, store)
    assert len(log) == CONSECUTIVE_PERMANENT_LIMIT
    assert "m" in report.stopped_models and "404" in report.stopped_models["m"]
    assert report.counts["c"].errors == CONSECUTIVE_PERMANENT_LIMIT
    assert report.skipped == len(plan.requests) - CONSECUTIVE_PERMANENT_LIMIT


def test_a_call_past_its_timeout_is_transient(store):
    def slow_first(request, attempt):
        return fk.first_code_answer(request, attempt)

    backend, log, _ = fk.scripted_backend(slow_first, delay_s=0.3)
    plan = one_model_plan(backend, personas=1, items=[fk.item("Q1")], timeout_s=0.05, retries=1)
    run(plan, store)
    answer = next(store.iter_answers())
    assert answer.outcome == "error" and "timed out" in answer.error and answer.attempts == 2


def test_unexpected_backend_exception_is_recorded_with_its_type(store):
    backend, _, _ = fk.scripted_backend(lambda r, a: ValueError("boom"))
    plan = one_model_plan(backend, personas=1, items=[fk.item("Q1")])
    run(plan, store)
    answer = next(store.iter_answers())
    assert answer.outcome == "error" and answer.error == "ValueError: boom" and answer.attempts == 1


def test_reask_on_invalid_answers_records_every_attempt(store):
    def invalid_then_valid(request, attempt):
        if attempt == 1:
            return BackendAnswer(text="I cannot pick a number.")
        return BackendAnswer(text="4")

    backend, log, _ = fk.scripted_backend(invalid_then_valid)
    parser = Parser("p", on_invalid="reask", reask=2)
    plan = one_model_plan(backend, personas=2, parser=parser)
    run(plan, store)
    for answer in store.iter_answers():
        assert (answer.parsed_code, answer.outcome, answer.attempts) == (4, "answered", 2)
        raw = [a.raw_text for a in store.iter_attempts(answer.request_id)]
        assert raw == ["I cannot pick a number.", "4"]


def test_reask_gives_up_after_n_and_stores_the_invalid_answer(store):
    backend, log, _ = fk.scripted_backend(lambda r, a: BackendAnswer(text="no idea"))
    parser = Parser("p", on_invalid="reask", reask=2)
    plan = one_model_plan(backend, personas=1, items=[fk.item("Q1")], parser=parser)
    report = run(plan, store)
    answer = next(store.iter_answers())
    assert (answer.outcome, answer.reason, answer.attempts) == ("invalid", "no admissible code", 3)
    assert report.counts["c"].invalid == 1


def test_invalid_answers_are_not_retried_without_reask(store):
    backend, log, _ = fk.scripted_backend(lambda r, a: BackendAnswer(text="no idea"))
    plan = one_model_plan(backend, personas=3, items=[fk.item("Q1")])
    run(plan, store)
    assert len(log) == 3
    assert {a.outcome for a in store.iter_answers()} == {"invalid"}


def test_batching_backends_get_batches(store):
    backend, log, _ = fk.scripted_backend(max_batch=4)
    plan = one_model_plan(backend, personas=5, concurrency=1)  # 10 requests
    run(plan, store)
    sizes = [call[1] for call in log if call[0] == "batch"]
    assert sizes == [4, 4, 2]
    assert store.count_answers() == 10


def test_batch_item_errors_are_retried_alone(store):
    def script(request, attempt):
        if request.persona == "P000" and attempt == 1:
            return TransientError("oom", status=None)
        return fk.first_code_answer(request, attempt)

    backend, log, _ = fk.scripted_backend(script, max_batch=8)
    plan = one_model_plan(backend, personas=2, items=[fk.item("Q1")], concurrency=1)
    run(plan, store)
    p0 = next(a for a in store.iter_answers() if a.persona == "P000")
    assert p0.outcome == "answered" and p0.attempts == 2


def test_concurrency_is_bounded_per_model(store):
    in_flight = {"now": 0, "max": 0}

    class Counting(RunListener):
        pass

    backend, log, cls = fk.scripted_backend(delay_s=0.01)
    original = cls.answer

    async def counted(self, request):
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        try:
            return await original(self, request)
        finally:
            in_flight["now"] -= 1

    cls.answer = counted
    plan = one_model_plan(backend, personas=20, concurrency=3)
    run(plan, store, listener=Counting())
    assert in_flight["max"] == 3
    assert store.count_answers() == 40


def test_provider_model_change_warns(store):
    def drifting(request, attempt):
        name = "gpt-a" if request.persona < "P003" else "gpt-b"
        return BackendAnswer(text="3", provider_model=name, system_fingerprint="fp1")

    backend, _, _ = fk.scripted_backend(drifting)
    plan = one_model_plan(backend, personas=6, items=[fk.item("Q1")], concurrency=1)
    report = run(plan, store)
    assert len(report.warnings) == 1
    assert "gpt-a" in report.warnings[0] and "gpt-b" in report.warnings[0]


def test_a_backend_that_cannot_start_stops_its_model_with_a_message(store):
    backend, _, _ = fk.scripted_backend(fail_on_start=KeyError("MISSING_KEY_VAR"))
    plan = one_model_plan(backend, personas=2, api_key_env="MISSING_KEY_VAR")
    report = run(plan, store)
    assert store.count_answers() == 0 and report.skipped == len(plan.requests)
    assert "MISSING_KEY_VAR" in report.stopped_models["m"]


def test_stop_cancels_in_flight_and_keeps_what_was_stored(store):
    backend, log, _ = fk.scripted_backend(delay_s=0.02)
    plan = one_model_plan(backend, personas=50, concurrency=2)

    async def main():
        executor = Executor(models=plan.header.models, conditions=plan.header.conditions,
                            items=plan.header.items, store=store, env={})

        class StopAfter(RunListener):
            def on_answer(self, record):
                if store.count_answers() >= 5:
                    executor.stop()

        executor.listener = StopAfter()
        return await executor.execute(plan.requests)

    report = asyncio.run(main())
    assert report.interrupted
    stored = store.count_answers()
    assert 5 <= stored < len(plan.requests)
    assert all(a.outcome == "answered" for a in store.iter_answers())


def test_backoff_is_capped_jittered_and_floored_by_retry_after():
    rng = random.Random(1)
    backoff = Backoff(base=2.0, max_s=10.0, jitter=True)
    assert all(0 <= backoff_delay(n, backoff, rng=rng) <= min(10.0, 2.0 * 2 ** (n - 1)) for n in range(1, 8))
    no_jitter = Backoff(base=2.0, max_s=10.0, jitter=False)
    assert [backoff_delay(n, no_jitter) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 10.0]
    assert backoff_delay(1, no_jitter, retry_after=7.0) == 7.0  # floored by Retry-After
    assert backoff_delay(1, no_jitter, retry_after=30.0) == 10.0  # ...but never past max_s
