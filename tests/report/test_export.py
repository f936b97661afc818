"""JSON, tidy CSV and Markdown exports."""

import csv
import io
import json

import pytest

from silspec.analysis.results import Results
from silspec.report.export import CSV_COLUMNS, markdown_blocks, to_csv, to_json, to_markdown

from small_results import small_results


@pytest.fixture(scope="module")
def results():
    return small_results()


def test_json_is_strict_and_round_trips(results):
    text = to_json(results)
    data = json.loads(text)  # strict: allow_nan=False when writing
    assert data["schema_version"] == 7 and data["study"]["name"] == "small"
    assert {"compliance", "benchmarks", "items", "comparisons", "calibrations", "warnings"} <= set(data)
    assert Results.from_dict(data).to_dict() == data


def test_csv_is_tidy_one_row_per_value(results):
    rows = list(csv.DictReader(io.StringIO(to_csv(results))))
    assert tuple(rows[0]) == CSV_COLUMNS
    expected = sum(len(item.values) for item in results.items)
    assert len(rows) == expected
    js = [r for r in rows if r["condition"] == "b" and r["item"] == "s.Q2" and r["key"] == "js"]
    assert {r["variant"] for r in js} == {"with_defaults", "valid_only"}
    assert all(r["metric"] == "js" and r["ci_low"] for r in js)
    assert {r["metric"] for r in rows} == {"js", "ks", "wasserstein"}


def test_markdown_has_every_section_and_loud_defaults(results):
    text = to_markdown(results)
    assert "## Warnings" in text and "## Format compliance" in text and "valid answers only" in text
    assert "**50 %**" in text  # b Q2: 4 of 8 defaulted, bold
    assert "| average without Q3 |" in text


def test_blocks_are_named(results):
    names = set(markdown_blocks(results))
    assert {"js_table", "compliance", "comparison", "metrics_a", "metrics_b", "benchmarks"} <= names
    table = markdown_blocks(results)["js_table"]()
    assert table.splitlines()[0] == "| item | a | b |" and "| mean |" in table
