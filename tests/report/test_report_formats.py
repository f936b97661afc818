"""`report_text` / `runs_report_text`: one format table serves both reports."""

from __future__ import annotations

import json

import pytest

from silspec.report.load import ReportError
from silspec.report.output import FORMATS, report_text, runs_report_text

from small_results import small_results


@pytest.fixture(scope="module")
def results():
    return small_results()


@pytest.mark.parametrize("format", ["pdf", "", "JSON"])
def test_unknown_format_is_a_report_error_naming_the_choices(results, format):
    for writer, report in ((report_text, results), (runs_report_text, object())):
        with pytest.raises(ReportError, match=r"unknown format .*choose one of text, json, csv, md, html"):
            writer(report, format)


def test_every_format_writes_the_single_run_report(results):
    texts = {format: report_text(results, format) for format in FORMATS}
    assert json.loads(texts["json"])["study"]["name"] == "small"
    assert texts["csv"].startswith("condition,item,country,variant,metric,")
    assert texts["md"].startswith("# ")
    assert texts["html"].lstrip().lower().startswith("<!doctype html") or "<html" in texts["html"]
    assert "\x1b[" not in texts["text"] and "Q2" in texts["text"]  # captured plain, no colour codes
