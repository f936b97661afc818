"""The subgroup example live on SmolLM2-135M (CPU): KRPROUD by age group against the real KGSS
2023 counts, 12 personas (1-3 per age group), sampled and option_probs. Slow tier: the model
loads once."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.helpers.smollm2_project import smollm2_project

EXAMPLE = "examples/kgss_krproud_by_age.sil"
# KGSS 2023 respondents per age group behind each group's KRPROUD benchmark (the row totals)
BENCH_N = {"30 or younger": 128, "31-40": 179, "41-50": 216, "51-60": 285, "61-70": 270, "71 or older": 141}

pytestmark = pytest.mark.slow


@pytest.fixture()
def project(tmp_path):
    return smollm2_project(tmp_path)


def test_krproud_by_age_group_on_smollm2(project, capsys):
    from silspec.cli.main import main
    from silspec.plan import compile_header
    from silspec.spec.load import load_spec

    spec_path = str(project / EXAMPLE)
    size = ["--set", "population.kgss_adults.size=12"]
    assert main(["run", spec_path, *size, "--quiet", "--no-report"]) == 0
    run_dir = project / "runs" / "kgss_krproud_by_age"
    capsys.readouterr()
    assert main(["report", str(run_dir), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)

    spec = load_spec(spec_path, size[1:]).spec
    header = compile_header(spec)
    planned = Counter(header.personas[p].attributes["age_group"] for p in header.conditions["sampled"].persona_ids)
    assert sum(planned.values()) == 12

    for condition in ("sampled", "option_probs"):
        check_condition(data, condition, planned)
    probs = [r for r in data["subgroups"] if r["condition"] == "option_probs" and r["variant"] == "with_defaults"]
    assert all(r["n"] == r["personas"] for r in probs)  # probabilities: every persona counts
    for row in probs:
        if row["n"]:
            assert row["values"]["js"] >= 0 and "js" in row["intervals"]

    joints = [j for j in data["joints"] if j["variant"] == "with_defaults"]
    sampled = next(j for j in joints if j["condition"] == "sampled")
    assert sampled["benchmark"] is None and "marginal only" in sampled["note"]
    assert sum(map(sum, sampled["counts"])) == sampled["n"] <= 12
    probs_joint = next(j for j in joints if j["condition"] == "option_probs")
    assert probs_joint["n"] == 0 and "probability vectors" in probs_joint["note"]


def check_condition(data, condition, planned):
    rows = [r for r in data["subgroups"] if r["variant"] == "with_defaults" and r["condition"] == condition]
    assert [r["group"] for r in rows] == list(BENCH_N)  # every group, in the benchmark's order
    for row in rows:
        assert row["attribute"] == "age_group" and row["item"] == "kgss2023.KRPROUD"
        assert row["benchmark_n"] == BENCH_N[row["group"]]
        assert row["personas"] == planned.get(row["group"], 0)  # the plan's personas of that group
        assert 0 <= row["n"] <= row["personas"]
        if row["n"]:
            assert row["values"]["js"] >= 0 and row["intervals"]["js"]["low"] <= row["values"]["js"]
        else:
            assert row["values"] == {} and row["reason"]  # never silently dropped
    compliance = next(c for c in data["compliance"] if c["item"] == "kgss2023.KRPROUD" and c["condition"] == condition)
    assert sum(r["n"] for r in rows) == compliance["answered"]
