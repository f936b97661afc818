"""Tables that give one code (or attribute value) twice are errors naming the code and lines."""

from __future__ import annotations

from silspec.spec.load import load_spec

from .golden import ENV, FIXTURES

SPEC = FIXTURES / "invalid" / "duplicate_table_rows.sil"


def errors():
    return {d.code + ":" + str(d.span.line): d for d in load_spec(str(SPEC), env=ENV).diagnostics}


def test_item_benchmark_table_names_code_and_lines():
    d = errors()["SIL414:4"]
    assert "code 1 of `Q1` 2 times (lines 2 and 5)" in d.message and "duplicate_codes.csv" in d.message


def test_survey_benchmark_table_names_code_filters_and_lines():
    d = errors()["SIL414:6"]
    assert "code 2 appears twice for country = 'KOR', item = 'Q1': lines 3 and 5" in d.message


def test_attribute_table_names_value_conditioning_and_lines():
    d = errors()["SIL505:11"]
    assert "value 'young' under gender = 'f' appears twice" in d.message and "(lines 4 and 6)" in d.message


def test_same_code_under_different_filters_is_fine(tmp_path):
    (tmp_path / "silspec.toml").write_text("")
    (tmp_path / "b.csv").write_text("item,code,value\nQ1,1,40\nQ1,2,60\nQ2,1,30\nQ2,2,70\n")
    (tmp_path / "s.sil").write_text(
        'silspec 1\nstudy s { title = "t"  seed = 1 }\nscale s2 { 1 = "a"  2 = "b" }\n'
        'survey sv {\n  benchmark = table("b.csv", item = "{{ item }}")\n'
        '  item Q1 { text = "q?"  scale = s2 }\n  item Q2 { text = "q?"  scale = s2 }\n}\n'
    )
    result = load_spec(str(tmp_path / "s.sil"), env=ENV)
    assert not [d for d in result.diagnostics if d.code in ("SIL414", "SIL505")]
    assert result.spec.item("sv.Q2").benchmarks[0].values == (30.0, 70.0)
