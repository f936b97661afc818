"""``replicates = N``: N replicate runs in one plan (derived seeds, the replicate in every request
id) and the report across them, checked against an independent percentile bootstrap."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from silspec.analysis.pipeline import analyse
from silspec.plan import compile_plan
from silspec.plan.replicates import replicate_of, replicate_seed
from silspec.run.records import AnswerRecord
from silspec.spec.load import load_text

SPEC = """silspec 1
study s {{ title = "t"  seed = 3 {study} }}
scale s3 {{ 1 = "a"  2 = "b"  3 = "c" }}
survey sv {{ item Q1 {{ text = "q?"  scale = s3  benchmark = [20, 50, 30] }} }}
persona p {{ gender = {{ "m": 0.5, "f": 0.5 }} }}
population pop {{ persona = p  size = 6  sampling = random }}
parser fi {{ extract = first_integer  valid = scale  on_invalid = none }}
template tp = "{{{{ persona.gender }}}}: {{{{ item.text }}}}"
model m {{ backend = openai  name = "gpt-x"  api_key = env("OPENAI_API_KEY")  temperature = 1.0 }}
condition a {{ model = m  population = pop  items = sv.*  prompt = tp  parser = fi {condition} }}
analysis {{ metric js {{ log = e }}  bootstrap {{ resamples = 300  level = 0.95  seed = 9 }} }}
"""


def spec(tmp_path, study="", condition=""):
    (tmp_path / "silspec.toml").write_text("", encoding="utf-8")
    loaded = load_text(SPEC.format(study=study, condition=condition), str(tmp_path / "s.sil"))
    assert loaded.spec is not None, [str(d) for d in loaded.diagnostics]
    return loaded.spec


def answered(request, code: int, replicate: int = 0) -> AnswerRecord:
    """Condition a's model answering `request` with `code` (raw text and parsed alike)."""
    return AnswerRecord(request_id=request.id, condition="a", model="m", model_id="gpt-x", item=request.item,
                        persona=request.persona, replicate=replicate, answers="sampled", params={}, prompt_hash="",
                        outcome="answered", raw_text=str(code), parsed_code=code)


def test_replicates_are_runs_under_derived_seeds_with_distinct_request_ids(tmp_path):
    plain = compile_plan(spec(tmp_path))
    three = compile_plan(spec(tmp_path, study="replicates = 3"))
    assert len(three.requests) == 3 * len(plain.requests) == 18
    assert [replicate_of(r.persona) for r in three.requests] == [1] * 6 + [2] * 6 + [3] * 6
    assert len({r.id for r in three.requests}) == 18  # the replicate is part of every request id
    assert {r.persona for r in plain.requests} == {f"P00{i}" for i in range(1, 7)}  # no prefix without replicates
    again = compile_plan(spec(tmp_path, study="replicates = 3"))
    assert [r.id for r in again.requests] == [r.id for r in three.requests]  # deterministic: resume works
    genders = [tuple(three.header.personas[f"rep{k}/P00{i}"].attributes["gender"] for i in range(1, 7)) for k in (1, 2, 3)]
    assert len(set(genders)) > 1  # each replicate drew its own personas
    assert len({replicate_seed(3, k) for k in (1, 2, 3)}) == 3


def test_a_condition_overrides_the_study(tmp_path):
    plan = compile_plan(spec(tmp_path, study="replicates = 4", condition="replicates = 2"))
    assert len(plan.requests) == 12


CODES = {1: [1, 2, 2, 3, 3, 3], 2: [2, 2, 2, 2, 3, 1], 3: [1, 1, 2, 3, 2, 2], 4: [3, 3, 3, 2, 2, 1], 5: [2, 2, 3, 2, 2, 2]}


def test_the_report_across_replicate_runs_matches_an_independent_percentile_bootstrap(tmp_path):
    s = spec(tmp_path, study="replicates = 5")
    plan = compile_plan(s)
    records = []
    for request in plan.requests:
        run, index = replicate_of(request.persona), int(request.persona[-1]) - 1
        code = CODES[run][index]
        records.append(answered(request, code, replicate=request.replicate))
    results = analyse(s, records)
    runs = results.replicate_runs
    assert [r.run for r in runs.runs] == [f"replicate {k}" for k in range(1, 6)]
    assert [r.seed for r in runs.runs] == [replicate_seed(3, k) for k in range(1, 6)]
    assert all(r.n_answers == 6 for r in runs.runs)
    row = next(r for r in runs.rows if r.key == "js" and r.variant == "with_defaults")
    bench = np.array([0.2, 0.5, 0.3])
    js = [jensenshannon(np.bincount(CODES[k], minlength=4)[1:] / 6, bench) ** 2 for k in range(1, 6)]
    assert row.spread.values == pytest.approx(js)
    assert row.spread.mean == pytest.approx(np.mean(js)) and row.spread.sd == pytest.approx(np.std(js, ddof=1))
    # the KGSS authors' across-seed bootstrap, written out: 10,000 resamples of the 5 run values
    rng = np.random.default_rng(9)  # the spec's bootstrap seed
    data = np.array(js)
    means = [data[rng.integers(0, 5, size=5)].mean() for _ in range(10_000)]
    low, high = np.percentile(means, [2.5, 97.5])
    assert row.seed_ci.resamples == 10_000 and (row.seed_ci.low, row.seed_ci.high) == pytest.approx((low, high), abs=1e-15)
    # and the exact bootstrap distribution (all 5^5 resamples) agrees to Monte Carlo precision
    exact = np.array([data[list(pick)].mean() for pick in itertools.product(range(5), repeat=5)])
    assert row.seed_ci.low == pytest.approx(np.quantile(exact, 0.025), abs=0.003)
    assert data.min() <= row.seed_ci.low <= row.seed_ci.high <= data.max()
    # the within-run persona bootstrap, each end averaged over the runs
    assert row.persona_ci is not None and row.persona_ci.resamples == 300


def test_every_report_format_shows_the_replicate_runs(tmp_path):
    import csv
    import io

    from silspec.report.export import to_csv, to_json, to_markdown
    from silspec.report.html import to_html

    s = spec(tmp_path, study="replicates = 2")
    plan = compile_plan(s)
    records = [answered(r, 1 + i % 3) for i, r in enumerate(plan.requests)]
    results = analyse(s, records)
    data = json.loads(to_json(results))
    assert len(data["replicate_runs"]["runs"]) == 2 and data["replicate_runs"]["rows"]
    from silspec.analysis.results import Results

    assert json.loads(to_json(Results.from_dict(data))) == data  # the nested aggregate reads back
    md = to_markdown(results)
    assert "## Across replicate runs" in md and "seeds CI" in md
    rows = list(csv.DictReader(io.StringIO(to_csv(results))))
    js = next(r for r in rows if r["key"] == "js" and r["variant"] == "with_defaults" and not r["subgroup"])
    assert js["replicates"] == "2" and js["replicate_ci_low"] != ""
    assert "<h2>Across replicate runs</h2>" in to_html(results, plots=False)


def test_the_console_report_prints_the_runs_with_both_intervals(tmp_path):
    from rich.console import Console

    from silspec.report.console import print_report

    s = spec(tmp_path, study="replicates = 3")
    plan = compile_plan(s)
    records = [answered(r, 1 + i % 3) for i, r in enumerate(plan.requests)]
    console = Console(record=True, width=80)
    print_report(analyse(s, records), console)
    text = console.export_text()
    assert "Across 3 replicate runs" in text and "metrics over runs" in text
    assert "seeds 95% CI" in text and "personas 95% CI" in text
