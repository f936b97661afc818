"""`render` / `render_runs`: one format table serves both reports."""

from __future__ import annotations

import json

import pytest

from silspec.report.render import FORMATS, ReportError, render, render_runs

from small_results import small_results


@pytest.fixture(scope="module")
def results():
    return small_results()


@pytest.mark.parametrize("format", ["pdf", "", "JSON"])
def test_unknown_format_is_a_report_error_naming_the_choices(results, format):
    for renderer, report in ((render, results), (render_runs, object())):
        with pytest.raises(ReportError, match=r"unknown format .*choose one of text, json, csv, md, html"):
            renderer(report, format)


def test_every_format_renders_the_single_run_report(results):
    texts = {format: render(results, format) for format in FORMATS}
    assert json.loads(texts["json"])["study"]["name"] == "small"
    assert texts["csv"].startswith("condition,item,country,variant,metric,")
    assert texts["md"].startswith("# ")
    assert texts["html"].lstrip().lower().startswith("<!doctype html") or "<html" in texts["html"]
    assert "\x1b[" not in texts["text"] and "Q2" in texts["text"]  # captured plain, no colour codes
