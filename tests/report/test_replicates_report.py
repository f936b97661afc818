"""The report shows the spread over replicates, per-item paired tests, and aggregates over runs."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
from attrs import evolve

from replicate_results import replicate_results
from silspec.report.export import md_comparison, md_compliance, md_metrics, to_csv
from silspec.report.format import pvalue
from silspec.report.output import report_text


@pytest.fixture(scope="module")
def results():
    return replicate_results()


def test_console_metrics_table_has_the_sd_over_replicates_column(results):
    text = report_text(results, "text")
    assert "JS ± SD over 3 replicates" in text
    spread = results.item_metrics("a")[0].across_replicates["js"]
    assert f"{spread.mean:.3f} ± {spread.sd:.3f}" in text
    assert "paired over replicates" in text and "(k = 3)" in text


def test_markdown_tables_carry_the_spread_and_the_per_item_test(results):
    table = md_metrics(results, "a")
    assert "JS ± SD over 3 replicates" in table.splitlines()[0]
    comparison = [c for c in results.comparisons if c.variant == "with_defaults"][0]
    md = md_comparison(comparison)
    assert "paired t-test over replicates" in md.splitlines()[0]
    assert f"p = {pvalue(comparison.rows[0].replicate_pvalue)} (k = 3)" in md


def test_csv_rows_carry_replicate_mean_sd_and_count(results):
    rows = list(csv.DictReader(io.StringIO(to_csv(results))))
    (js,) = [r for r in rows if (r["condition"], r["item"], r["variant"], r["key"]) == ("a", "s.Q1", "with_defaults", "js")]
    spread = results.item_metrics("a")[0].across_replicates["js"]
    assert float(js["replicate_mean"]) == pytest.approx(spread.mean)
    assert float(js["replicate_sd"]) == pytest.approx(spread.sd) and js["replicates"] == "3"
    assert float(js["replicate_ci_low"]) == pytest.approx(spread.seed_ci.low)
    assert float(js["replicate_ci_high"]) == pytest.approx(spread.seed_ci.high)


def test_replicates_carry_the_across_seed_bootstrap_of_their_values(results):
    """samples = 3: each replicate is one simulated survey under its own seed; the interval is
    the KGSS percentile bootstrap of the 3 replicate values (seed 0: the spec declares no
    bootstrap), computed here by hand."""
    import numpy as np

    spread = results.item_metrics("a")[0].across_replicates["js"]
    values = np.array(spread.values)
    rng = np.random.default_rng(0)
    means = [values[rng.integers(0, 3, size=3)].mean() for _ in range(10_000)]
    assert (spread.seed_ci.low, spread.seed_ci.high) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))
    assert values.min() <= spread.seed_ci.low < spread.seed_ci.high <= values.max()


def test_json_schema_version_and_fields(results):
    data = json.loads(report_text(results, "json"))
    assert data["schema_version"] == 7 and data["study"]["seed"] == 3
    item = data["items"][0]
    assert item["replicates"] == [0, 1, 2]
    assert set(item["across_replicates"]["js"]) == {"mean", "sd", "n", "values", "seed_ci"}
    row = data["comparisons"][0]["rows"][0]
    assert row["replicates"] == 3 and 0 <= row["replicate_pvalue"] <= 1


def test_compliance_markdown_shows_valid_mass_only_for_option_probs(results):
    assert "valid mass" not in md_compliance(results)
    low = evolve(results, compliance=tuple(evolve(c, mean_valid_mass=0.3) for c in results.compliance))
    table = md_compliance(low)
    assert "valid mass" in table.splitlines()[0] and "**0.300**" in table


# ----------------------------------------------------------------------- several run dirs


def _make_run(tmp_path, name, seed, records):
    from silspec.run.store import Store

    from kgss_fixture import ROOT

    load = pytest.importorskip("silspec.spec.load")
    spec_path = ROOT / "specs" / "kgss_paper_replay.sil"
    loaded = load.load_spec(str(spec_path))
    spec = loaded.spec
    run = tmp_path / name
    for relative in [spec.path] + [f.path for f in spec.files]:
        target = run / "bundle" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / relative, target)
    overrides = [["study.kgss_paper_replay.seed", str(seed)]]
    (run / "plan_header.json").write_text(json.dumps({"header": {"spec_path": spec.path, "overrides": overrides}}))
    names = {"gpt52": "baseline", "clova": "indigenous"}
    with Store.open(run, create=True) as store:
        for record in records:
            store.record_answer(evolve(record, condition=names[record.condition]))
    return run


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from kgss_fixture import ROOT, inputs_present, load_records

    if not (inputs_present() and (ROOT / "specs" / "kgss_paper_replay.sil").exists()):
        pytest.skip("KGSS replay spec and inputs not shipped yet")
    records = load_records()
    tmp = tmp_path_factory.mktemp("runs")
    first = _make_run(tmp, "seed1", 1, records)
    # the second run: every GPT-5.2 CONFINAN answer says 2, so its JS differs between runs
    changed = [
        evolve(r, raw_text="2", outcome="answered", error=None) if (r.condition, r.item.endswith("CONFINAN")) == ("gpt52", True) else r
        for r in records
    ]
    second = _make_run(tmp, "seed2", 2, changed)
    return first, second


@pytest.fixture(scope="module")
def aggregate(two_runs):
    from silspec.report.load import analyse_runs

    return analyse_runs(list(two_runs))


def test_report_over_run_dirs_aggregates_mean_sd_n(two_runs, tmp_path):
    """Through the CLI: JSON to a file and a manuscript block filled in the same call."""
    from silspec.cli.main import main
    from silspec.report.load import analyse_run

    out = tmp_path / "runs.json"
    doc = tmp_path / "paper.md"
    doc.write_text("<!-- silspec:runs_baseline -->\n<!-- /silspec:runs_baseline -->\n", encoding="utf-8")
    argv = ["report", str(two_runs[0]), str(two_runs[1]), "--format", "json", "--out", str(out), "--update-doc", str(doc)]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert [r["seed"] for r in data["runs"]] == [1, 2]
    by_key = {(r["condition"], r["item"], r["variant"], r["key"]): r["spread"] for r in data["rows"]}
    values = [analyse_run(run).metric("baseline", "CONFINAN", "js") for run in two_runs]
    spread = by_key[("baseline", "CONFINAN", "with_defaults", "js")]
    assert spread["n"] == 2 and spread["mean"] == pytest.approx(sum(values) / 2)
    assert spread["sd"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
    assert by_key[("indigenous", "UNIFI", "with_defaults", "js")]["sd"] == pytest.approx(0.0)
    assert "JS (mean ± SD)" in doc.read_text() and "CONFINAN" in doc.read_text()


def test_single_run_dir_list_behaves_like_one_dir(two_runs, capsys):
    from silspec.report.output import write_report
    from silspec.analysis.results import Results

    assert isinstance(write_report([two_runs[0]], format="json"), Results)
    assert json.loads(capsys.readouterr().out)["schema_version"] == 7


def test_runs_report_in_text_csv_md_html(aggregate):
    from silspec.report.output import runs_report_text

    text = runs_report_text(aggregate, "text")
    assert "2 runs aggregated" in text and "seed 2" in text and "CONFINAN" in text
    rows = list(csv.DictReader(io.StringIO(runs_report_text(aggregate, "csv"))))
    assert rows and rows[0]["runs"] == "2" and len(rows[0]["values"].split(";")) == 2
    assert "| item | runs | JS (mean ± SD)" in runs_report_text(aggregate, "md")
    page = runs_report_text(aggregate, "html")
    assert "<table>" in page and "seed" in page


def test_report_over_the_same_seed_twice_warns(two_runs):
    from silspec.report.load import analyse_runs

    aggregate = analyse_runs([two_runs[0], two_runs[0]])
    assert any(w.kind == "same_seed" for w in aggregate.warnings)


def test_runs_carry_the_across_seed_and_the_persona_interval(aggregate, two_runs):
    """Each aggregated row's across-seed CI is the bootstrap of its run values (the spec's
    bootstrap seed 42 and level), and its persona CI the runs' persona intervals averaged."""
    import numpy as np

    from silspec.report.load import analyse_run

    row = next(r for r in aggregate.rows if (r.condition, r.item, r.variant, r.key) == ("baseline", "CONFINAN", "with_defaults", "js"))
    values = [analyse_run(run).metric("baseline", "CONFINAN", "js") for run in two_runs]
    assert values[0] != values[1]
    rng = np.random.default_rng(42)
    data = np.array(values)
    means = data[rng.integers(0, 2, size=(10_000, 2))].mean(axis=1)
    assert (row.seed_ci.low, row.seed_ci.high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert min(values) <= row.seed_ci.low <= row.seed_ci.high <= max(values)
    lows = [next(i for i in analyse_run(run).items if (i.condition, i.code, i.variant) == ("baseline", "CONFINAN", "with_defaults")).intervals["js"].low for run in two_runs]
    assert row.persona_ci.low == pytest.approx(sum(lows) / 2)


def test_the_runs_text_table_keeps_the_item_column_at_80_columns(aggregate):
    import io

    from rich.console import Console

    from silspec.report.console import print_runs_report

    buffer = io.StringIO()
    print_runs_report(aggregate, Console(file=buffer, width=80, color_system=None))
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    for code in ("CONFINAN", "CONLEGIS", "KRPROUD", "NORTHWHO", "UNIFI", "PARTYLR"):
        assert f"│ {code}" in text  # the item column, in every table
    assert "(1/2)" in text and "seeds 95% CI" in text and "personas 95% CI" in text
    assert "never wider than the 2 values" in text
    md = __import__("silspec.report.output", fromlist=["runs_report_text"]).runs_report_text(aggregate, "md")
    assert "JS seeds 95% CI" in md


def test_the_report_over_runs_says_what_each_run_paid(two_runs, tmp_path):
    # Each run's tokens and cost (priced as the single-run report prices it), and all runs' total,
    # in text, JSON and Markdown; a replayed model is billed nothing and says so.
    from kgss_fixture import load_records

    from silspec.report.load import analyse_runs
    from silspec.report.output import runs_report_text

    priced = [evolve(r, prompt_tokens=100, completion_tokens=2) for r in load_records()]
    runs = [_make_run(tmp_path, f"priced{seed}", seed, priced) for seed in (1, 2)]
    for run in runs:  # a price in the model block wins over the replay backend's "nothing billed"
        header = json.loads((run / "plan_header.json").read_text())
        header["header"]["overrides"] += [["model.gpt52.price_input_per_mtok", "2"],
                                         ["model.gpt52.price_output_per_mtok", "10"]]
        (run / "plan_header.json").write_text(json.dumps(header))
    aggregate = analyse_runs(runs)
    n_gpt = sum(1 for r in priced if r.condition == "gpt52")
    per_run = n_gpt * (100 * 2 + 2 * 10) / 1e6
    data = json.loads(runs_report_text(aggregate, "json"))
    for run in data["runs"]:
        by_condition = {u["condition"]: u for u in run["usage"]}
        assert by_condition["baseline"]["cost"] == pytest.approx(per_run)
        assert by_condition["baseline"]["price_source"] == "spec" and by_condition["indigenous"]["cost"] == 0
    text = runs_report_text(aggregate, "text")
    assert f"cost {per_run:.4f}" in text and f"all runs: cost {2 * per_run:.4f}" in text
    md = runs_report_text(aggregate, "md")
    assert "| run | seed | stored answers | prompt tokens | completion tokens | cost |" in md
    assert f"| total |  | {2 * len(priced)} | {2 * 100 * len(priced):,} | {2 * 2 * len(priced):,} | {2 * per_run:.4f} |" in md
    assert "price: " in md and "replayed answers" in md
