"""What a user sees in headless Chromium: rows, filters, an error's reason, plots, two runs."""

from __future__ import annotations

import re

from silspec.view import rundir

from .conftest import screenshot

ROW = "table[data-testid=answers] tbody tr"


def panel(page, index: int):
    return page.locator(f"section.run[data-run='{index}']")


def wait_range(run, text: str) -> None:
    run.locator("[data-testid=range]").filter(has_text=text).wait_for()


def test_rows_of_the_first_page_are_shown(page) -> None:
    run = panel(page, 0)
    wait_range(run, "1–50 of 1200")
    assert run.locator(ROW).count() == 50
    first = run.locator(ROW).first
    assert first.locator("td").nth(0).inner_text() == "baseline"
    assert first.locator("td").nth(1).inner_text() == "CONFINAN"
    assert "answered" in first.inner_text()
    assert "보통" in first.locator("td").nth(5).inner_text()  # the parsed code with its label
    run.get_by_role("button", name="next ›").click()
    wait_range(run, "51–100 of 1200")


def test_filters_narrow_the_rows(page, runs) -> None:
    run = panel(page, 0)
    run.locator("select[data-filter=outcome]").select_option("error")
    wait_range(run, "of 253")
    outcomes = run.locator(ROW).evaluate_all("rows => rows.map(r => r.dataset.outcome)")
    assert len(outcomes) == 50 and set(outcomes) == {"error"}

    run.locator("select[data-filter=outcome]").select_option("")
    run.locator("select[data-filter=condition]").select_option("baseline")
    run.locator("select[data-filter=item]").select_option("kgss2023.UNIFI")
    wait_range(run, "1–50 of 100")
    personas = rundir.plan_header(runs[0])["personas"]
    women = sum(1 for p in personas.values() if p["attributes"].get("gender") == "여성")
    run.locator("select[data-filter='attr.gender']").select_option("여성")
    wait_range(run, f"of {women}")
    cells = run.locator(f"{ROW} td:nth-child(2)").all_inner_texts()
    assert set(cells) == {"UNIFI"}


def test_an_error_row_shows_its_reason_prompt_and_attempts(page) -> None:
    run = panel(page, 0)
    run.locator("select[data-filter=outcome]").select_option("error")
    wait_range(run, "of 253")
    run.locator(ROW).first.click()
    detail = run.locator("[data-testid=detail]")
    detail.wait_for()
    reason = detail.locator("[data-testid=reason]").inner_text()
    assert "429" in reason and "Too Many Requests" in reason
    assert "policy fill" in detail.locator("[data-testid=outcome]").inner_text()
    messages = detail.locator("[data-testid=message]")
    assert messages.count() == 2
    assert "질문:" in messages.nth(1).inner_text()  # the rendered question, from the bundled plan
    assert detail.locator("[data-testid=attempts] tbody tr").count() == 1
    assert "429" in detail.locator("[data-testid=attempts] tbody tr").first.inner_text()
    screenshot(page, "error_detail")


def test_a_plot_per_item_with_answer_labels(page) -> None:
    run = panel(page, 0)
    run.locator("button[data-tab=plots]").click()
    run.locator("figure.plot").first.wait_for(timeout=60_000)
    figures = run.locator("figure.plot")
    assert figures.count() == 6  # six items of the first condition
    confinan = run.locator("figure.plot[data-item='kgss2023.CONFINAN']")
    labels = " ".join(confinan.locator("text.axis-label").all_text_contents())
    assert "보통" in labels and "매우/다소" in labels
    assert confinan.locator("rect[data-series=simulated]").count() >= 2
    assert confinan.locator("rect[data-series=benchmark]").count() == 3
    assert re.search(r"js 0\.062\b", confinan.inner_text())
    run.locator("select[data-plot-filter=condition]").select_option("indigenous")
    run.locator("figure.plot[data-condition=indigenous]").first.wait_for()
    assert run.locator("figure.plot[data-condition=indigenous]").count() == 6


def test_two_runs_side_by_side(page) -> None:
    left, right = panel(page, 0), panel(page, 1)
    wait_range(left, "of 1200")
    wait_range(right, "of 1200")
    a, b = left.bounding_box(), right.bounding_box()
    assert b["x"] >= a["x"] + a["width"] and abs(a["y"] - b["y"]) < 1
    assert "2 runs side by side" in page.locator("#summary").inner_text()
    right.locator("button[data-tab=plots]").click()
    right.locator("figure.plot").first.wait_for(timeout=60_000)
    assert "vs codebook_2023" in right.locator("figure.plot").first.inner_text()
    # each panel keeps its own filters
    left.locator("select[data-filter=outcome]").select_option("error")
    wait_range(left, "of 253")
    assert right.locator("figure.plot").count() == 6
    screenshot(page, "two_runs")


def test_the_csv_link_follows_the_filters(page) -> None:
    run = panel(page, 0)
    run.locator("select[data-filter=outcome]").select_option("error")
    wait_range(run, "of 253")
    link = run.locator("[data-testid=csv]")
    assert "253 answers" in link.inner_text()
    href = link.get_attribute("href")
    assert href.startswith("/api/answers.csv?") and "outcome=error" in href and "limit" not in href
