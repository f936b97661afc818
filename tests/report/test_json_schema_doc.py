"""docs/report.md's JSON table is the schema: every key a report writes is named there, and the
version it states is ``SCHEMA_VERSION``. A field added without documenting it fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

from attrs import evolve

from silspec.analysis.pipeline import analyse
from silspec.analysis.results import SCHEMA_VERSION
from silspec.report.export import to_json
from silspec.spec.model import Analysis, Calibration, CalibrationUse, Metric, Model

from replicate_results import replicate_results
from small_results import small_records, small_spec
from tests.analysis.test_pipeline import answers_for, make_spec

DOC = Path(__file__).resolve().parents[2] / "docs" / "report.md"
# objects keyed by metric value names (js, ks_pvalue, ...), not by schema fields: their values are checked
MAPS = {"values", "intervals", "across_replicates", "metric_options", "before", "after", "mean_before", "mean_after"}


def documented() -> tuple[int, dict[str, set[str]]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## JSON (`--format json`)", 1)[1].split("\n## ", 1)[0]
    version = int(re.match(r", schema version (\d+)", section).group(1))
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `(\w+)` \| \w+ \| (.*) \|$", line)
        if match:
            rows[match.group(1)] = set(re.findall(r"`(\w+)`", match.group(2)))
    return version, rows


def keys_of(value, out: set[str], *, in_map: bool = False) -> set[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if not in_map:
                out.add(key)
            keys_of(inner, out, in_map=(key in MAPS and not in_map))
    elif isinstance(value, list):
        for inner in value:
            keys_of(inner, out)
    return out


def written_reports() -> list[dict]:
    calibrated = evolve(
        make_spec(analysis=Analysis(metrics=(Metric("js"), Metric("mae")),
                                    calibrations=(CalibrationUse(condition="a", calibration="t"),)), conditions=("a",)),
        calibrations={"t": Calibration(name="t", method="temperature", temperature=2.0)},
    )
    calibrated = evolve(calibrated, models={"a": Model(name="a", backend="openai", model_id="gpt-4o-mini")})
    records = [evolve(r, prompt_tokens=10, completion_tokens=1) for q in ("Q1", "Q2")
               for r in answers_for("a", q, [1, 2, 2, 3, 4])]
    results = [small_results_all(), replicate_results(), analyse(calibrated, records)]
    return [json.loads(to_json(r)) for r in results]


def small_results_all():
    return analyse(small_spec(), small_records())


def test_the_documented_version_is_the_written_one():
    version, rows = documented()
    assert version == SCHEMA_VERSION
    for report in written_reports():
        assert report["schema_version"] == SCHEMA_VERSION


def test_every_written_key_is_documented_and_every_documented_top_level_key_is_written():
    _, rows = documented()
    for report in written_reports():
        assert set(report) == set(rows), "top-level keys differ from docs/report.md"
        for key, value in report.items():
            missing = keys_of(value, set()) - rows[key]
            assert not missing, f"{key}: written but not in docs/report.md: {sorted(missing)}"


def test_the_documented_fields_are_written():
    """The other way round, for the fields a report always has (not the examples in parentheses)."""
    _, rows = documented()
    report = written_reports()[2]
    assert {"condition", "price_source", "price_detail", "cost", "without_tokens"} <= keys_of(report["usage"], set())
    assert "reason" in keys_of(report["items"], set()) and "reason" in rows["items"]
