"""The KGSS paper's published numbers, recomputed from its own recorded answers.

Data: `shared/data/kgss2023-indigenous-llm-paper/` (see its PROVENANCE.md). The tests skip when
the shared data folder is not present.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from silspec.analysis.compare import compare_items
from silspec.analysis.metrics import js_divergence, ks_test, pseudo_counts

ITEMS = ("CONFINAN", "CONLEGIS", "KRPROUD", "NORTHWHO", "UNIFI", "PARTYLR")
PAPER_JS_GPT52 = dict(zip(ITEMS, (0.062, 0.134, 0.113, 0.125, 0.267, 0.038)))
PAPER_JS_CLOVA = dict(zip(ITEMS, (0.062, 0.083, 0.134, 0.084, 0.115, 0.065)))
KGSS_2023_N = 1230
PAPER_DIR = Path("data") / "kgss2023-indigenous-llm-paper"


@pytest.fixture(scope="module")
def paper_data() -> Path:
    candidates = (Path(__file__).resolve().parents[2] / ".." / "shared", Path("/work/shared"))
    for shared in candidates:
        folder = shared / PAPER_DIR
        if (folder / "kgss_benchmarks_2023.paper.json").is_file():
            return folder
    pytest.skip("the KGSS paper data (shared/data/kgss2023-indigenous-llm-paper) is not present")


def ordered(mapping: dict) -> np.ndarray:
    return np.array([mapping[key] for key in sorted(mapping, key=int)], dtype=float)


@pytest.fixture(scope="module")
def paper_benchmark(paper_data) -> dict[str, np.ndarray]:
    distributions = json.loads((paper_data / "kgss_benchmarks_2023.paper.json").read_text())["distributions"]
    return {item: ordered(distributions[item]) for item in ITEMS}


@pytest.fixture(scope="module")
def gpt52_counts(paper_data) -> dict[str, np.ndarray]:
    metrics = json.loads((paper_data / "results" / "gpt52_seed42_metrics.json").read_text())
    return {item: ordered(metrics[item]["observed_counts"]) for item in ITEMS}


def clova_answers(paper_data, item):
    path = paper_data / "results" / f"clova_hcx007_seed42_{item}_clova_results.json"
    (result,) = json.loads(path.read_text(encoding="utf-8"))["results"]
    return result["raw_responses"]


def histogram(answers, k):
    return np.bincount(np.asarray(answers, dtype=int) - 1, minlength=k)


@pytest.fixture(scope="module")
def clova_counts(paper_data, paper_benchmark) -> dict[str, np.ndarray]:
    """Counts of the recorded answers, defaults included (what the paper's table used)."""
    return {
        item: histogram([r["answer"] for r in clova_answers(paper_data, item)], paper_benchmark[item].size)
        for item in ITEMS
    }


@pytest.fixture(scope="module")
def clova_valid_counts(paper_data, paper_benchmark) -> dict[str, np.ndarray]:
    """Counts of the answers that were really given: no default, no error."""
    return {
        item: histogram(
            [r["answer"] for r in clova_answers(paper_data, item) if not r["used_default"] and r["error"] is None],
            paper_benchmark[item].size,
        )
        for item in ITEMS
    }


@pytest.mark.parametrize("item", ITEMS)
def test_gpt52_js_matches_the_paper_to_three_decimals(item, gpt52_counts, paper_benchmark):
    assert round(js_divergence(gpt52_counts[item], paper_benchmark[item]), 3) == PAPER_JS_GPT52[item]


@pytest.mark.parametrize("item", ITEMS)
def test_clova_js_with_defaults_matches_the_paper_to_three_decimals(item, clova_counts, paper_benchmark):
    assert clova_counts[item].sum() == 100
    assert round(js_divergence(clova_counts[item], paper_benchmark[item]), 3) == PAPER_JS_CLOVA[item]


@pytest.mark.parametrize("item", ITEMS)
def test_clova_js_on_valid_answers_matches_the_authors_recomputation(
    item, paper_data, clova_valid_counts, paper_benchmark
):
    authors = json.loads((paper_data / "results" / "clova_hcx007_seed42_js_excluding_errors.json").read_text())
    recorded = authors["variables"][item]
    assert clova_valid_counts[item].sum() == recorded["n_valid"]
    assert js_divergence(clova_valid_counts[item], paper_benchmark[item]) == pytest.approx(
        recorded["filtered_js"], abs=1e-12
    )


def test_corrected_confinan_benchmark_gives_the_corrected_js(paper_data, gpt52_counts, clova_counts):
    """Against the KGSS 2023 codebook column renormalised over codes 1-3, both models give 0.065.

    CLARIFICATIONS.md says 0.068 for GPT-5.2; that does not reproduce (0.0652 here). The nearest
    reading, DK kept as a fourth category the model never used, gives 0.0675 -- pinned below too.
    """
    tidy = json.loads((paper_data / "kgss2023_benchmark_tidy.json").read_text(encoding="utf-8"))
    codebook = ordered(tidy["variables"]["CONFINAN"]["codebook_2023_pct_of_all"])  # 17.3/65.4/16.5
    assert round(js_divergence(gpt52_counts["CONFINAN"], codebook), 3) == 0.065
    assert round(js_divergence(clova_counts["CONFINAN"], codebook), 3) == 0.065
    assert js_divergence(gpt52_counts["CONFINAN"], codebook) != pytest.approx(
        js_divergence(gpt52_counts["CONFINAN"], [17.3, 65.4, 20.3]), abs=1e-3
    )
    with_dk = js_divergence(np.append(gpt52_counts["CONFINAN"], 0), np.append(codebook, 0.7))
    assert with_dk == pytest.approx(0.0675, abs=1e-4)


def test_clova_ks_pvalues_against_a_pseudo_sample_of_the_survey(clova_counts, paper_benchmark):
    """Benchmark sample = largest-remainder pseudo-counts of N = 1,230 (the paper does not say)."""
    pvalues = {
        item: ks_test(clova_counts[item], pseudo_counts(paper_benchmark[item], KGSS_2023_N)).pvalue
        for item in ITEMS
    }
    assert all(p < 0.05 for p in pvalues.values()), pvalues
    assert pvalues["CONFINAN"] == pytest.approx(0.0093, abs=0.0001)  # paper: 0.010
    assert 0.5 < pvalues["KRPROUD"] / 6.75e-20 < 2  # paper: 6.75e-20
    assert pvalues["KRPROUD"] == pytest.approx(6.53e-20, rel=0.01)


def test_the_papers_average_improvement(gpt52_counts, clova_counts, paper_benchmark):
    gpt = {item: js_divergence(gpt52_counts[item], paper_benchmark[item]) for item in ITEMS}
    clova = {item: js_divergence(clova_counts[item], paper_benchmark[item]) for item in ITEMS}
    result = compare_items(gpt, clova, without=["UNIFI"])
    assert round(result.improvement_of_means * 100, 1) == 26.5
    assert round(result.improvement_of_means_without * 100, 1) == 9.3
    assert result.n_improved == 3
