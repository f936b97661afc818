"""The proof: the KGSS paper's recorded answers reproduce its published table.

Inputs: ``data/kgss2023/replay/*.csv`` (the paper's answers, converted with provenance) and
``data/kgss2023/benchmarks.csv``. The spec is built in Python (``kgss_fixture``) so the analysis
is pinned independently of the language front end; when ``specs/kgss_paper_replay.sil`` and the
loader exist, the same numbers are checked through the real spec too.
"""

from __future__ import annotations

import io
import json

import pytest

from kgss_fixture import ITEMS, REFERENCE, build_spec, inputs_present, load_records, ROOT

pytestmark = pytest.mark.skipif(
    not inputs_present(), reason="KGSS replay inputs (data/kgss2023/replay/*.csv, benchmarks.csv) not shipped yet"
)

PAPER_JS = {
    "gpt52": (0.062, 0.134, 0.113, 0.125, 0.267, 0.038),
    "clova": (0.062, 0.083, 0.134, 0.084, 0.115, 0.065),
}
CLOVA_DEFAULT_RATES = {"CONFINAN": 62, "CONLEGIS": 63, "KRPROUD": 59, "UNIFI": 69}


@pytest.fixture(scope="module")
def records():
    return load_records()


@pytest.fixture(scope="module")
def paper(records):
    from silspec.analysis.pipeline import analyse

    return analyse(build_spec(default_benchmark="paper"), records)


@pytest.mark.parametrize("condition", ["gpt52", "clova"])
def test_js_table_matches_the_paper_to_three_decimals(paper, condition):
    values = tuple(round(paper.metric(condition, item, "js"), 3) for item in ITEMS)
    assert values == PAPER_JS[condition]


def test_corrected_codebook_confinan(records):
    """Against the codebook_2023 CONFINAN vector (17.3/65.4/16.5 renormalised over codes 1-3).

    CLARIFICATIONS.md says 0.068 for GPT-5.2; every construction we tried gives 0.0652
    (renormalised, the spec's own comment agrees) or 0.0675 (DK kept as a 4th code): the 0.068
    could not be reproduced, so the computed value is pinned. CLOVA's 0.065 matches.
    """
    from silspec.analysis.pipeline import analyse

    results = analyse(build_spec(default_benchmark="codebook_2023", bootstrap=False), records)
    assert round(results.metric("clova", "CONFINAN", "js"), 3) == 0.065
    assert results.metric("gpt52", "CONFINAN", "js") == pytest.approx(0.06516, abs=5e-5)
    # the other five items' codebook vectors equal the paper's
    for item in ITEMS[1:]:
        assert round(results.metric("gpt52", item, "js"), 3) == PAPER_JS["gpt52"][ITEMS.index(item)]


def test_valid_only_matches_the_authors_excluding_errors_file(paper):
    reference = json.loads((REFERENCE / "clova_hcx007_seed42_js_excluding_errors.json").read_text())["variables"]
    for item in ITEMS:
        expected = reference[item]
        row = [r for r in paper.item_metrics("clova", "valid_only") if r.code == item][0]
        assert row.n == expected["n_valid"]
        assert row.values["js"] == pytest.approx(expected["filtered_js"], rel=1e-9)
        assert paper.metric("clova", item, "js") == pytest.approx(expected["original_js"], rel=1e-9)


def test_all_six_clova_ks_pvalues_are_significant_and_of_the_papers_order(paper):
    pvalues = {item: paper.metric("clova", item, "ks_pvalue") for item in ITEMS}
    assert all(p < 0.05 for p in pvalues.values()), pvalues
    # CLARIFICATIONS.md: the N = 1,230 pseudo-sample gives CONFINAN 0.0093 (paper 0.010) and
    # KRPROUD 5.7e-20-ish (paper 6.75e-20)
    assert pvalues["CONFINAN"] == pytest.approx(0.0093, abs=5e-4)
    assert 1e-20 < pvalues["KRPROUD"] < 1e-19


def test_comparison_average_improvement(paper):
    (comparison,) = [c for c in paper.comparisons if c.variant == "with_defaults"]
    assert (comparison.a, comparison.b) == ("gpt52", "clova")
    assert round(comparison.improvement_of_means * 100, 1) == 26.5
    assert round(comparison.improvement_without * 100, 1) == 9.3


def test_clova_defaults_are_loud_and_traced_to_failed_requests(paper):
    for item, rate in CLOVA_DEFAULT_RATES.items():
        row = [c for c in paper.compliance if c.condition == "clova" and c.item.endswith(item)][0]
        assert row.defaulted == rate and row.defaulted_from_error == rate and row.error == rate
        (warning,) = [w for w in paper.warnings if w.kind == "defaults" and w.item == row.item]
        assert warning.severity == "high" and f"{rate}%" in warning.message and "failed requests" in warning.message


def test_console_report_shows_table_and_warnings_first(paper):
    from rich.console import Console

    from silspec.report.console import print_report

    buffer = io.StringIO()
    print_report(paper, Console(file=buffer, width=200, no_color=True))
    text = buffer.getvalue()
    assert text.index("WARNINGS") < text.index("Format compliance") < text.index("metrics per item")
    for rate in CLOVA_DEFAULT_RATES.values():
        assert f"{rate}% of answers" in text
    for value in PAPER_JS["clova"] + PAPER_JS["gpt52"]:
        assert f"{value:.3f}" in text
    assert "+26.5 %" in text and "+9.3 %" in text


def test_through_the_real_replay_spec_when_the_loader_exists(records):
    spec_file = ROOT / "specs" / "kgss_paper_replay.sil"
    load = pytest.importorskip("silspec.spec.load", reason="spec loader (silspec.spec.load) not built yet")
    if not spec_file.exists():
        pytest.skip("specs/kgss_paper_replay.sil not shipped yet")
    loaded = load.load_spec(spec_file)
    assert loaded.ok, [getattr(d, "message", d) for d in loaded.diagnostics]
    from attrs import evolve

    from silspec.analysis.pipeline import analyse

    names = {"gpt52": "baseline", "clova": "indigenous"}
    renamed = [evolve(r, condition=names[r.condition], model=r.condition) for r in records]
    results = analyse(loaded.spec, renamed)
    for condition, name in names.items():
        assert tuple(round(results.metric(name, item, "js"), 3) for item in ITEMS) == PAPER_JS[condition]
