"""`--limit` pilots touch every condition and item; the summary says why requests failed; costs."""

from __future__ import annotations

import io

import attrs
import pytest
from rich.console import Console

from silspec.run.backends.base import PermanentError, TransientError
from silspec.run.error_groups import group_errors, looks_transient
from silspec.plan.pilot import limit_plan
from silspec.run.progress import print_dry_run, print_summary
from silspec.run.runner import dry_run, dry_run_costs, run_plan
from silspec.run.store import Store
from silspec.spec.model import Parser
from tests.run import _fakes as fk

PARSER = Parser("first")


def two_condition_plan(personas=4, backend=None, **model_kwargs):
    backend = backend or fk.scripted_backend()[0]
    items = [fk.item("Q1"), fk.item("Q2"), fk.item("Q3")]
    models = [fk.model("a", backend, **model_kwargs), fk.model("b", backend, **model_kwargs)]
    requests = fk.requests_for("base", "a", items, personas) + fk.requests_for("other", "b", items, personas)
    return fk.plan(models, {"base": ("a", PARSER), "other": ("b", PARSER)}, items, requests)


def render(draw) -> str:
    """What ``draw(console)`` prints, as plain text."""
    buffer = io.StringIO()
    draw(Console(file=buffer, width=400, color_system=None))
    return buffer.getvalue()


# ----------------------------------------------------------------------------------- --limit


def test_limit_keeps_per_condition_the_first_personas_across_all_items_in_plan_order():
    plan = two_condition_plan()  # plan order: item-major (Q1 × P000..P003, Q2 × ..., Q3 × ...)
    pilot = limit_plan(plan, 4)
    kept = [(r.condition, r.item, r.persona) for r in pilot.requests]
    assert kept == [
        ("base", "s.Q1", "P000"), ("base", "s.Q1", "P001"), ("base", "s.Q2", "P000"), ("base", "s.Q3", "P000"),
        ("other", "s.Q1", "P000"), ("other", "s.Q1", "P001"), ("other", "s.Q2", "P000"), ("other", "s.Q3", "P000"),
    ]
    positions = [plan.requests.index(r) for r in pilot.requests]
    assert positions == sorted(positions)  # the plan's own order
    assert pilot.header.limit == 4
    assert {n: c.n_requests for n, c in pilot.header.conditions.items()} == {"base": 4, "other": 4}
    assert pilot.plan_hash != plan.plan_hash


def test_limit_none_is_the_plan_and_zero_is_empty_and_negative_is_refused():
    plan = two_condition_plan()
    assert limit_plan(plan, None) is plan
    assert limit_plan(plan, 0).requests == ()
    assert len(limit_plan(plan, 1000).requests) == len(plan.requests)
    with pytest.raises(ValueError, match="zero or more"):
        limit_plan(plan, -1)


def test_a_pilot_run_asks_every_condition_and_records_the_limit_in_the_manifest(tmp_path):
    backend, log, _ = fk.scripted_backend()
    pilot = limit_plan(two_condition_plan(backend=backend), 3)
    summary = run_plan(pilot, tmp_path / "run", env={})
    assert summary.exit_code == 0 and len(log) == 6
    with Store.open(tmp_path / "run", create=False) as store:
        asked = {(a.condition, a.item) for a in store.iter_answers()}
        assert asked == {(c, f"s.Q{i}") for c in ("base", "other") for i in (1, 2, 3)}
        assert store.manifests()[-1]["limit"] == 3


def test_cli_help_documents_the_pilot(capsys):
    from silspec.cli.main import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")
    assert "persona-major" in text and "every condition, model and item" in text


# ------------------------------------------------------------------------------ error summary


def test_transient_and_permanent_errors_are_told_apart():
    assert looks_transient("HTTP 429: too many", 429) and looks_transient(None, 503)
    assert looks_transient("timed out after 5 s", None) and looks_transient("connection reset", None)
    assert not looks_transient("HTTP 400: bad request", 400) and not looks_transient("no answer", None)
    groups = group_errors([("x", 400, False)] * 3 + [("y", 429, False)] + [("y", 429, True)] * 2)
    assert [(g.message, g.count, g.transient, g.recorded) for g in groups] == [
        ("x", 3, False, False), ("y", 2, False, True), ("y", 1, True, False)]


def run_with(tmp_path, script, **model_kwargs):
    backend, _, _ = fk.scripted_backend(script)
    return run_plan(two_condition_plan(backend=backend, **model_kwargs), tmp_path / "run", env={})


def test_permanent_errors_are_grouped_and_do_not_suggest_a_plain_retry(tmp_path):
    def script(request, attempt):
        if request.item == "s.Q2":
            return PermanentError("HTTP 400: prompt too long", status=400)
        if request.item == "s.Q3" and request.persona == "P000":
            return PermanentError("HTTP 422: bad schema", status=422)
        return fk.first_code_answer(request, attempt)

    summary = run_with(tmp_path, script)
    assert summary.exit_code == 1 and summary.errors == 10 and not summary.retry_may_help
    assert [(g.message, g.count) for g in summary.error_groups] == [
        ("HTTP 400: prompt too long", 8), ("HTTP 422: bad schema", 2)]
    text = render(lambda console: print_summary(summary, console))
    assert "8 × (permanent) HTTP 400: prompt too long" in text
    assert "fix the cause and rerun with `--retry-errors`" in text
    assert "some errors look transient" not in text


def test_transient_errors_suggest_retry_errors(tmp_path):
    def script(request, attempt):
        if request.persona == "P001":
            return TransientError("HTTP 429: slow down", status=429)
        return fk.first_code_answer(request, attempt)

    summary = run_with(tmp_path, script, retries=0)
    assert summary.errors == 6 and summary.retry_may_help
    text = render(lambda console: print_summary(summary, console))
    assert "6 × (transient) HTTP 429: slow down" in text
    assert "`--retry-errors` asks failed requests again" in text


def test_only_the_top_five_messages_are_listed(tmp_path):
    def script(request, attempt):
        return PermanentError(f"HTTP 400: problem {request.persona}-{request.item}", status=400)

    summary = run_with(tmp_path, script)
    text = render(lambda console: print_summary(summary, console))
    assert "(top 5 of 12)" in text and text.count("× (permanent)") == 5
    assert "14 × other messages" in text  # 7 more messages, each from both conditions


# ------------------------------------------------------------------------------------- costs


def test_dry_run_prices_models_from_their_options_and_says_how_to_set_prices(tmp_path):
    backend, _, _ = fk.scripted_backend()
    items = [fk.item("Q1")]
    priced = fk.model("priced", backend, params={"max_tokens": 10},
                      options={"price_input_per_mtok": 1.25, "price_output_per_mtok": 10.0})
    free = fk.model("free", backend)
    plan = fk.plan([priced, free], {"a": ("priced", PARSER), "b": ("free", PARSER)}, items,
                   fk.requests_for("a", "priced", items, 4) + fk.requests_for("b", "free", items, 4))
    rows = dry_run(plan, tmp_path / "run")
    costs = {c.model: c for c in dry_run_costs(plan, rows)}
    prompt = next(r.prompt_tokens for r in rows if r.model == "priced")
    assert costs["priced"].cost == pytest.approx((prompt * 1.25 + 4 * 10 * 10.0) / 1e6)
    assert costs["priced"].completion_tokens == 40 and costs["free"].cost is None
    assert next(r.cost for r in rows if r.model == "priced") == pytest.approx(costs["priced"].cost)
    text = render(lambda console: print_dry_run(rows, console, "run", costs=list(costs.values())))
    assert "≈ cost priced:" in text and "× 1.25/Mtok" in text and "≤ 40 output tokens × 10/Mtok" in text
    assert "no cost estimate for free" in text and "`price_input_per_mtok = 1.25`" in text


def test_a_price_without_max_tokens_counts_input_only(tmp_path):
    backend, _, _ = fk.scripted_backend()
    items = [fk.item("Q1")]
    model = fk.model("m", backend, options={"price_input_per_mtok": "2", "price_output_per_mtok": 8})
    plan = fk.plan([model], {"c": ("m", PARSER)}, items, fk.requests_for("c", "m", items, 2))
    rows = dry_run(plan, tmp_path / "run")
    [cost] = dry_run_costs(plan, rows)
    assert cost.cost == pytest.approx(rows[0].prompt_tokens * 2 / 1e6)
    assert "output not counted: no max_tokens" in render(lambda console: print_dry_run(rows, console, "run", costs=[cost]))


def test_dry_run_prices_a_model_as_the_report_does_and_names_the_source(tmp_path):
    # One price lookup (silspec.run.prices.price_for) for `run --dry-run` and the report: an
    # openai model without prices in its block is priced from the shipped table, with its page
    # and date; a model nobody prices says why, and is never counted as free.
    from silspec.run.prices import price_for

    items = [fk.item("Q1")]
    shipped = attrs.evolve(fk.model("shipped", "openai", params={"max_tokens": 5}), model_id="gpt-4o-mini")
    unknown = attrs.evolve(fk.model("unknown", "openai"), model_id="no-such-model")
    plan = fk.plan([shipped, unknown], {"a": ("shipped", PARSER), "b": ("unknown", PARSER)}, items,
                   fk.requests_for("a", "shipped", items, 3, backend="openai")
                   + fk.requests_for("b", "unknown", items, 3, backend="openai"))
    rows = dry_run(plan, tmp_path / "run")
    costs = {c.model: c for c in dry_run_costs(plan, rows)}
    price = price_for(shipped)
    assert price.source == "prices file"
    prompt = next(r.prompt_tokens for r in rows if r.model == "shipped")
    assert costs["shipped"].cost == pytest.approx((prompt * price.input + 3 * 5 * price.output) / 1e6)
    assert costs["shipped"].price_source == "prices file" and costs["shipped"].currency == "USD"
    assert costs["unknown"].cost is None and costs["unknown"].price_source == "unknown"
    text = render(lambda console: print_dry_run(rows, console, "run", costs=list(costs.values())))
    assert "price: prices file, silspec/run/prices.toml:" in text and " USD (" in text
    assert "no cost estimate for unknown: no price for openai model 'no-such-model'" in text


def test_the_fast_pilot_equals_cutting_the_full_plan():
    """compile_pilot_plan renders only the personas a pilot reaches, and asks exactly the same."""
    from pathlib import Path

    from silspec.plan.compile import compile_plan
    from silspec.plan.pilot import compile_pilot_plan, limit_plan
    from silspec.spec.load import load_spec

    repo = Path(__file__).resolve().parents[2]
    spec = load_spec(str(repo / "specs" / "kgss_indigenous.sil")).spec
    full = compile_plan(spec)
    for limit in (0, 1, 5, 6, 7, 13, 600, 601):
        slow, fast = limit_plan(full, limit), compile_pilot_plan(spec, limit=limit)
        assert [r.id for r in fast.requests] == [r.id for r in slow.requests]
        assert fast.plan_hash == slow.plan_hash
        assert fast.header.conditions == slow.header.conditions
