"""Console rendering: warnings first, defaults loud, compact tables in narrow terminals."""

import io

from rich.console import Console

from silspec.report.console import print_report

from small_results import small_results


def render(width, **kw):
    buffer = io.StringIO()
    print_report(small_results(), Console(file=buffer, width=width, no_color=True), **kw)
    return buffer.getvalue()


def test_warnings_come_before_tables_and_name_the_default_rate():
    text = render(160)
    assert text.index("WARNINGS") < text.index("Format compliance") < text.index("metrics per item")
    assert "50% of answers (4/8) are code 3 (midpoint)" in text
    assert "VALID ANSWERS ONLY" in text  # b has defaults, so the valid-only table is shown
    assert "average without Q3" in text


def test_narrow_terminal_keeps_js_with_its_interval_and_drops_secondary_columns():
    wide, narrow = render(160), render(80)
    assert "KS D" in wide and "KS D" not in narrow
    assert "simulated %" in wide and "simulated %" not in narrow
    line = [l for l in narrow.splitlines() if l.startswith("│ Q2") and "[" in l][0]
    assert len(line) <= 80


def test_valid_only_flag_puts_valid_tables_first():
    text = render(160, valid_only=True)
    assert text.index("b: metrics per item (VALID ANSWERS ONLY)") < text.index("b: metrics per item (with defaults)")


def test_the_compliance_table_names_the_stored_outcomes():
    text = render(160)
    table = text[text.index("Format compliance"):text.index("Benchmarks")]
    header = [line for line in table.splitlines() if "condition" in line][0]
    assert "answered" in header and "valid" not in header.replace("valid mass", "")
    assert "errors" in header  # small_results has failed requests
