"""Lexical mistakes get messages that say what is wrong, not just which character."""

from __future__ import annotations

import pytest

from silspec.lang.parser import parse
from silspec.spec.load import load_spec


def only_error(text):
    result = parse(text, "x.sil")
    assert result.ast is None or result.diagnostics
    (d,) = [d for d in result.diagnostics if d.severity == "error"]
    return d


def test_non_ascii_name_says_names_are_ascii():
    d = only_error('silspec 1\nscale 척도 { 1 = "a" }\n')
    assert d.code == "SIL002" and (d.span.line, d.span.col) == (2, 7)
    assert "`척`" in d.message and "ASCII" in d.message
    assert "[A-Za-z_][A-Za-z0-9_]*" in d.hint and "strings" in d.hint


@pytest.mark.parametrize("text, unit, width", [
    ("5parsecs", "parsecs", 8), ("0.5sec", "sec", 6), ("-3days", "days", 6), ("1e3x", "x", 4),
])
def test_number_followed_by_letters_is_an_unknown_unit(text, unit, width):
    d = only_error(f"silspec 1\nmodel m {{ delay = {text} }}\n")
    assert d.code == "SIL002" and d.message == f"unknown unit `{unit}` after a number"
    assert (d.span.line, d.span.col, d.span.end_col - d.span.col) == (2, 19, width)
    assert "s, ms, m" in d.hint and "%" in d.hint


def test_known_units_still_parse():
    result = parse("silspec 1\nmodel m { delay = 500ms  timeout = 2m  x = 17.3% }\n", "x.sil")
    assert result.ok


def test_huge_integer_is_a_diagnostic_not_a_crash():
    d = only_error("silspec 1\npopulation p { size = " + "9" * 5000 + " }\n")
    assert d.code == "SIL203" and "5,000 digits" in d.message and (d.span.line, d.span.col) == (2, 23)


def test_non_utf8_file_names_file_and_position(tmp_path):
    path = tmp_path / "latin1.sil"
    path.write_bytes('silspec 1\nstudy s { title = "café" }\n'.encode("latin-1"))
    (d,) = load_spec(str(path)).diagnostics
    assert d.code == "SIL008" and d.span.file == str(path)
    assert (d.span.line, d.span.col) == (2, 23) and "0xe9" in d.message


def test_binary_file_is_reported_at_a_position(tmp_path):
    path = tmp_path / "binary.sil"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (d,) = load_spec(str(path)).diagnostics
    assert d.code == "SIL008" and d.span.file == str(path) and (d.span.line, d.span.col) == (1, 1)
    assert d.location() == f"{path}:1:1"
