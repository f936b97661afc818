"""The ``replay`` backend: recorded answers, recorded errors, and clear errors for gaps."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from silspec.plan.model import PlanModel
from silspec.run.backends.base import PermanentError
from silspec.run.backends.replay import ReplayBackend, ReplayedError
from tests.servers.fixtures import make_request

ROOT = Path(__file__).resolve().parents[2]
CSV = (
    "\ufeffpersona_id,item,response_raw,model,error,attempts\n"
    "P001,CONFINAN,2,gpt-5.2,,1\n"
    'P002,kgss2023.CONFINAN,"3\n보통입니다",gpt-5.2,,1\n'
    "P003,CONFINAN,,gpt-5.2,HTTPError: 429 Client Error: Too Many Requests,3\n"
    "P001,CONFINAN,4,gpt-5.2,,1\n"
)


def backend(tmp_path: Path, text: str = CSV, model_id: str = "gpt-5.2") -> ReplayBackend:
    path = tmp_path / "answers.csv"
    path.write_text(text, encoding="utf-8")
    return ReplayBackend(PlanModel(name="r", backend="replay", model_id=model_id, path=str(path)), env={})


def ask(b: ReplayBackend, **request_fields):
    return asyncio.run(b.answer(make_request(item="kgss2023.CONFINAN", **request_fields)))


def test_bare_and_qualified_item_codes_both_match(tmp_path):
    b = backend(tmp_path)
    assert ask(b, persona="P001").text == "2"
    assert ask(b, persona="P002").text == "3\n보통입니다"
    assert ask(b, persona="P001").provider_model == "gpt-5.2"


def test_repeated_rows_are_replicates_in_file_order(tmp_path):
    b = backend(tmp_path)
    assert ask(b, persona="P001", replicate=1).text == "4"
    with pytest.raises(PermanentError, match="not replicate 2"):
        ask(b, persona="P001", replicate=2)


def test_recorded_error_is_replayed_as_permanent_with_status_and_attempts(tmp_path):
    with pytest.raises(ReplayedError) as caught:
        ask(backend(tmp_path), persona="P003")
    assert isinstance(caught.value, PermanentError)
    assert caught.value.status == 429 and caught.value.attempts == 3
    assert "Too Many Requests" in str(caught.value)


def test_missing_persona_names_persona_item_and_file(tmp_path):
    with pytest.raises(PermanentError) as caught:
        ask(backend(tmp_path), persona="P999")
    message = str(caught.value)
    assert "P999" in message and "kgss2023.CONFINAN" in message and "answers.csv" in message
    assert "persona P999 is not in it" in message


def test_missing_item_names_the_item(tmp_path):
    b = backend(tmp_path)
    with pytest.raises(PermanentError, match="item UNIFI is not in it"):
        asyncio.run(b.answer(make_request(item="kgss2023.UNIFI", persona="P001")))


def test_missing_columns_and_missing_file_are_clear(tmp_path):
    bad_columns = backend(tmp_path, "persona,item\nP001,CONFINAN\n")
    [problem] = bad_columns.preflight([make_request(item="kgss2023.CONFINAN", persona="P001")])
    assert "answers.csv" in problem and "lacks column(s) persona_id, response_raw" in problem
    assert "not replay columns: persona" in problem
    with pytest.raises(PermanentError, match="lacks column.*response_raw"):
        ask(bad_columns, persona="P001")
    missing = ReplayBackend(PlanModel(name="r", backend="replay", model_id="x", path=str(tmp_path / "no.csv")), env={})
    [problem] = missing.preflight([make_request()])
    assert "cannot be read" in problem and "no.csv" in problem
    with pytest.raises(PermanentError, match="names no path"):
        ReplayBackend(PlanModel(name="r", backend="replay", model_id="x"), env={})


def test_option_probs_column_is_renormalised_and_keeps_mass(tmp_path):
    text = 'persona_id,item,response_raw,option_probs\nP001,CONFINAN,,"{""1"": 0.2, ""2"": 0.6}"\n'
    answer = ask(backend(tmp_path, text), persona="P001", answers="option_probs", codes=(1, 2))
    assert answer.option_probs == pytest.approx({1: 0.25, 2: 0.75})
    assert answer.valid_mass == pytest.approx(0.8)
    with pytest.raises(PermanentError, match="no option_probs"):
        ask(backend(tmp_path), persona="P001", answers="option_probs")


def test_condition_column_selects_rows(tmp_path):
    text = "persona_id,item,response_raw,condition\nP001,CONFINAN,1,a\nP001,CONFINAN,5,b\nP002,CONFINAN,3,\n"
    b = backend(tmp_path, text)
    assert ask(b, persona="P001", condition="b").text == "5"
    assert ask(b, persona="P002", condition="a").text == "3"  # empty condition serves all


def test_file_with_several_models_uses_the_plan_model(tmp_path):
    text = "persona_id,item,response_raw,model\nP001,CONFINAN,1,m-a\nP001,CONFINAN,2,m-b\n"
    assert ask(backend(tmp_path, text, model_id="m-b"), persona="P001").text == "2"


@pytest.mark.skipif(not (ROOT / "data/kgss2023/replay/clova_hcx007_seed42.csv").exists(),
                    reason="shipped replay data not present")
def test_shipped_clova_replay_has_answers_and_recorded_429s():
    path = ROOT / "data/kgss2023/replay/clova_hcx007_seed42.csv"
    b = ReplayBackend(PlanModel(name="c", backend="replay", model_id="HCX-007", path=str(path)), env={})
    assert asyncio.run(b.answer(make_request(persona="P001", item="kgss2023.CONFINAN"))).text.startswith("2")
    with pytest.raises(ReplayedError) as caught:
        asyncio.run(b.answer(make_request(persona="P004", item="kgss2023.CONFINAN")))
    assert caught.value.status == 429
