"""`silspec descriptors`: a model behind a real backend writes the descriptor table the spec then
reads; its sidecar records model, parameters and prompts; it is frozen with the spec; an existing
table is never overwritten without --force; failed rows are kept empty, flagged and exit 1."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from silspec.cli.main import main
from silspec.run.descriptors import INSTRUCTIONS
from silspec.spec.load import load_spec
from tests.helpers import wvs_synthetic as wvs
from tests.servers.fixtures import TEST_API_KEY, start_chat_server

# the source study beside the checkout (../shared/seeds/), where this machine keeps it
SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seeds" / "calibrated-value-personas.txt"


def _project(tmp_path: Path, base_url: str) -> tuple[Path, Path]:
    spec, data = wvs.small_study(tmp_path / "project", fmt="csv", size=3)
    text = spec.read_text(encoding="utf-8")
    text += (f'\nmodel gen {{ backend = openai  name = "test-model"  base_url = "{base_url}"'
             '  api_key = env("OPENAI_API_KEY")  temperature = 0  max_tokens = 60 }\n')
    spec.write_text(text, encoding="utf-8")
    return spec, data


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_model_writes_the_table_the_spec_then_reads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    with start_chat_server(tmp_path) as server:
        spec, data = _project(tmp_path, server.url)
        monkeypatch.setenv("WVS_MICRODATA", str(data))
        out = "data/wvs7/descriptors_generated.csv"
        code = main(["descriptors", str(spec), "--descriptors", "inglehart_welzel", "--model", "gen",
                     "--instruction", "modular", "--out", out])
        sent = server.requests()
    assert code == 0
    root = spec.parent.parent
    rows = _rows(root / out)
    # every code of the 10 items: 10 + 5 + 10 + 5 + 3 + 3 + 4 + 10 + 3 + 2
    assert len(rows) == len(sent) == 55
    assert [(r["item"], r["code"]) for r in rows[:3]] == [("Q164", "1"), ("Q164", "2"), ("Q164", "3")]
    assert rows[0]["label"] == "Not at all important" and rows[9]["label"] == "Very important"
    # the scripted server answers with a number, not a "You ..." sentence: kept as written, flagged
    assert all(r["text"] and r["note"] == "does not start with 'You'" for r in rows)
    first = sent[0]["body"]["messages"]
    assert first[0] == {"role": "system", "content": INSTRUCTIONS["modular"]}
    assert "Write the snippet for this response: 1 = Not at all important" in first[1]["content"]
    assert "How important is God in your life?" in first[1]["content"]
    meta = json.loads((root / "data/wvs7/descriptors_generated.meta.json").read_text(encoding="utf-8"))
    assert meta["model"] == {"name": "gen", "backend": "openai", "model_id": "test-model",
                             "params": {"temperature": 0, "max_tokens": 60}}
    assert meta["instruction"]["variant"] == "modular" and meta["rows"] == 55 and meta["errors"] == []
    assert meta["prompts"][0]["messages"] == first
    assert TEST_API_KEY not in json.dumps(meta)
    # the spec reads the generated table, and its files (hence freeze) include table and sidecar
    text = spec.read_text(encoding="utf-8").replace("data/wvs7/descriptors_handwritten.csv", out)
    spec.write_text(text, encoding="utf-8")
    loaded = load_spec(str(spec), env={"WVS_MICRODATA": str(data)})
    assert loaded.spec.descriptors["inglehart_welzel"].sentences["Q164"][1] == rows[0]["text"]
    paths = {f.path for f in loaded.spec.files}
    assert {out, "data/wvs7/descriptors_generated.meta.json"} <= paths
    # frozen with the spec: editing the sidecar (or the table) makes the lock stale
    assert main(["freeze", str(spec)]) == 0
    assert main(["lint", "--frozen", str(spec)]) == 0
    sidecar = root / "data/wvs7/descriptors_generated.meta.json"
    sidecar.write_text(sidecar.read_text(encoding="utf-8").replace('"modular"', '"composable"'), encoding="utf-8")
    capsys.readouterr()
    assert main(["lint", "--frozen", str(spec)]) == 1
    assert "descriptors_generated.meta.json" in capsys.readouterr().out
    # never regenerated silently
    capsys.readouterr()
    again = main(["descriptors", str(spec), "--descriptors", "inglehart_welzel", "--model", "gen", "--out", out])
    assert again == 2
    assert "exists: descriptor tables are never regenerated silently; pass --force" in capsys.readouterr().err


def test_failed_rows_stay_empty_are_listed_and_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    faults = [{"fault": "400", "marker": "Write the snippet for this response: 2 = Quite happy"}]
    with start_chat_server(tmp_path, faults=faults) as server:
        spec, data = _project(tmp_path, server.url)
        out = "data/wvs7/generated.csv"
        code = main(["descriptors", str(spec), "--descriptors", "inglehart_welzel", "--model", "gen", "--out", out])
    assert code == 1
    root = spec.parent.parent
    rows = _rows(root / out)
    failed = [r for r in rows if r["note"].startswith("error")]
    assert [(r["item"], r["code"], r["text"]) for r in failed] == [("Q46", "2", "")]
    assert "failed Q46 2" in capsys.readouterr().err
    meta = json.loads((root / "data/wvs7/generated.meta.json").read_text(encoding="utf-8"))
    assert [e["item"] for e in meta["errors"]] == ["Q46"]
    # the spec that reads it says which answers have no sentence (SIL425), never silently
    spec.write_text(spec.read_text(encoding="utf-8").replace("data/wvs7/descriptors_handwritten.csv", out),
                    encoding="utf-8")
    loaded = load_spec(str(spec), env={"WVS_MICRODATA": str(data)})
    warnings = [d for d in loaded.diagnostics if d.code == "SIL425"]
    assert len(warnings) == 1 and "Q46 2" in warnings[0].message
    assert 2 not in loaded.spec.descriptors["inglehart_welzel"].sentences["Q46"]


def test_force_overwrites(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    with start_chat_server(tmp_path) as server:
        spec, _ = _project(tmp_path, server.url)
        out = "data/wvs7/gen.csv"
        (spec.parent.parent / out).write_text("item,code,text\n", encoding="utf-8")
        assert main(["descriptors", str(spec), "--descriptors", "inglehart_welzel", "--model", "gen",
                     "--out", out]) == 2
        assert main(["descriptors", str(spec), "--descriptors", "inglehart_welzel", "--model", "gen",
                     "--out", out, "--force"]) == 0
    assert len(_rows(spec.parent.parent / out)) == 55


@pytest.mark.parametrize("args, message", [
    (["--descriptors", "nope", "--model", "gen"], "has no `descriptors nope` block"),
    (["--descriptors", "sociodemographic", "--model", "gen"], "names no `items = survey.*`"),
    (["--descriptors", "inglehart_welzel", "--model", "gpt"], "has no `model gpt`"),
])
def test_usage_errors_say_what_is_wrong(tmp_path, capsys, args, message):
    spec, _ = _project(tmp_path, "http://127.0.0.1:9/v1")
    assert main(["descriptors", str(spec), *args, "--out", "data/x.csv"]) == 2
    assert message in capsys.readouterr().err


def test_the_instructions_are_the_papers_table_3_verbatim():
    if not SEED.exists():
        pytest.skip("the seed text is not in this checkout's shared folder")
    seed = " ".join(SEED.read_text(encoding="utf-8").split())
    for text in INSTRUCTIONS.values():
        assert " ".join(text.split()) in seed


def test_the_hf_backend_generates_a_table_too(tmp_path, monkeypatch):
    """Any backend: the tiny local transformers model (random weights, so only the plumbing)."""
    from tests.helpers.tiny_model import build_tiny_model

    model_dir = build_tiny_model(tmp_path / "tiny", n_positions=4096)  # the instructions are long
    spec, _ = wvs.small_study(tmp_path / "project", fmt="csv", size=3)
    (spec.parent.parent / "models").mkdir()
    import shutil

    shutil.copytree(model_dir, spec.parent.parent / "models" / "tiny")
    spec.write_text(spec.read_text(encoding="utf-8")
                    + '\nmodel tiny { backend = hf  name = "tiny"  path = "models/tiny"  temperature = 0  max_tokens = 8 }\n',
                    encoding="utf-8")
    assert main(["descriptors", str(spec), "--descriptors", "inglehart_welzel", "--model", "tiny",
                 "--out", "data/t.csv"]) in (0, 1)
    rows = _rows(spec.parent.parent / "data/t.csv")
    assert len(rows) == 55 and not [r for r in rows if r["note"].startswith("error")]


def test_a_provider_that_echoes_the_key_never_gets_it_into_the_table(tmp_path, monkeypatch, capsys):
    """A 401 whose body repeats the key sent (as some providers do): the failed rows' notes,
    the sidecar and the printed errors say the request failed, never the key."""
    wrong = "sk-wrong-secret-key-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    with start_chat_server(tmp_path, api_key=TEST_API_KEY) as server:
        spec, _ = _project(tmp_path, server.url)
        out = "data/wvs7/generated.csv"
        code = main(["descriptors", str(spec), "--descriptors", "inglehart_welzel", "--model", "gen", "--out", out])
    printed = capsys.readouterr()
    assert code == 1
    root = spec.parent.parent
    table = (root / out).read_text(encoding="utf-8")
    sidecar = (root / "data/wvs7/generated.meta.json").read_text(encoding="utf-8")
    assert "failed with HTTP 401" in table and "***" in table
    for text in (table, sidecar, printed.out, printed.err):
        assert wrong not in text and wrong[7:] not in text
