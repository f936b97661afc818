"""`silspec finetune SPEC --baselines`: uniform, Avg_Culture and KNN scored on a tiny block's valid
and test splits, with values worked out by hand (and JS/EMD against scipy), the JSON file's
shape, the missing-embedding-package path, and the exit codes."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from rich.console import Console
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from silspec.cli.finetune import _baseline_tables
from silspec.cli.main import main
from silspec.finetune.baseline_eval import evaluate_baselines, report_json
from tests.finetune.conftest import SPEC, load, write_project

SPLITS = '''  train { countries = group(C1)  items = group(QA) }
  valid { countries = group(C1)  items = group(QA) }
  test { countries = ["CCC"]  items = [s.Q1] }'''
# train: AAA and CCC on Q2 and Q3 (CCC has no Q2 benchmark: 3 examples); valid: BBB on Q1 (an
# item train never asks, 4 options, which no train example has) and Q2 (whose only 2-option
# train example is AAA's); test: BBB on Q3 (10 options, two candidate neighbours).
BASELINE_SPLITS = '''  train { countries = ["AAA", "CCC"]  items = [s.Q2, s.Q3] }
  valid { countries = ["BBB"]  items = [s.Q1, s.Q2] }
  test { countries = ["BBB"]  items = [s.Q3] }'''

Q1_BBB = [0.1, 0.2, 0.3, 0.4]
Q2_BBB = [0.2, 0.8]
Q2_AAA = [0.9, 0.1]
Q3_AAA = np.array([50, 10, 10, 5, 5, 5, 5, 4, 3, 3]) / 100
Q3_CCC = np.array([5, 5, 5, 5, 5, 5, 10, 10, 20, 30]) / 100


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    assert SPLITS in SPEC
    return write_project(tmp_path_factory.mktemp("ft-baselines"), spec_text=SPEC.replace(SPLITS, BASELINE_SPLITS))


def one_minus_jsd(p, q):
    return 1 - float(jensenshannon(p, q))  # natural log, the paper's form


def js_div(p, q):
    return float(jensenshannon(p, q)) ** 2


def test_cli_scores_the_baselines_by_hand_and_writes_the_json(project, tmp_path, capsys):
    out_file = tmp_path / "nested" / "baselines.json"
    assert main(["finetune", str(project), "--baselines", "--out", str(out_file)]) == 0
    printed = capsys.readouterr().out
    assert "valid: 2 examples of 2 cells" in printed and "test: 1 examples of 1 cells" in printed
    assert "3 train examples" in printed and "1 cells without a benchmark skipped" in printed
    assert "Avg_Culture: 1 of 2 scored as uniform" in printed and "KNN: 1 of 2 scored as uniform" in printed
    assert "[ctrl]" in printed and "JSON-ZS" in printed and "bench/first_token_replication.py" in printed

    data = json.loads(out_file.read_text())
    assert set(data) == {"finetune", "limit_examples", "train", "knn", "splits", "not_computed"}
    assert data["finetune"] == "align" and data["knn"]["computed"] is True and data["knn"]["skipped_reason"] is None
    assert data["train"] == {"examples": 3, "countries": ["AAA", "CCC"], "items": ["s.Q2", "s.Q3"], "without_benchmark": 1}
    assert set(data["splits"]) == {"valid", "test"}
    assert set(data["not_computed"]) == {"[ctrl]", "JSON-ZS"}

    valid = data["splits"]["valid"]
    assert valid["examples"] == 2 and valid["cells"] == 2 and valid["without_benchmark"] == []
    assert list(valid["baselines"]) == ["uniform", "Avg_Culture", "KNN"]
    for row in valid["baselines"].values():
        assert set(row) == {"n", "1-JSD", "JS", "EMD_paper", "W1_ordinal", "n_ordinal", "modal_acc",
                            "fallbacks", "fallback_reason"}
        assert row["n"] == 2 and row["n_ordinal"] == 2

    uni = valid["baselines"]["uniform"]
    assert uni["1-JSD"] == pytest.approx((one_minus_jsd([0.25] * 4, Q1_BBB) + one_minus_jsd([0.5, 0.5], Q2_BBB)) / 2)
    assert uni["JS"] == pytest.approx((js_div([0.25] * 4, Q1_BBB) + js_div([0.5, 0.5], Q2_BBB)) / 2)
    assert uni["EMD_paper"] == pytest.approx((wasserstein_distance([0.25] * 4, Q1_BBB)
                                              + wasserstein_distance([0.5, 0.5], Q2_BBB)) / 2)
    # W1 over codes / range: Q1 (|.25-.1| + |.5-.3| + |.75-.6|) / 3 = 1/6; Q2 |.5-.2| = 0.3
    assert uni["W1_ordinal"] == pytest.approx((1 / 6 + 0.3) / 2)
    # a flat guess hits one of 4 tied modes on Q1 and one of 2 on Q2
    assert uni["modal_acc"] == pytest.approx((1 / 4 + 1 / 2) / 2)
    assert uni["fallbacks"] == 0

    # Avg_Culture: Q1 is not a train item (uniform, counted); Q2's mean over train countries is AAA's alone
    avg = valid["baselines"]["Avg_Culture"]
    assert avg["fallbacks"] == 1 and "not in the train split" in avg["fallback_reason"]
    assert avg["1-JSD"] == pytest.approx((one_minus_jsd([0.25] * 4, Q1_BBB) + one_minus_jsd(Q2_AAA, Q2_BBB)) / 2)
    assert avg["W1_ordinal"] == pytest.approx((1 / 6 + 0.7) / 2)
    assert avg["modal_acc"] == pytest.approx((1 / 4 + 0) / 2)

    # KNN: no 4-option train example for Q1 (uniform, counted); AAA's Q2 is the only 2-option one
    knn = valid["baselines"]["KNN"]
    assert knn["fallbacks"] == 1 and "same option count" in knn["fallback_reason"]
    assert {k: knn[k] for k in ("1-JSD", "JS", "EMD_paper", "W1_ordinal", "modal_acc")} == \
        pytest.approx({k: avg[k] for k in ("1-JSD", "JS", "EMD_paper", "W1_ordinal", "modal_acc")})
    assert valid["knn_neighbours"] == [
        {"item": "s.Q1", "country": "BBB", "neighbour_item": None, "neighbour_country": None},
        {"item": "s.Q2", "country": "BBB", "neighbour_item": "s.Q2", "neighbour_country": "AAA"},
    ]

    test = data["splits"]["test"]["baselines"]
    # BBB's Q3 is flat: the uniform guess is exact
    assert test["uniform"]["1-JSD"] == pytest.approx(1.0) and test["uniform"]["JS"] == pytest.approx(0.0, abs=1e-12)
    assert test["uniform"]["W1_ordinal"] == pytest.approx(0.0) and test["uniform"]["modal_acc"] == pytest.approx(1.0)
    mean_q3 = (Q3_AAA + Q3_CCC) / 2
    assert test["Avg_Culture"]["fallbacks"] == 0
    assert test["Avg_Culture"]["1-JSD"] == pytest.approx(one_minus_jsd(mean_q3, [0.1] * 10))
    # KNN (real MiniLM): BBB's Q3 prompt's neighbour is AAA's or CCC's Q3, and its target is taken whole
    (neighbour,) = data["splits"]["test"]["knn_neighbours"]
    assert neighbour["neighbour_item"] == "s.Q3" and neighbour["neighbour_country"] in {"AAA", "CCC"}
    taken = Q3_AAA if neighbour["neighbour_country"] == "AAA" else Q3_CCC
    assert test["KNN"]["1-JSD"] == pytest.approx(one_minus_jsd(taken, [0.1] * 10)) and test["KNN"]["fallbacks"] == 0


def test_without_the_embedding_package_only_knn_is_skipped_and_said(project):
    report = evaluate_baselines(load(project), embedding_package="silspec_no_such_embedding_package")
    assert report.knn_skipped is not None and "silspec_no_such_embedding_package" in report.knn_skipped
    assert "not installed" in report.knn_skipped
    for split in report.splits:
        assert [row.name for row in split.rows] == ["uniform", "Avg_Culture"] and split.knn_neighbours == ()
    data = report_json(report)
    assert data["knn"]["computed"] is False and "not installed" in data["knn"]["skipped_reason"]
    assert set(data["splits"]["valid"]["baselines"]) == {"uniform", "Avg_Culture"}
    json.dumps(data, allow_nan=False)

    buffer = io.StringIO()
    _baseline_tables(Console(file=buffer, width=200), report)
    printed = buffer.getvalue()
    assert "KNN skipped: " in printed and "silspec_no_such_embedding_package" in printed
    assert printed.count("skipped") >= 3  # a KNN row marked skipped in each split's table, and the reason


def test_limit_examples_is_recorded(project, tmp_path):
    report = evaluate_baselines(load(project), limit=1, embedding_package="silspec_no_such_embedding_package")
    valid = next(s for s in report.splits if s.split == "valid")
    assert valid.examples == 1 and valid.limited_from == 2 and report.limit_examples == 1
    assert report_json(report)["splits"]["valid"]["before_limit"] == 2
    assert not math.isnan(valid.rows[0].scores["1-JSD"])


@pytest.mark.parametrize("extra, message", [
    (["--max-steps", "2"], "--max-steps only apply to training"),
    (["--fresh", "--device", "cpu"], "--device, --fresh only apply to training"),
    (["--limit-examples", "0"], "--limit-examples must be at least 1"),
])
def test_training_options_are_usage_errors(project, capsys, extra, message):
    assert main(["finetune", str(project), "--baselines", *extra]) == 2
    assert message in capsys.readouterr().err


def test_out_must_be_a_file(project, tmp_path, capsys):
    assert main(["finetune", str(project), "--baselines", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_spec_errors_are_lint_messages_not_tracebacks(tmp_path, capsys):
    broken = write_project(tmp_path / "broken", spec_text=SPEC.replace("base = tiny", "base = nope"))
    assert main(["finetune", str(broken), "--baselines"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "SIL" in err and "nope" in err

    without = SPEC.split("finetune align {")[0] + "condition zs {" + SPEC.split("condition zs {", 1)[1]
    without = "\n".join(line for line in without.splitlines()
                        if not line.startswith(("model tiny_ft", "condition ft ", "  compare ft vs zs")))
    no_block = write_project(tmp_path / "noblock", spec_text=without)
    assert main(["finetune", str(no_block), "--baselines"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "declares no `finetune` block" in err
