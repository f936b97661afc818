"""The HTML report (`silspec report --format html`) as a reader sees it in headless Chromium:
the summary first, the warnings below it folded by kind, a plot per item with answer labels."""

from __future__ import annotations

from silspec.report.output import write_report

from .conftest import screenshot


def open_report(browser, runs, tmp_path):
    out = tmp_path / "report.html"
    write_report(runs[0], format="html", out=out)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(out.as_uri())
    return context, page, errors


def test_summary_comes_before_the_folded_warnings(browser, runs, tmp_path) -> None:
    context, page, errors = open_report(browser, runs, tmp_path)
    try:
        summary = page.locator("#summary")
        warnings = page.locator("#warnings")
        assert summary.is_visible() and warnings.is_visible()
        assert summary.bounding_box()["y"] < warnings.bounding_box()["y"]  # read first
        # above the fold: the headline figures, the paper's 26.5 % among them
        assert summary.bounding_box()["y"] < 900
        text = summary.inner_text()
        assert "indigenous" in text and "0.090" in text and "+26.5 %" in text and "42 %" in text
        assert "8 high" in text
        groups = page.locator("details.warn-group")
        assert groups.count() == 3  # defaults, benchmark renormalised, degenerate
        assert groups.evaluate_all("gs => gs.every(g => !g.open)")  # folded
        first = groups.first
        assert first.locator("summary").inner_text().startswith("defaults: 4 (high)")
        message = first.locator("li").first
        assert not message.is_visible()
        first.locator("summary").click()
        assert message.is_visible() and "62%" in message.inner_text()
        screenshot(page, "report-summary")
    finally:
        context.close()
    assert not errors


def test_a_plot_per_item_with_answer_labels(browser, runs, tmp_path) -> None:
    context, page, errors = open_report(browser, runs, tmp_path)
    try:
        figures = page.locator("figure")
        assert figures.count() == 6
        unifi = page.locator("figure[data-item=UNIFI]")
        unifi.scroll_into_view_if_needed()
        assert unifi.locator("img").evaluate("img => img.complete && img.naturalWidth > 300")
        assert "1 = 매우 필요하다" in unifi.locator("figcaption").inner_text()
        assert "매우 필요하다" in unifi.locator("img").get_attribute("alt")
    finally:
        context.close()
    assert not errors
