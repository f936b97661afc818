"""Two real runs of the KGSS replay (through the runner, into real stores) and a live viewer."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from silspec.run.runner import run_spec
from silspec.view.server import make_server

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "specs" / "kgss_paper_replay.sil"
# Debian's package; another system may point SILSPEC_CHROMIUM at its own (e.g. /usr/bin/chromium-browser)
CHROMIUM = Path(os.environ.get("SILSPEC_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The paper's replay twice: scored against `paper` and against `codebook_2023`."""
    base = tmp_path_factory.mktemp("view_runs")
    paper = base / "paper"
    codebook = base / "codebook"
    assert run_spec(SPEC, out=paper).total == 1200
    assert run_spec(SPEC, out=codebook, overrides=[("analysis.benchmark", "codebook_2023")]).total == 1200
    return paper, codebook


@pytest.fixture(scope="session")
def viewer(runs: tuple[Path, Path]):
    """The viewer over both runs, serving on a free port of 127.0.0.1 in a thread."""
    server = make_server(runs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def run_copy(runs: tuple[Path, Path], tmp_path: Path) -> Path:
    """A copy of the first run that a test may write to (a run still in progress)."""
    target = tmp_path / "copy"
    shutil.copytree(runs[0], target)
    return target


@pytest.fixture(scope="module")
def browser(runs):
    """Headless system Chromium through playwright; skipped with the reason where either is absent.

    Needs ``runs`` first: playwright's sync API holds an event loop, inside which the runner's
    ``asyncio.run`` could not start. Per module, not per session: the loop is gone before the next
    module, so a test that runs silspec after the browser tests (any order, any selection) works.
    """
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's `chromium` package (or set SILSPEC_CHROMIUM)"
                    " to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(viewer, browser):
    """A fresh page on the viewer, loaded; fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(viewer + "/")
    page.wait_for_selector("body[data-ready=true]")
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def screenshot(page, name: str) -> None:
    """Save a full-page PNG under $SILSPEC_VIEW_SHOTS (unset: nothing), to look at the page."""
    folder = os.environ.get("SILSPEC_VIEW_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
