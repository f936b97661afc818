"""The viewer's JSON endpoints against real stores: paging, filters, prompts, attempts, plots."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from attrs import evolve

from silspec.plan.hashing import messages_hash
from silspec.run.store import Store
from silspec.view import queries, rundir
from silspec.view.prompts import PromptIndex
from silspec.view.server import make_server

from .conftest import REPO


def get(viewer: str, path: str, **params: str):
    url = f"{viewer}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read().decode("utf-8"))


def test_pages_are_disjoint_and_cover_the_store(viewer: str, runs) -> None:
    first = get(viewer, "/api/answers", run="0", limit="50", offset="0")
    second = get(viewer, "/api/answers", run="0", limit="50", offset="50")
    assert first["total"] == 1200 and len(first["rows"]) == 50 and len(second["rows"]) == 50
    ids = {r["request_id"] for r in first["rows"]} | {r["request_id"] for r in second["rows"]}
    assert len(ids) == 100
    with Store.open(runs[0], create=False) as store:
        stored = [a.request_id for a in store.iter_answers()]
    assert [r["request_id"] for r in first["rows"] + second["rows"]] == stored[:100]
    last = get(viewer, "/api/answers", run="0", limit="500", offset="1100")
    assert len(last["rows"]) == 100


def test_answers_query_reads_one_page_with_limit(monkeypatch: pytest.MonkeyPatch, runs) -> None:
    statements: list[str] = []
    real_connect = queries.connect

    def traced(path: Path) -> sqlite3.Connection:
        db = real_connect(path)
        db.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(queries, "connect", traced)
    page = queries.page_of_answers(rundir.store_path(runs[0]), queries.Filters(), limit=10, offset=20)
    assert len(page["rows"]) == 10
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "COUNT(*)" not in s]
    assert selects and all("LIMIT 10 OFFSET 20" in s for s in selects)


def test_filters_narrow_by_outcome_condition_item_and_persona_attribute(viewer: str, runs) -> None:
    errors = get(viewer, "/api/answers", run="0", outcome="error", limit="500")
    assert errors["total"] == 253  # the paper's CLOVA run lost 253 requests to HTTP 429
    assert {r["outcome"] for r in errors["rows"]} == {"error"}
    narrowed = get(viewer, "/api/answers", run="0", condition="baseline", item="kgss2023.UNIFI", limit="500")
    assert narrowed["total"] == 100
    assert {(r["condition"], r["item"]) for r in narrowed["rows"]} == {("baseline", "kgss2023.UNIFI")}

    personas = rundir.plan_header(runs[0])["personas"]
    women = {pid for pid, p in personas.items() if p["attributes"].get("gender") == "여성"}
    assert 0 < len(women) < len(personas)
    by_gender = get(viewer, "/api/answers", **{"run": "0", "attr.gender": "여성", "limit": "500",
                                               "condition": "baseline"})
    assert by_gender["total"] == 6 * len(women)
    assert {r["persona"] for r in by_gender["rows"]} == women
    one = get(viewer, "/api/answers", run="0", persona="P001", limit="500")
    assert one["total"] == 12 and {r["persona"] for r in one["rows"]} == {"P001"}


def test_facets_count_the_stored_outcomes(viewer: str) -> None:
    facets = get(viewer, "/api/facets", run="0")
    assert facets["total"] == 1200
    assert facets["outcomes"] == {"answered": 947, "invalid": 0, "refused": 0, "error": 253}
    assert facets["conditions"] == {"baseline": 600, "indigenous": 600}


def test_an_answer_shows_the_prompt_it_was_sent_and_its_attempts(viewer: str, runs) -> None:
    row = get(viewer, "/api/answers", run="0", outcome="error", limit="1")["rows"][0]
    answer = get(viewer, "/api/answer", run="0", id=row["request_id"])
    assert answer["outcome"] == "error" and "429" in answer["reason"]
    assert answer["defaulted"] is True and answer["parsed_code"] == 2  # on_error = midpoint
    messages = answer["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages_hash([type("M", (), m)() for m in messages]) == answer["prompt_hash"]
    with Store.open(runs[0], create=False) as store:
        attempts = list(store.iter_attempts(row["request_id"]))
    assert [(a["attempt"], a["error_status"]) for a in answer["attempt_rows"]] == [
        (a.attempt, a.error_status) for a in attempts]
    assert answer["persona_attributes"]["gender"] in {"남성", "여성"}


def test_a_prompt_that_the_bundle_no_longer_renders_is_said_so(runs, run_copy: Path) -> None:
    with Store.open(run_copy, create=False) as store:
        record = next(store.iter_answers("baseline"))
        store.record_answer(evolve(record, request_id="edited", prompt_hash="0" * 64))
    messages, why = PromptIndex(run_copy).messages("baseline", "0" * 64)
    assert messages is None and "no request of the bundled plan renders this prompt" in why


def test_distributions_are_the_reports_numbers_with_labels(viewer: str) -> None:
    paper = get(viewer, "/api/distributions", run="0")
    codebook = get(viewer, "/api/distributions", run="1")
    plots = {(p["condition"], p["code"]): p for p in paper["plots"]}
    assert len(plots) == 12
    confinan = plots[("baseline", "CONFINAN")]
    assert confinan["labels"] == ["매우/다소 신뢰", "보통", "거의/전혀 신뢰하지 않음"]
    assert confinan["benchmark_name"] == "paper"
    assert round(confinan["metrics"]["js"], 3) == 0.062  # the paper's GPT-5.2 CONFINAN JS
    assert sum(confinan["simulated"]) == pytest.approx(1.0)
    other = {(p["condition"], p["code"]): p for p in codebook["plots"]}[("baseline", "CONFINAN")]
    assert other["benchmark_name"] == "codebook_2023"
    assert round(other["metrics"]["js"], 4) == 0.0652  # the corrected KGSS vector (spec header)


def test_a_run_in_progress_shows_new_rows_without_a_restart(run_copy: Path) -> None:
    import threading

    server = make_server([run_copy])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = "http://%s:%d" % server.server_address[:2]
    try:
        before = get(url, "/api/facets", run="0")["total"]
        with Store.open(run_copy, create=False) as writer:  # the runner's writer, still open
            record = next(writer.iter_answers("baseline"))
            writer.record_answer(evolve(record, request_id="new-row", outcome="refused",
                                        reason="no admissible code; refusal phrase"))
            after = get(url, "/api/facets", run="0")
            refused = get(url, "/api/answers", run="0", outcome="refused")
        assert after["total"] == before + 1 and after["outcomes"]["refused"] == 1
        assert refused["rows"][0]["reason"] == "no admissible code; refusal phrase"
    finally:
        server.shutdown()
        server.server_close()


def test_the_store_is_opened_read_only(runs) -> None:
    db = queries.connect(rundir.store_path(runs[0]))
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.execute("DELETE FROM answers")
    db.close()


def test_errors_are_json_with_a_reason(viewer: str) -> None:
    for path, params, status in [("/api/answer", {"run": "0", "id": "nope"}, 404),
                                 ("/api/answers", {"run": "7"}, 404),
                                 ("/api/answers", {"run": "0", "limit": "x"}, 400),
                                 ("/nowhere", {}, 404)]:
        with pytest.raises(urllib.error.HTTPError) as caught:
            get(viewer, path, **params)
        assert caught.value.code == status
        assert json.loads(caught.value.read())["error"]


def test_assets_ship_in_the_package_and_need_no_network(viewer: str) -> None:
    with urllib.request.urlopen(viewer + "/", timeout=10) as response:
        html = response.read().decode()
    assert "/assets/app.js" in html and not re.findall(r"https?://", html)
    for name in ("app.js", "app.css"):
        with urllib.request.urlopen(f"{viewer}/assets/{name}", timeout=10) as response:
            body = response.read().decode()
        # the only URL is the SVG namespace, a name rather than something fetched
        assert set(re.findall(r"https?://[^\s\"')]+", body)) <= {"http://www.w3.org/2000/svg"}


def test_cli_prints_the_address_and_serves(runs) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "silspec.cli.main", "view", str(runs[0]), str(runs[1])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("silspec view: serving 2 run(s) at http://127.0.0.1:")
        url = line.split(" at ")[1].split()[0].rstrip("/")
        names = [r["name"] for r in get(url, "/api/runs")["runs"]]
        assert names == [runs[0].name, runs[1].name]
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_cli_refuses_a_folder_without_a_store(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "silspec.cli.main", "view", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 2
    assert "is not a silspec run directory (no store.sqlite)" in result.stderr


def read_csv(viewer: str, **params: str) -> list[dict[str, str]]:
    url = f"{viewer}/api/answers.csv?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=60) as response:
        assert response.headers["Content-Type"].startswith("text/csv")
        return list(csv.DictReader(io.StringIO(response.read().decode("utf-8"))))


def test_the_filtered_answers_download_as_csv_with_persona_attributes(viewer: str, runs) -> None:
    everything = read_csv(viewer, run="0")
    with Store.open(runs[0], create=False) as store:
        stored = list(store.iter_answers())
    assert [r["request_id"] for r in everything] == [a.request_id for a in stored]
    first, record = everything[0], stored[0]
    assert first["item"] == record.item == "kgss2023.CONFINAN"  # the qualified id, as in JSON
    assert first["parsed_code"] == str(record.parsed_code) and first["outcome"] == record.outcome
    personas = rundir.plan_header(runs[0])["personas"]
    assert first["persona.gender"] == personas[record.persona]["attributes"]["gender"]
    errors = read_csv(viewer, run="0", outcome="error", **{"attr.gender": "여성"})
    women = {pid for pid, p in personas.items() if p["attributes"]["gender"] == "여성"}
    assert errors and {r["outcome"] for r in errors} == {"error"}
    assert {r["persona"] for r in errors} <= women and {r["persona.gender"] for r in errors} == {"여성"}
    assert len(errors) == get(viewer, "/api/answers", run="0", outcome="error", **{"attr.gender": "여성"})["total"]


def test_the_csv_download_is_the_answer_table_of_silspec_report(viewer: str, runs, tmp_path: Path) -> None:
    # One table for a run's answers: the viewer's download and `silspec report --answers` have the
    # same columns and cells (cost included); a store holding one complete plan gives the same rows.
    from silspec.report.answers_table import write_answers

    out = tmp_path / "answers.csv"
    n, _ = write_answers(runs[0], out=out)
    url = f"{viewer}/api/answers.csv?run=0"
    with urllib.request.urlopen(url, timeout=60) as response:
        downloaded = response.read().decode("utf-8")
    assert n == 1200 and downloaded == out.read_text(encoding="utf-8")
    header = downloaded.splitlines()[0].split(",")
    assert header[header.index("persona") + 1].startswith("persona.") and {"persona.gender", "cost"} <= set(header)


def test_a_run_whose_bundled_spec_is_unreadable_gets_a_clear_export_error(run_copy: Path) -> None:
    for spec in (run_copy / "bundle").rglob("*.sil"):
        spec.write_text("study {", encoding="utf-8")
    server = make_server([run_copy])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"http://{host}:{port}/api/answers.csv?run=0", timeout=60)
        assert caught.value.code == 500
        message = json.loads(caught.value.read())["error"]
        assert message.startswith("the run's bundled spec cannot be read")
        assert get(f"http://{host}:{port}", "/api/answers", run="0")["total"] == 1200  # the rest still works
    finally:
        server.shutdown()
        server.server_close()
