"""Tokens and cost from a real run against the test server (real HTTP on 127.0.0.1): the
provider's token counts reach the store, the report's cost and the answers table, and answers
reused from the results cache cost nothing in the run that reused them."""

from __future__ import annotations

import csv
import json

import pytest

from silspec import api
from silspec.cli.main import main
from silspec.run.store import Store

SPEC = """\
silspec 1
study costly { seed = 1 }
scale agree3 { 1 = "Agree"  2 = "Neither"  3 = "Disagree" }
survey s {
  item Q1 { text = "Cats are better than dogs."  scale = agree3  benchmark = [40%, 20%, 40%] }
}
persona people { age = { "18-39": 0.5, "40+": 0.5 } }
population sample { persona = people  sampling = stratified  size = 4 }
parser first { extract = first_integer }
model priced { backend = openai  name = "test-model"  base_url = "BASE_URL"  retries = 0
               price_input_per_mtok = 2.0  price_output_per_mtok = 8.0 }
model unpriced { backend = openai  name = "test-model"  base_url = "BASE_URL"  retries = 0  temperature = 0.5 }
condition paid { model = priced  population = sample  items = s.*  parser = first
                 prompt = "Respondent aged {{ persona.age }}. {{ item.text }} Answer: {{ item.scale_labels }}" }
condition free extends paid { model = unpriced }
analysis { metric js {} }
"""


@pytest.fixture
def spec(chat_server_factory, tmp_path):
    server = chat_server_factory()
    path = tmp_path / "costly.sil"
    path.write_text(SPEC.replace("BASE_URL", server.url), encoding="utf-8")
    return path


def test_the_report_costs_the_stored_tokens_and_names_the_price(spec, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["run", str(spec), "--out", str(run_dir), "--quiet", "--no-report"]) == 0
    with Store.open(run_dir, create=False) as store:
        stored = [a for a in store.iter_answers() if a.condition == "paid"]
    assert stored and all(a.prompt_tokens and a.completion_tokens for a in stored)
    prompt = sum(a.prompt_tokens for a in stored)
    completion = sum(a.completion_tokens for a in stored)

    results = api.open_run(run_dir).results()
    paid, free = (next(u for u in results.usage if u.condition == c) for c in ("paid", "free"))
    assert (paid.prompt_tokens, paid.completion_tokens) == (prompt, completion)
    assert paid.cost == pytest.approx((prompt * 2.0 + completion * 8.0) / 1e6) and paid.price_source == "spec"
    # "test-model" is in no price table: unknown, warned, never 0
    assert free.cost is None and free.price_source == "unknown"
    assert any(w.kind == "price_unknown" and w.condition == "free" for w in results.warnings)

    assert main(["report", str(run_dir)]) == 0
    text = capsys.readouterr().out
    assert "Tokens and cost" in text and f"{paid.cost:.4f}" in text and "unknown" in text

    assert main(["report", str(run_dir), "--answers", "--out", str(tmp_path / "a.csv")]) == 0
    with open(tmp_path / "a.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    paid_rows = [r for r in rows if r["condition"] == "paid"]
    assert sum(float(r["cost"]) for r in paid_rows) == pytest.approx(paid.cost)
    assert all(r["cost"] == "" and r["prompt_tokens"] for r in rows if r["condition"] == "free")
    report = json.loads(api.open_run(run_dir).report("json"))
    assert {u["condition"]: u["price_source"] for u in report["usage"]} == {"paid": "spec", "free": "unknown"}


def test_cached_answers_cost_nothing_in_the_run_that_reused_them(spec, tmp_path, capsys):
    cache = tmp_path / "cache"
    assert main(["run", str(spec), "--out", str(tmp_path / "a"), "--cache", str(cache), "--quiet", "--no-report"]) == 0
    assert main(["run", str(spec), "--out", str(tmp_path / "b"), "--cache", str(cache), "--quiet", "--no-report"]) == 0
    first = next(u for u in api.open_run(tmp_path / "a").results().usage if u.condition == "paid")
    again = next(u for u in api.open_run(tmp_path / "b").results().usage if u.condition == "paid")
    assert first.cost > 0 and first.cached == 0
    assert again.cached == again.answers == first.answers and again.cost == 0.0
    frame_rows = api.open_run(tmp_path / "b").answers(frame=True)
    assert frame_rows["cached"].all()
