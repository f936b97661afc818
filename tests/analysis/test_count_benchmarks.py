"""`unit = count` benchmarks (GSS tables): counts become shares by their own sum, n is recorded
and used where a metric uses n (two-sample chi-square, KS), and nothing is warned about."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chisquare, ks_2samp

from silspec.analysis.pipeline import analyse
from silspec.run.records import AnswerRecord
from silspec.spec.load import load_text

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sil" / "valid" / "benchmark_count.sil"
COUNTS = (412, 530, 238)


def spec():
    text = FIXTURE.read_text(encoding="utf-8").replace(
        "metric chi2 {}", "metric chi2 {}  metric ks {}")
    result = load_text(text, str(FIXTURE), env={"HF_HUB_OFFLINE": "1"})
    assert result.ok, [d.message for d in result.diagnostics]
    return result.spec


def answers(codes):
    return [AnswerRecord(request_id=f"r{i}", condition="c", model="m", model_id="gpt-4o-mini",
                         item="gss.CONFINAN", persona=f"P{i}", replicate=0, answers="sampled", params={},
                         prompt_hash="", outcome="answered", raw_text=str(code)) for i, code in enumerate(codes)]


def test_counts_become_shares_with_their_n_and_no_warning():
    results = analyse(spec(), answers([1] * 10 + [2] * 25 + [3] * 15))
    (bench,) = [b for b in results.benchmarks if b.item == "gss.CONFINAN"]
    assert bench.unit == "count" and bench.values == COUNTS and bench.n == 1180
    assert bench.proportions == pytest.approx(tuple(c / 1180 for c in COUNTS))
    assert not bench.renormalised and bench.missing_share == 20
    assert not [w for w in results.warnings if w.kind.startswith("benchmark")]


def test_ks_compares_with_the_table_itself_and_chi_square_with_its_shares():
    """KS reads the benchmark as a sample of n = 1,180 (exactly the table's respondents);
    chi-square tests the simulated counts against the shares."""
    simulated = [10, 25, 15]
    results = analyse(spec(), answers([1] * 10 + [2] * 25 + [3] * 15))
    (row,) = [r for r in results.item_metrics("c") if r.code == "CONFINAN" and r.variant == "with_defaults"]
    ks = ks_2samp(np.repeat([1, 2, 3], simulated), np.repeat([1, 2, 3], COUNTS))
    assert row.values["ks_statistic"] == pytest.approx(ks.statistic)
    assert row.values["ks_pvalue"] == pytest.approx(ks.pvalue)
    expected = np.array(COUNTS) / 1180 * sum(simulated)
    chi = chisquare(simulated, expected)
    assert row.values["chi2_statistic"] == pytest.approx(chi.statistic)
    assert row.values["chi2_pvalue"] == pytest.approx(chi.pvalue)


@pytest.mark.parametrize("missing", [0.7, 0.2, None])
def test_a_percent_benchmark_short_of_100_is_only_an_info_note_never_a_warning(missing):
    """Declared `missing` or not, the drop is shown as an info note (lint: SIL415 / SIL403 / SIL404);
    the report never raises a warning for a benchmark short of 100 %."""
    from silspec.spec.model import Benchmark
    from tests.analysis.test_pipeline import answers_for, make_spec

    bench = Benchmark("main", (10.0, 40.0, 39.3, 10.0), unit="percent", missing_share=missing)
    results = analyse(make_spec(conditions=("a",), benchmarks=(bench,)), answers_for("a", "Q1", [1, 2, 3, 4]))
    (note,) = [w for w in results.warnings if w.kind == "benchmark_renormalised"]
    assert note.severity == "info" and ("declared non-substantive share" in note.message) == (missing is not None)
    (info,) = [b for b in results.benchmarks if b.item == "s.Q1"]
    assert info.proportions == pytest.approx(tuple(v / 99.3 for v in bench.values))
