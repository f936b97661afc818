"""`silspec run --cache DIR`: identical requests answered from earlier runs in other directories.

Against the real test server: its request log says what was asked. Run A fills the cache
(errors excluded), run B in another directory asks only what A could not answer, run C asks
nothing; the stores, the summary and the report say which answers came from the cache.
"""

from __future__ import annotations

import json

import pytest

from silspec import api
from silspec.cli.main import main
from silspec.run.cache import CACHE_FILE, ResultsCache
from silspec.run.store import Store

SPEC = """\
silspec 1
study cachy { seed = 1 }
scale agree3 { 1 = "Agree"  2 = "Neither"  3 = "Disagree" }
survey s {
  item Q1 { text = "Cats are better than dogs."  scale = agree3  benchmark = [40%, 20%, 40%] }
  item Q2 { text = "NOCACHE Tea is better than coffee."  scale = agree3  benchmark = [30%, 30%, 40%] }
}
persona people { age = { "18-39": 0.5, "40+": 0.5 } }
population sample { persona = people  sampling = stratified  size = 4 }
parser first { extract = first_integer }
model local { backend = openai  name = "test-model"  base_url = "BASE_URL"  retries = 0 }
condition main {
  model = local
  population = sample
  items = s.*
  parser = first
  prompt = "Respondent {{ persona.id }}, aged {{ persona.age }}. {{ item.text }} Answer with one number: {{ item.scale_labels }}"
}
analysis { metric js {} }
"""


@pytest.fixture
def setup(chat_server_factory, tmp_path):
    # every prompt of Q2 fails once (HTTP 400, not retried): run A stores 4 errors
    server = chat_server_factory(faults=[{"fault": "400", "marker": "NOCACHE", "times": 1}])
    spec = tmp_path / "cachy.sil"
    spec.write_text(SPEC.replace("BASE_URL", server.url), encoding="utf-8")
    return server, spec, tmp_path / "cache"


def run(spec, out, cache, capsys) -> tuple[int, str]:
    code = main(["run", str(spec), "--out", str(out), "--cache", str(cache), "--quiet"])
    return code, capsys.readouterr().out


def test_a_second_run_elsewhere_asks_only_what_the_cache_lacks(setup, tmp_path, capsys):
    server, spec, cache = setup
    code, out = run(spec, tmp_path / "a", cache, capsys)
    assert code == 1  # Q2's four requests failed
    asked_a = len(server.requests())
    assert asked_a == 8 and "0 answers from the cache" in out and "4 added to it" in out
    with ResultsCache(cache) as c:
        assert c.count() == 4  # the errors were not cached
    with Store.open(tmp_path / "a", create=False) as store:
        errors = {a.request_id for a in store.iter_answers() if a.outcome == "error"}
    assert len(errors) == 4

    code, out = run(spec, tmp_path / "b", cache, capsys)
    assert code == 0, out
    asked_b = server.requests()[asked_a:]
    assert len(asked_b) == 4 and all("NOCACHE" in e["body"]["messages"][-1]["content"] for e in asked_b)
    assert "4 answers from the cache" in out and "4 added to it" in out
    assert "4 answers from the cache (asked in earlier runs, not in this one" in out  # the report's note

    with Store.open(tmp_path / "b", create=False) as store:
        answers = {a.request_id: a for a in store.iter_answers()}
    marked = {i for i, a in answers.items() if "cached_from" in a.meta}
    assert len(marked) == 4 and not marked & errors
    assert {answers[i].meta["cached_from"]["run"] for i in marked} == {str((tmp_path / "a").resolve())}
    with Store.open(tmp_path / "a", create=False) as store:
        for request_id in marked:  # the reused answer is the stored one, verdict and all
            original = store.get_answer(request_id)
            assert (original.raw_text, original.parsed_code, original.outcome) == (
                answers[request_id].raw_text, answers[request_id].parsed_code, answers[request_id].outcome)
    manifest = api.open_run(tmp_path / "b").manifests()[-1]
    assert manifest["cache"] == str(cache)

    assert main(["run", str(spec), "--out", str(tmp_path / "c"), "--cache", str(cache), "--dry-run"]) == 0
    assert "8 of the 8 requests to ask are in the cache" in capsys.readouterr().out
    assert not (tmp_path / "c").exists()
    code, out = run(spec, tmp_path / "c", cache, capsys)
    assert code == 0 and len(server.requests()) == asked_a + 4  # run C asked the server nothing
    assert "8 answers from the cache" in out and "0 added to it" in out
    report = json.loads(api.open_run(tmp_path / "c").report("json"))
    assert any(w["kind"] == "cached_answers" and w["message"].startswith("8 answers from the cache")
               for w in report["warnings"])


def test_without_cache_flag_nothing_is_shared(setup, tmp_path, capsys):
    server, spec, cache = setup
    assert main(["run", str(spec), "--out", str(tmp_path / "a"), "--quiet", "--no-report"]) == 1
    assert not (cache / CACHE_FILE).exists()
    first = len(server.requests())
    assert main(["run", str(spec), "--out", str(tmp_path / "b"), "--quiet", "--no-report"]) == 0
    assert len(server.requests()) == 2 * first  # all 8 asked again
    assert "from the cache" not in capsys.readouterr().out


def test_a_cache_path_that_is_a_file_is_refused_before_asking(setup, tmp_path, capsys):
    server, spec, _ = setup
    bad = tmp_path / "file"
    bad.write_text("x")
    assert main(["run", str(spec), "--out", str(tmp_path / "a"), "--cache", str(bad), "--quiet"]) == 2
    assert "not a folder" in capsys.readouterr().err and server.requests() == []
