"""The value-persona paper's figures from one run through the real pipeline (a tiny random hf
model on disk, real store, real report): the per-country Wilcoxon table, the MAE-vs-personas
curve and the Shapley values of an ablation over descriptor items."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import wilcoxon

from silspec.cli.main import main
from tests.helpers.tiny_model import build_tiny_model

SPEC = """silspec 1

study vp { seed = 5 }

scale s4 { 1 = "Very"  2 = "Rather"  3 = "Not very"  4 = "Not at all" }

survey s {
  benchmark = table("bench.csv", country = "{{ country }}", item = "{{ item }}")
  item Q1 { text = "Family important?"  scale = s4 }
  item Q2 { text = "Friends important?"  scale = s4 }
  item Q3 { text = "Work important?"  scale = s4 }
}

descriptors iw {
  item V1 { 1 = "You believe in God."  2 = "You do not believe in God." }
  item V2 { 1 = "You value obedience."  2 = "You value independence." }
  item V3 { 1 = "You are proud of your country."  2 = "You are not proud of your country." }
}

population people {
  sampling = rows
  rows = table("people.csv")
  id = "id"
  country_column = "country"
  descriptors = iw
}

template ask = "{{ item.text }} {{ item.scale_labels }} Answer:"
template roleplay = "You live in {{ country }}."
template persona = "You live in {{ country }}. {{ persona.text }}"

parser first { extract = first_integer }

model tiny { backend = hf  name = "tiny-gpt2"  path = file("models/tiny")  dtype = "float32" }

condition country_roleplay {
  model = tiny  countries = ["AAA", "BBB"]  items = s.*  prompt = ask  system = roleplay  parser = first
  answers = option_probs  option_labels = codes
}

condition value_personas extends country_roleplay { population = people  system = persona }

ablation iw_items { condition = value_personas  items = [V1, V2, V3] }

analysis {
  metric mae {}
  compare value_personas vs country_roleplay on mae by country
  curve value_personas { sizes = [1, 2, 3, 6, 50]  draws = 40  seed = 3 }
}
"""


def _project(root: Path) -> Path:
    (root / "silspec.toml").write_text("# root\n", encoding="utf-8")
    build_tiny_model(root / "models" / "tiny")
    rng = np.random.default_rng(0)
    with open(root / "people.csv", "w", newline="", encoding="utf-8") as fp:
        writer = csv.writer(fp)
        writer.writerow(["id", "country", "V1", "V2", "V3"])
        for country in ("AAA", "BBB"):
            for n in range(6):
                writer.writerow([f"{country}{n}", country, *rng.integers(1, 3, size=3)])
    with open(root / "bench.csv", "w", newline="", encoding="utf-8") as fp:
        writer = csv.writer(fp)
        writer.writerow(["country", "item", "code", "value"])
        for country, shares in (("AAA", (0.6, 0.2, 0.1, 0.1)), ("BBB", (0.1, 0.2, 0.3, 0.4))):
            for item in ("Q1", "Q2", "Q3"):
                for code, share in enumerate(shares, start=1):
                    writer.writerow([country, item, code, share])
    spec = root / "vp.sil"
    spec.write_text(SPEC, encoding="utf-8")
    return spec


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[dict, str, str, Path]:
    root = tmp_path_factory.mktemp("vp")
    spec = _project(root)
    run_dir = root / "run"
    assert main(["run", str(spec), "--out", str(run_dir), "--no-report", "--quiet"]) == 0
    assert main(["report", str(run_dir), "--format", "json", "--out", str(root / "r.json")]) == 0
    assert main(["report", str(run_dir), "--format", "html", "--out", str(root / "r.html")]) == 0
    assert main(["report", str(run_dir), "--format", "md", "--out", str(root / "r.md")]) == 0
    data = json.loads((root / "r.json").read_text(encoding="utf-8"))
    return data, (root / "r.html").read_text(encoding="utf-8"), (root / "r.md").read_text(encoding="utf-8"), spec


def test_plan_shows_the_ablation_size_before_anything_runs(tmp_path, capsys):
    spec = _project(tmp_path)
    assert main(["lint", str(spec)]) == 0
    out = capsys.readouterr()
    assert "SIL448" in out.out + out.err
    assert "7 new conditions" in out.out + out.err
    assert main(["plan", str(spec)]) == 0
    text = capsys.readouterr().out
    # 3 items: 8 subsets, the full one is value_personas: 7 × 3 items × 12 personas
    assert "ablation iw_items" in text and "7 subset conditions" in text and "252" in text


def test_ablation_personas_use_only_their_subset_of_descriptor_sentences(tmp_path):
    from silspec.plan.compile import compile_header, iter_requests
    from silspec.spec.load import load_spec

    spec = load_spec(str(_project(tmp_path))).spec
    header = compile_header(spec)
    texts = {}
    for request in iter_requests(spec, header):
        if request.item == "s.Q1" and request.persona.startswith("AAA0"):
            texts[request.condition] = request.messages[0].content
    full = texts["value_personas"]
    assert "God" in full and ("obedience" in full or "independence" in full) and "proud" in full
    assert texts["iw_items__000"].strip() == "You live in AAA."
    only_v2 = texts["iw_items__010"]
    assert "God" not in only_v2 and "proud" not in only_v2 and ("obedience" in only_v2 or "independence" in only_v2)
    assert len(texts) == 8


def test_per_country_wilcoxon_against_scipy(report):
    data, _, md, _ = report
    (comparison,) = [c for c in data["comparisons"] if c["variant"] == "with_defaults"]
    mae = {(r["condition"], r["code"], r["country"]): r["values"]["mae"] for r in data["items"]
           if r["variant"] == "with_defaults"}
    for country in comparison["by_country"]:
        a = [mae[("country_roleplay", q, country["country"])] for q in ("Q1", "Q2", "Q3")]
        b = [mae[("value_personas", q, country["country"])] for q in ("Q1", "Q2", "Q3")]
        assert country["n"] == 3 and country["mean_a"] == pytest.approx(np.mean(a))
        assert country["test"]["pvalue"] == pytest.approx(float(wilcoxon(a, b).pvalue))
    (table,) = data["country_tables"]
    assert table["conditions"][:2] == ["country_roleplay", "value_personas"]
    assert "zero_method='wilcox'" in table["test"]
    assert "mae by country (with defaults)" in md


def test_curve_from_stored_answers(report):
    data, html, md, _ = report
    (curve,) = data["curves"]
    assert curve["sizes"] == [1, 2, 3, 6] and curve["dropped_sizes"] == [50]
    series = {s["country"]: s for s in curve["series"]}
    assert set(series) == {None, "AAA", "BBB"}
    # every persona: one draw, equal to the run's own MAE averaged over the questions
    mae = [r["values"]["mae"] for r in data["items"]
           if r["variant"] == "with_defaults" and r["condition"] == "value_personas" and r["country"] == "AAA"]
    last = series["AAA"]["points"][-1]
    assert last["draws"] == 1 and last["mean"] == pytest.approx(np.mean(mae), abs=1e-12)
    first = series["AAA"]["points"][0]
    assert first["draws"] == 40 and first["low"] <= first["mean"] <= first["high"]
    assert "**mae against the number of personas: value_personas**" in md
    assert "Metric against the number of personas" in html and "vp" in html and 'alt="value_personas curve"' in html
    assert any("sizes 50 exceed" in w["message"] for w in data["warnings"])


def test_shapley_from_the_ablation(report):
    data, html, md, spec = report
    (result,) = data["shapley"]
    print(md)
    assert result["items"] == ["V1", "V2", "V3"] and result["method"] == "exact" and result["n_subsets"] == 8
    assert result["missing"] == []
    for row in result["rows"]:
        assert sum(row["values"]) == pytest.approx(row["full"] - row["empty"], abs=1e-12)
    assert "Item contributions (Shapley): ablation iw_items" in md
    assert "<h2>Item contributions</h2>" in html


def test_the_report_is_deterministic(report, tmp_path):
    data, _, _, spec = report
    run_dir = spec.parent / "run"
    assert main(["report", str(run_dir), "--format", "json", "--out", str(tmp_path / "again.json")]) == 0
    again = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))
    assert again["curves"] == data["curves"] and again["shapley"] == data["shapley"]


def test_the_report_summarises_the_ablation_subsets(report, tmp_path, capsys):
    data, html, md, spec = report
    (result,) = data["shapley"]
    assert len(result["conditions"]) == 7 and "value_personas" not in result["conditions"]
    # JSON keeps every subset's rows; the tables do not repeat them
    assert any(r["condition"] == "iw_items__010" for r in data["items"])
    assert "## iw_items__010: metrics per item" not in md and "## value_personas: metrics per item" in md
    assert "| ablation iw_items (7 subsets) | all | 252 |" in md
    assert "iw_items__010" not in html.split("<h2>Item contributions</h2>")[0].split("<h2>Format compliance</h2>")[1]
    capsys.readouterr()
    assert main(["report", str(spec.parent / "run")]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Item contributions (Shapley): ablation iw_items" in text
    assert "mae against the number of personas: value_personas" in text
    assert "value_personas vs country_roleplay on mae, per country" in text


def test_plan_announces_the_ablation_size_first(tmp_path, capsys):
    spec = _project(tmp_path)
    text = spec.read_text(encoding="utf-8").replace('id = "id"', 'id = "id"\n  size = 5')
    spec.write_text(text, encoding="utf-8")
    assert main(["plan", str(spec), "--format", "json", "--out", str(tmp_path / "plan.json")]) == 0
    # 7 subset conditions × 3 items × 2 countries × 5 personas
    assert "ablation iw_items: 3 descriptor items, 7 subset conditions (exact) = 210 requests" in capsys.readouterr().err
