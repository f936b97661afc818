"""Subgroup metrics and joint tables of item pairs, end to end through ``analyse``: a spec with a
`subgroups sex { ... }` block and a `joint` pair, stored answers made by hand, and every number
checked against a computation written out here (scipy's Jensen-Shannon distance, Cramér's V from
its formula)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from silspec.analysis.pipeline import analyse
from silspec.plan import compile_header
from silspec.run.records import AnswerRecord
from silspec.spec.load import load_spec

SPEC = """silspec 1
study s { title = "t"  seed = 5 }
scale s3 { 1 = "a"  2 = "b"  3 = "c"  missing = [-8] }
survey sv {
  n = 500
  item Q1 { text = "q1?"  scale = s3  benchmark = [20, 30, 50] }
  item Q2 { text = "q2?"  scale = s3  benchmark = [50, 30, 20] }
}
persona p { sex = { "f": 0.5, "m": 0.5 } }
population pop { persona = p  size = 8  sampling = stratified }
parser fi { extract = first_integer  valid = scale  on_invalid = none }
template tp = "{{ persona.sex }}: {{ item.text }}"
model m { backend = openai  name = "gpt-x"  api_key = env("OPENAI_API_KEY") }
condition a { model = m  population = pop  items = sv.*  prompt = tp  parser = fi }
analysis {
  metric js { log = e }
  bootstrap { resamples = 500  level = 0.9  seed = 1 }
  subgroups sex {
    items = [sv.Q1]
    benchmark = table("groups.csv", item = "{{ item }}")
    unit = count
  }
  joint q1_q2 {
    items = [sv.Q1, sv.Q2]
    benchmark = table("joint.csv")
    unit = count
  }
  joint q1_q2_marginal { items = [sv.Q1, sv.Q2] }
}
"""

GROUPS = """item,sex,code,value
Q1,f,1,10
Q1,f,2,20
Q1,f,3,60
Q1,f,-8,10
Q1,x,1,5
Q1,x,2,5
Q1,x,3,5
"""

JOINT = """Q1,Q2,value
1,1,30
1,2,10
1,3,0
2,1,10
2,2,30
2,3,10
3,1,0
3,2,10
3,3,100
-8,1,7
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("sg")
    (root / "silspec.toml").write_text("", encoding="utf-8")
    (root / "groups.csv").write_text(GROUPS, encoding="utf-8")
    (root / "joint.csv").write_text(JOINT, encoding="utf-8")
    (root / "s.sil").write_text(SPEC, encoding="utf-8")
    loaded = load_spec(str(root / "s.sil"))
    assert loaded.spec is not None, [str(d) for d in loaded.diagnostics]
    spec = loaded.spec
    personas = compile_header(spec).personas
    sex = {pid: personas[pid].attributes["sex"] for pid in spec_persona_ids(spec)}
    return spec, sex, loaded.diagnostics


def spec_persona_ids(spec):
    header = compile_header(spec)
    return list(header.conditions["a"].persona_ids)


def record(item, persona, code, outcome="answered"):
    return AnswerRecord(
        request_id=f"{item}{persona}", condition="a", model="m", model_id="gpt-x", item=f"sv.{item}", persona=persona,
        replicate=0, answers="sampled", params={}, prompt_hash="", outcome=outcome,
        raw_text=str(code) if code is not None else "no", parsed_code=code,
    )


# women answer Q1 3,3,3,1 and men 2,2,1,(invalid); Q2 as below, one woman's Q2 missing (unpaired)
def answers(sex):
    women = [p for p, s in sex.items() if s == "f"]
    men = [p for p, s in sex.items() if s == "m"]
    q1 = dict(zip(women, (3, 3, 3, 1))) | dict(zip(men, (2, 2, 1, None)))
    q2 = dict(zip(women[:3], (3, 2, 3))) | dict(zip(men, (1, 2, 1, 2)))
    out = [record("Q1", p, c, "answered" if c is not None else "invalid") for p, c in q1.items()]
    out += [record("Q2", p, c) for p, c in q2.items()]
    return out, q1, q2


def test_the_lint_is_clean_and_the_design_has_both_groups(setup):
    spec, sex, diagnostics = setup
    assert sorted(sex.values()) == ["f"] * 4 + ["m"] * 4
    codes = {d.code for d in diagnostics}
    assert "SIL461" in codes and "SIL462" in codes  # x is never produced; m has no benchmark row
    assert "SIL468" in codes  # the marginal-only pair


def test_every_group_is_a_row_with_n_and_a_reason_when_it_has_no_metrics(setup):
    spec, sex, _ = setup
    records, _, _ = answers(sex)
    results = analyse(spec, records)
    rows = {r.group: r for r in results.subgroups if r.variant == "with_defaults"}
    assert list(rows) == ["f", "x", "m"]  # the benchmark's groups in table order, then the population's others
    f, x, m = rows["f"], rows["x"], rows["m"]
    assert (f.n, f.personas, f.benchmark_n) == (4, 4, 90)  # the -8 row (10) is not part of n
    assert f.probs == pytest.approx((0.25, 0.0, 0.75))
    assert f.benchmark_probs == pytest.approx((10 / 90, 20 / 90, 60 / 90))
    assert f.values["js"] == pytest.approx(jensenshannon([0.25, 0, 0.75], [10 / 90, 20 / 90, 60 / 90]) ** 2)
    ci = f.intervals["js"]
    assert ci.level == 0.9 and ci.resamples == 500 and ci.low <= f.values["js"] <= ci.high
    assert x.n == 0 and x.personas == 0 and not x.values and "no persona of this group" in x.reason
    assert x.benchmark_n == 15
    assert m.n == 3 and m.personas == 4 and not m.values and "no benchmark row for sex = 'm'" in m.reason
    assert m.probs == pytest.approx((1 / 3, 2 / 3, 0.0))


def test_subgroup_intervals_are_there_without_a_bootstrap_block(setup):
    from attrs import evolve

    spec, sex, _ = setup
    bare = evolve(spec, analysis=evolve(spec.analysis, bootstrap=None))
    results = analyse(bare, answers(sex)[0])
    f = next(r for r in results.subgroups if r.group == "f" and r.variant == "with_defaults")
    assert f.intervals["js"].resamples == 1000 and f.intervals["js"].level == 0.95


def cramers_v_by_hand(table):
    table = np.asarray(table, dtype=float)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    n = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = ((table - expected) ** 2 / expected).sum()
    return math.sqrt(chi2 / (n * (min(table.shape) - 1)))


def test_the_joint_table_against_the_benchmark_cross_tabulation(setup):
    spec, sex, _ = setup
    records, q1, q2 = answers(sex)
    results = analyse(spec, records)
    row = next(r for r in results.joints if r.name == "q1_q2" and r.variant == "with_defaults")
    expected = np.zeros((3, 3))
    for persona, code in q1.items():
        if code is not None and persona in q2:
            expected[code - 1, q2[persona] - 1] += 1
    assert np.array_equal(np.asarray(row.counts), expected)
    assert row.n == 6 and row.unpaired == 2  # a woman's Q1 without Q2; a man's Q2 whose Q1 is invalid
    bench = np.array([[30, 10, 0], [10, 30, 10], [0, 10, 100]], dtype=float)
    assert row.benchmark_n == 200  # the -8 row (7) is left out
    assert np.asarray(row.benchmark) == pytest.approx(bench / 200)
    assert row.js == pytest.approx(jensenshannon((expected / 6).ravel(), (bench / 200).ravel()) ** 2)
    assert row.cramers_v == pytest.approx(cramers_v_by_hand(expected))
    assert row.cramers_v_benchmark == pytest.approx(cramers_v_by_hand(bench))
    assert -1 < row.polychoric < 1 and row.polychoric_benchmark > 0.7
    assert row.note is None


def test_a_pair_without_a_cross_tabulation_says_so_and_shows_the_simulated_association(setup):
    spec, sex, _ = setup
    records, _, _ = answers(sex)
    results = analyse(spec, records)
    row = next(r for r in results.joints if r.name == "q1_q2_marginal" and r.variant == "with_defaults")
    assert row.benchmark is None and row.js is None and row.cramers_v_benchmark is None
    assert row.cramers_v is not None and row.polychoric is not None
    assert "marginal only" in row.note and "no distance" in row.note


def test_every_report_format_has_the_subgroup_and_joint_sections(setup):
    import csv
    import io
    import json

    from silspec.analysis.results import Results
    from silspec.report.export import to_csv, to_json, to_markdown
    from silspec.report.html import to_html

    spec, sex, _ = setup
    results = analyse(spec, answers(sex)[0])
    data = json.loads(to_json(results))
    assert data["schema_version"] == 7
    assert {r["group"] for r in data["subgroups"]} == {"f", "m", "x"}
    assert Results.from_dict(data).subgroups == results.subgroups
    md = to_markdown(results)
    assert "## Subgroups" in md and "a: Q1 by sex (with defaults)" in md and "no benchmark row for sex = 'm'" in md
    assert "## Joint distributions" in md and "marginal only" in md
    rows = list(csv.DictReader(io.StringIO(to_csv(results))))
    groups = {(r["group"], r["key"]) for r in rows if r["subgroup"] == "sex" and r["variant"] == "with_defaults"}
    assert ("f", "js") in groups and ("m", "") in groups and ("x", "") in groups
    assert any(r["metric"] == "joint" and r["key"] == "cramers_v" and r["value"] for r in rows)
    html = to_html(results, plots=False)
    assert "<h2>Subgroups</h2>" in html and "<h2>Joint distributions</h2>" in html


def test_the_console_report_prints_the_subgroup_and_joint_tables(setup):
    from rich.console import Console

    from silspec.report.console import print_report

    spec, sex, _ = setup
    console = Console(record=True, width=220)
    print_report(analyse(spec, answers(sex)[0]), console)
    text = console.export_text()
    assert "a: Q1 by sex (with defaults)" in text and "no benchmark row for sex = 'm'" in text
    assert "[low, high] = percentile bootstrap" in text  # not eaten as markup
    assert "joint distributions of item pairs (with defaults)" in text and "q1_q2_marginal" in text


def test_joint_intervals_are_a_persona_bootstrap_written_out_by_hand(setup):
    """Resample the personas (each keeps its pair) with the spec's bootstrap seed: the same
    multinomial draws give the same percentiles for the joint JS and Cramér's V."""
    spec, sex, _ = setup
    records, q1, q2 = answers(sex)
    row = next(r for r in analyse(spec, records).joints if r.name == "q1_q2" and r.variant == "with_defaults")
    pairs = [(q1[p], q2[p]) for p in q1 if q1[p] is not None and p in q2]  # persona order of the answers
    per_persona = np.zeros((len(pairs), 9))
    for i, (a, b) in enumerate(pairs):
        per_persona[i, (a - 1) * 3 + (b - 1)] = 1
    rng = np.random.default_rng(1)  # bootstrap { seed = 1 }, 500 resamples, level 0.9
    weights = rng.multinomial(len(pairs), np.full(len(pairs), 1 / len(pairs)), size=500)
    bench = (np.array([[30, 10, 0], [10, 30, 10], [0, 10, 100]]) / 200).ravel()
    js = [jensenshannon(w @ per_persona / len(pairs), bench) ** 2 for w in weights]
    v = [cramers_v_by_hand((w @ per_persona).reshape(3, 3)) if min(((w @ per_persona).reshape(3, 3).sum(axis=a) > 0).sum() for a in (0, 1)) > 1 else math.nan
         for w in weights]
    assert (row.intervals["js"].low, row.intervals["js"].high) == pytest.approx(tuple(np.quantile(js, [0.05, 0.95])))
    v = np.array(v)
    assert (row.intervals["cramers_v"].low, row.intervals["cramers_v"].high) == pytest.approx(
        tuple(np.quantile(v[np.isfinite(v)], [0.05, 0.95])))
    assert row.intervals["js"].level == 0.9 and row.intervals["js"].resamples == 500
    assert row.intervals["js"].estimate == pytest.approx(row.js)


def test_probability_answers_have_no_joint_codes_and_say_so(setup):
    from silspec.analysis.distributions import ScoredAnswer
    from silspec.analysis.joints import joint_rows

    spec, _, _ = setup
    pair = next(p for p in spec.analysis.joints if p.name == "q1_q2")

    def probs(item, persona):
        return ScoredAnswer(condition="a", item=f"sv.{item}", persona=persona, replicate=0, answers="option_probs",
                            outcome="answered", option_probs={1: 0.2, 2: 0.3, 3: 0.5})

    rows = joint_rows(spec, pair, "a", [probs("Q1", "P1"), probs("Q1", "P2")], [probs("Q2", "P1")], [("js", {})])
    assert [r.variant for r in rows] == ["with_defaults", "valid_only"]
    assert all(r.n == 0 and r.counts == () and r.unpaired == 3 and "probability vectors" in r.note for r in rows)
    assert all(r.js is None and r.cramers_v is None for r in rows)
