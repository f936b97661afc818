"""`replicates = 2` and `subgroups sex` through the real runner: a tiny transformers model from
disk (option probabilities), the SQLite store, an interrupted run resumed, and the report."""

from __future__ import annotations

import json
from pathlib import Path

import silspec
from silspec.cli.main import main
from silspec.plan.replicates import replicate_of
from tests.helpers.tiny_model import build_tiny_model

SPEC = """silspec 1

study reps { seed = 5  replicates = 2 }

scale two { 1 = "Yes"  2 = "No" }

survey s {
  item Q1 { text = "Trust?"  scale = two  benchmark = [60, 40] }
  item Q2 { text = "Vote?"  scale = two  benchmark = [30, 70] }
}

persona p { sex = { "f": 0.5, "m": 0.5 } }
population pop { persona = p  size = 4  sampling = stratified }

template ask = "{{ persona.sex }}: {{ item.text }} {{ item.scale_labels }} Answer:"

parser first { extract = first_integer }

model tiny {
  backend = hf
  name = "tiny-gpt2"
  path = file("models/tiny")
  dtype = "float32"
}

condition probs {
  model = tiny
  population = pop
  items = s.*
  prompt = ask
  parser = first
  answers = option_probs
}

analysis {
  metric js { log = e }
  bootstrap { resamples = 200  level = 0.95  seed = 2 }
  subgroups sex { items = [s.Q1]  benchmark = table("groups.csv", item = "{{ item }}") }
}
"""


def test_replicates_resume_and_report_over_runs_with_subgroups(tmp_path: Path, capsys) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "silspec.toml").write_text("# root\n", encoding="utf-8")
    (project / "groups.csv").write_text("item,sex,code,value\nQ1,f,1,30\nQ1,f,2,10\nQ1,m,1,20\nQ1,m,2,20\n",
                                        encoding="utf-8")
    build_tiny_model(project / "models" / "tiny")
    spec = project / "reps.sil"
    spec.write_text(SPEC, encoding="utf-8")
    run_dir = tmp_path / "run"

    assert main(["run", str(spec), "--out", str(run_dir), "--no-report", "--quiet", "--limit", "5"]) == 0
    first = {a.request_id for a in silspec.open_run(run_dir).answers()}
    assert len(first) == 5
    assert main(["run", str(spec), "--out", str(run_dir), "--no-report", "--quiet"]) == 0  # resumes
    answers = list(silspec.open_run(run_dir).answers())
    assert len(answers) == 2 * 2 * 4 and first <= {a.request_id for a in answers}
    assert sorted({replicate_of(a.persona) for a in answers}) == [1, 2]

    capsys.readouterr()
    assert main(["report", str(run_dir), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    runs = data["replicate_runs"]
    assert [r["run"] for r in runs["runs"]] == ["replicate 1", "replicate 2"]
    assert all(r["n_answers"] == 8 for r in runs["runs"])
    js = next(r for r in runs["rows"] if r["key"] == "js" and r["item"] == "Q1" and r["variant"] == "with_defaults")
    assert js["spread"]["n"] == 2 and js["seed_ci"]["resamples"] == 10_000 and js["persona_ci"] is not None
    groups = [r for r in data["subgroups"] if r["variant"] == "with_defaults"]
    assert [r["group"] for r in groups] == ["f", "m"]
    assert sum(r["personas"] for r in groups) == 8  # 4 personas in each of the 2 replicates
    assert all(r["n"] == r["personas"] and "js" in r["values"] for r in groups)
