"""`silspec report --answers --format csv|parquet` and `open_run(...).answers(frame=True)`: one
tidy table, the same columns and item ids everywhere, checked against the store; streamed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

import silspec
from silspec.cli.main import main
from silspec.report import answers_table
from silspec.run.store import Store

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "kgss_paper_replay.sil"


@pytest.fixture(scope="module")
def replay(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("replay")
    silspec.run_spec(SPEC, out=run_dir)
    return run_dir


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_has_one_row_per_stored_answer_matching_the_store(replay, tmp_path):
    out = tmp_path / "answers.csv"
    assert main(["report", str(replay), "--answers", "--out", str(out)]) == 0
    rows = read_csv(out)
    with Store.open(replay, create=False) as store:
        stored = list(store.iter_answers())
    assert len(rows) == len(stored) == 1200
    assert [r["request_id"] for r in rows] == [a.request_id for a in stored]
    for row, answer in zip(rows, stored):
        assert row["raw_text"] == (answer.raw_text or "")  # multi-line replies survive quoting
        assert row["parsed_code"] == ("" if answer.parsed_code is None else str(answer.parsed_code))
        assert (row["outcome"], row["item"], row["condition"]) == (answer.outcome, answer.item, answer.condition)
    assert {r["outcome"] for r in rows} == {"answered", "error"}
    assert sum(r["outcome"] == "error" for r in rows) == 253  # CLOVA's HTTP 429s, kept as rows


def test_persona_attributes_are_columns_from_the_plan(replay, tmp_path):
    out = tmp_path / "answers.csv"
    main(["report", str(replay), "--answers", "--format", "csv", "--out", str(out)])
    rows = read_csv(out)
    header = json.loads((replay / "plan_header.json").read_text(encoding="utf-8"))["header"]
    attributes = header["personas"]["P001"]["attributes"]
    assert list(rows[0])[6:12] == ["persona", *(f"persona.{a}" for a in sorted(attributes))]
    first = next(r for r in rows if r["persona"] == "P001")
    assert {a: first[f"persona.{a}"] for a in attributes} == attributes


def test_item_ids_are_the_same_in_every_format(replay, tmp_path, capsys):
    main(["report", str(replay), "--answers", "--out", str(tmp_path / "a.csv")])
    main(["report", str(replay), "--format", "csv", "--out", str(tmp_path / "r.csv")])
    main(["report", str(replay), "--format", "json", "--out", str(tmp_path / "r.json")])
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    answers = {r["item"] for r in read_csv(tmp_path / "a.csv")}
    per_item = {r["item"] for r in read_csv(tmp_path / "r.csv")}
    in_json = {row["item"] for row in report["items"]} | {row["item"] for row in report["compliance"]}
    assert answers == per_item == in_json == {f"kgss2023.{c}" for c in
                                              ("CONFINAN", "CONLEGIS", "KRPROUD", "NORTHWHO", "UNIFI", "PARTYLR")}


def test_parquet_and_the_frame_have_the_csv_columns_and_values(replay, tmp_path):
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    assert main(["report", str(replay), "--answers", "--format", "parquet", "--out", str(tmp_path / "a.parquet")]) == 0
    main(["report", str(replay), "--answers", "--out", str(tmp_path / "a.csv")])
    parquet = pandas.read_parquet(tmp_path / "a.parquet")
    frame = silspec.open_run(replay).answers(frame=True)
    columns = list(read_csv(tmp_path / "a.csv")[0])
    assert list(parquet.columns) == list(frame.columns) == columns
    assert len(parquet) == len(frame) == 1200
    assert parquet["request_id"].tolist() == frame["request_id"].tolist()
    assert parquet["parsed_code"].astype("Int64").equals(frame["parsed_code"])
    assert frame["cost"].eq(0.0).all() and frame["cached"].eq(False).all()
    assert (frame["outcome"] == "error").sum() == 253


def test_option_probabilities_are_json_in_files_and_dicts_in_the_frame(tmp_path):
    table = answers_table.AnswerTable(
        columns=("request_id", "probs"), types=("str", "json"),
        rows=iter([("r1", {1: 0.25, 2: 0.75}), ("r2", None)]), note="",
    )
    buffer = io.StringIO()
    assert answers_table.write_csv(table, buffer) == 2
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert json.loads(rows[0]["probs"]) == {"1": 0.25, "2": 0.75} and rows[1]["probs"] == ""


def test_csv_is_streamed_row_by_row_never_loaded_whole(replay, monkeypatch):
    """Each CSV row is written before the next stored answer is read: the store is never held."""
    pulled = [0]
    original = Store.iter_answers

    def counting(self, *args, **kwargs):
        for record in original(self, *args, **kwargs):
            pulled[0] += 1
            yield record

    monkeypatch.setattr(Store, "iter_answers", counting)

    class Sink(io.StringIO):
        lines_seen: list[int] = []

        def write(self, text):
            self.lines_seen.append(pulled[0])
            return super().write(text)

    sink = Sink()
    with answers_table.open_answer_table(replay) as table:
        n = answers_table.write_csv(table, sink)
    # write k (after the header) happens when exactly k answers have been read
    assert n == 1200 and sink.lines_seen == list(range(0, 1201))


def test_parquet_is_written_in_row_groups(replay, tmp_path, monkeypatch):
    pq = pytest.importorskip("pyarrow.parquet")
    monkeypatch.setattr(answers_table, "PARQUET_BATCH", 100)
    n, _ = answers_table.write_answers(replay, format="parquet", out=tmp_path / "a.parquet")
    meta = pq.ParquetFile(tmp_path / "a.parquet").metadata
    assert n == meta.num_rows == 1200 and meta.num_row_groups == 12


def test_usage_errors_exit_2_with_a_message(replay, tmp_path, capsys):
    assert main(["report", str(replay), "--format", "parquet", "--out", str(tmp_path / "x")]) == 2
    assert "add --answers" in capsys.readouterr().err
    assert main(["report", str(replay), "--answers", "--format", "parquet"]) == 2
    assert "--out FILE.parquet" in capsys.readouterr().err
    assert main(["report", str(replay), "--answers", "--format", "md"]) == 2
    assert main(["report", str(replay), str(replay), "--answers"]) == 2


def test_parquet_without_pyarrow_says_how_to_install(replay, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(silspec.ReportError, match=r"pip install 'silspec\[data\]'"):
        answers_table.write_answers(replay, format="parquet", out=tmp_path / "a.parquet")


def test_metrics_and_distributions_frames_have_the_report_rows(replay, tmp_path):
    pytest.importorskip("pandas")
    run = silspec.open_run(replay)
    main(["report", str(replay), "--format", "csv", "--out", str(tmp_path / "r.csv")])
    rows = read_csv(tmp_path / "r.csv")
    metrics = run.metrics(frame=True)
    assert list(metrics.columns) == list(rows[0]) and len(metrics) == len(rows)
    js = metrics[(metrics.key == "js") & (metrics.variant == "with_defaults") & (metrics.condition == "baseline")]
    assert [round(v, 3) for v in js.value] == [0.062, 0.134, 0.113, 0.125, 0.267, 0.038]  # the paper's
    shares = run.distributions(frame=True)
    cells = shares.groupby(["condition", "item", "variant"])
    assert len(cells) == 24 and all(abs(group.share.sum() - 1) < 1e-9 for _, group in cells)
    unifi = shares[(shares["item"] == "kgss2023.UNIFI") & (shares.condition == "baseline")]
    assert unifi.label.tolist()[:2] == ["매우 필요하다", "다소 필요하다"]
    (usage,) = [u for u in run.usage() if u["condition"] == "baseline"]
    assert usage["price_source"] == "replay" and usage["cost"] == 0.0


def test_a_cell_without_valid_answers_keeps_its_rows_with_a_reason():
    from silspec.analysis.pipeline import analyse
    from silspec.report.export import distribution_records, metric_records
    from silspec.spec.model import Parser
    from tests.analysis.test_pipeline import answers_for, make_spec

    spec = make_spec(parser=Parser(name="p"), conditions=("a",))  # on_error = none: errors stay missing
    results = analyse(spec, answers_for("a", "Q1", [1, 2]) + answers_for("a", "Q2", [], errors=3))
    q2 = [r for r in metric_records(results) if r["item"] == "s.Q2"]
    assert [r["variant"] for r in q2] == ["with_defaults", "valid_only"]
    assert all(r["value"] is None and r["metric"] is None for r in q2)
    assert q2[1]["reason"] == "no valid answers: of 3 stored, 0 answered, 0 invalid, 0 refused, 3 errors, 0 dropped"
    shares = [r for r in distribution_records(results) if r["item"] == "s.Q2"]
    assert len(shares) == 8 and all(r["share"] is None and r["reason"] for r in shares)
    q3 = [r for r in metric_records(results) if r["item"] == "s.Q3"]  # planned, never stored
    assert len(q3) == 2 and q3[0]["reason"].startswith("no stored answers")
