"""A run of option probabilities against the real test server, made without a bundled spec
(``run_plan`` on a plan built in Python): the page shows each answer's probabilities, and says
why it cannot show the prompt or the distributions instead of showing something else."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from attrs import evolve

from silspec.run.runner import run_plan
from silspec.spec.model import Backoff, Parser
from silspec.view.server import make_server

from tests.run import _fakes as fk
from tests.servers.fixtures import TEST_API_KEY, chat_server  # noqa: F401 - the fixture

from .conftest import screenshot
from .test_api import get

KEY_ENV = "SILSPEC_TEST_KEY"


@pytest.fixture
def option_probs_viewer(chat_server, tmp_path):  # noqa: F811 - the fixture
    good, bad = fk.item("Q1"), fk.item("Q2")
    requests = [evolve(r, answers="option_probs") for r in fk.requests_for("c", "gpt", [good, bad], 3, backend="openai")]
    # Q2 asks for letters the prompt never shows: no option token among the log-probabilities
    requests = [evolve(r, option_tokens=("V", "W", "X", "Y", "Z")) if r.item == bad.id else r for r in requests]
    model = fk.model("gpt", "openai", base_url=chat_server.url, api_key_env=KEY_ENV,
                     backoff=Backoff(base=0.01, max_s=0.05, jitter=True))
    plan = fk.plan([model], {"c": ("gpt", Parser("p"))}, [good, bad], requests)
    # in a thread of its own: the runner calls asyncio.run, which cannot start inside the event
    # loop playwright's sync API keeps in this thread once a browser test has run
    with ThreadPoolExecutor(1) as pool:
        pool.submit(run_plan, plan, tmp_path / "run", env={KEY_ENV: TEST_API_KEY}).result()
    server = make_server([tmp_path / "run"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://%s:%d" % server.server_address[:2]
    server.shutdown()
    server.server_close()


def test_option_probabilities_and_the_missing_bundle_are_shown(option_probs_viewer) -> None:
    url = option_probs_viewer
    facets = get(url, "/api/facets", run="0")
    assert facets["outcomes"]["answered"] == 3 and facets["outcomes"]["error"] == 3
    answered = get(url, "/api/answers", run="0", outcome="answered")["rows"][0]
    detail = get(url, "/api/answer", run="0", id=answered["request_id"])
    assert detail["answers"] == "option_probs"
    assert sum(detail["probs"].values()) == pytest.approx(1.0)
    assert detail["option_probs"]
    assert detail["messages"] is None and "bundled spec could not be loaded" in detail["messages_missing"]
    failed = get(url, "/api/answers", run="0", outcome="error")["rows"][0]
    assert "log-probabilities" in failed["reason"]
    plots = get(url, "/api/distributions", run="0")
    assert plots["plots"] == [] and plots["error"]


def test_the_page_shows_the_probabilities_of_an_answer(browser, option_probs_viewer) -> None:
    page = browser.new_page()
    page.goto(option_probs_viewer + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.locator("select[data-filter=outcome]").select_option("answered")
    page.locator("[data-testid=range]").filter(has_text="of 3").wait_for()
    page.locator("table[data-testid=answers] tbody tr").first.click()
    detail = page.locator("[data-testid=detail]")
    detail.wait_for()
    rows = detail.locator("table[data-testid=probs] tbody tr")
    assert rows.count() >= 2
    assert "%" in rows.first.inner_text()
    assert "cannot be shown" in detail.inner_text()
    screenshot(page, "option_probs_detail")
    page.locator("button[data-tab=plots]").click()
    page.get_by_text("No distributions:").wait_for()
    page.close()
