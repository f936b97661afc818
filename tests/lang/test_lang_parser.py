"""The parser: every literal of docs/language.md, spans, comments, and errors as diagnostics."""

from __future__ import annotations

import pytest

from silspec.lang import ast
from silspec.lang.parser import parse, parse_expression


def value_of(text: str):
    expr, diags = parse_expression(text)
    assert not diags, diags
    return expr


def only_block(text: str) -> ast.Block:
    result = parse("silspec 1\n" + text, "t.sil")
    assert result.ok, result.diagnostics
    (block,) = result.ast.entries
    return block


def test_header_version_and_span():
    doc = parse("silspec 1\nstudy s { seed = 1 }\n", "t.sil").ast
    assert doc.version == 1 and doc.version_span.line == 1 and doc.version_span.col == 9


@pytest.mark.parametrize(
    "text, value, unit",
    [("42", 42, None), ("-8", -8, None), ("0.7", 0.7, None), ("1e-4", 1e-4, None), ("0.5s", 0.5, "s"),
     ("500ms", 0.5, "s"), ("2m", 120.0, "s"), ("17.3%", 17.3, "%")],
)
def test_numbers_and_units(text, value, unit):
    node = value_of(text)
    assert isinstance(node, ast.Number) and node.value == pytest.approx(value) and node.unit == unit
    assert node.text == text


def test_string_escapes():
    assert value_of(r'"a\"b\\c\nd\te\u00e9"').value == 'a"b\\c\nd\te\u00e9'


def test_long_string_is_dedented_and_keeps_escaped_quotes():
    node = value_of('"""\n    line one\n      indented \\""" quote\n    """')
    assert node.long and node.value == 'line one\n  indented """ quote\n'


def test_korean_text_verbatim():
    assert value_of('"당신은 설문조사 응답자입니다. 질문에 숫자로만 답변하세요."').value.startswith("당신은")


def test_literals_refs_calls_ranges_concat():
    assert value_of("true").value is True and value_of("false").value is False
    assert isinstance(value_of("none"), ast.NoneLit)
    assert value_of("kgss2023.*").parts == ("kgss2023", "*")
    r = value_of("1..10")
    assert (r.start, r.end) == (1, 10)
    call = value_of('table("data/x.csv", item = "CONFINAN", benchmark = "paper")')
    assert call.name == "table" and call.args[0].value == "data/x.csv"
    assert call.kwarg("item").value == "CONFINAN" and call.kwarg("nope") is None
    fit = value_of("fit(leave_one_out, target = benchmark_variance)")
    assert fit.args[0].parts == ("leave_one_out",)
    cat = value_of('a + "\\n" + b')
    assert isinstance(cat, ast.Concat) and len(cat.parts) == 3
    m = value_of('{ "남성": 0.5, 1: "x", key: [1, 2,], }')
    assert [p.key_value for p in m.pairs] == ["남성", 1, "key"]


def test_juxtaposed_entries_and_integer_keys():
    block = only_block('scale s { 1 = "a"  2 = "b" -8 = "모름" missing = [-8] }')
    assert [e.key for e in block.entries] == [1, 2, -8, "missing"]


def test_blocks_extends_and_statements():
    doc = parse(
        "silspec 1\ncondition b extends a { model = m }\n"
        "analysis {\n  metric js { log = e }\n  compare b vs a on js, wasserstein without UNIFI by country\n"
        "  calibrate b with tilt\n}\n",
        "t.sil",
    ).ast
    cond, analysis = doc.entries
    assert cond.extends == "a" and cond.extends_span.line == 2
    metric, compare, calibrate = analysis.entries
    assert metric.kind == "metric" and metric.name == "js"
    assert compare.challenger == "b" and compare.baseline == "a"
    assert compare.metrics == ("js", "wasserstein") and compare.without == ("UNIFI",) and compare.by == "country"
    assert compare.name_spans["UNIFI"].line == 5
    assert (calibrate.condition, calibrate.calibration) == ("b", "tilt")


def test_keywords_are_still_names_elsewhere():
    block = only_block("model on { by = 1  with = 2  vs = 3 }")
    assert block.name == "on" and [e.key for e in block.entries] == ["by", "with", "vs"]


def test_spans_are_one_based_and_end_exclusive():
    block = only_block('study s {\n  title = "T"\n}')
    title = block.entries[0]
    assert (title.key_span.line, title.key_span.col, title.key_span.end_col) == (3, 3, 8)
    assert (title.value.span.line, title.value.span.col, title.value.span.end_col) == (3, 11, 14)


def test_comments_attach_leading_trailing_inner_and_file_end():
    text = (
        "silspec 1 // version\n"
        "// about the study\n"
        "study s { // opens\n"
        "  /* the seed */ seed = 1 // trailing\n"
        "  meta { authors = [\n    \"a\", // first author\n  ] }\n"
        "  // dangling in study\n"
        "}\n"
        "// end of file\n"
    )
    doc = parse(text, "t.sil").ast
    assert [c.text for c in doc.header_comments] == ["// version"]
    study = doc.entries[0]
    assert [c.text for c in study.leading] == ["// about the study"]
    seed, meta = study.entries
    assert [c.text for c in seed.leading] == ["// opens", "/* the seed */"]
    assert [c.text for c in seed.trailing] == ["// trailing"]
    assert [c.text for c in meta.entries[0].inner] == ["// first author"]
    assert [c.text for c in study.inner] == ["// dangling in study"]
    assert [c.text for c in doc.trailing] == ["// end of file"]
    assert len(doc.comments) == 8


def test_bom_is_ignored():
    assert parse("\ufeffsilspec 1\nstudy s { seed = 1 }", "t.sil").ok


@pytest.mark.parametrize(
    "text, code, line, col",
    [
        ('silspec 1\nstudy s { title = "t"', "SIL003", 2, 22),
        ('silspec 1\nstudy s { a = [1 2] }', "SIL001", 2, 18),
        ("silspec 1\nstudy s { a = 'x' }", "SIL002", 2, 15),
        ('silspec 1\nstudy s { a = "x\n" }', "SIL002", 2, 15),
        ('silspec 1\nstudy s { a = "\\q" }', "SIL006", 2, 15),
        ("silspec 1\nstudy s { = 1 }", "SIL001", 2, 11),
        ("silspec 1\nstudy s { a = 1.2.3 }", "SIL001", 2, 18),
        ("silspec 1\n/* never closed", "SIL002", 2, 1),
    ],
)
def test_syntax_errors_become_diagnostics(text, code, line, col):
    result = parse(text, "t.sil")
    assert not result.ok
    d = result.diagnostics[0]
    assert (d.code, d.span.line, d.span.col) == (code, line, col)
    assert d.severity == "error" and d.hint


def test_deep_nesting_is_a_diagnostic_not_a_crash():
    result = parse("silspec 1\nstudy s { a = " + "[" * 5000 + "]" * 5000 + " }", "t.sil")
    assert [(d.code, d.span.line, d.span.col) for d in result.diagnostics] == [("SIL007", 1, 1)]
