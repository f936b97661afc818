"""Row populations from microdata: CSV, SPSS .sav and Stata .dta give the same personas; missing
and negative codes give no sentence and are counted; weight-0 rows are never drawn; broken files
are errors that name the file and line, never tracebacks; lint shows what sampling dropped (SIL424)."""

from __future__ import annotations

from pathlib import Path

import pytest

from silspec.check import microdata
from silspec.plan.compile import compile_header
from silspec.plan.errors import PlanError
from silspec.plan.personas import descriptor_text
from silspec.spec.load import load_spec
from silspec.spec.model import Descriptors
from tests.helpers import wvs_synthetic as wvs


def _spec(root: Path, fmt: str, **kwargs):
    spec_path, data = wvs.small_study(root, fmt=fmt, **kwargs)
    result = load_spec(str(spec_path), env={"WVS_MICRODATA": str(data)})
    assert not [d for d in result.diagnostics if d.severity == "error"], result.diagnostics
    return result.spec, data


def _personas(header) -> dict:
    return {pid: (p.country, p.text, p.texts, p.attributes) for pid, p in header.personas.items()
            if p.texts}


def test_csv_sav_and_dta_give_the_same_personas(tmp_path):
    headers = {}
    for fmt in ("csv", "sav", "dta"):
        spec, _ = _spec(tmp_path / fmt, fmt)
        headers[fmt] = compile_header(spec, conditions=["value_personas", "sociodemographic_personas"])
    personas = {fmt: _personas(h) for fmt, h in headers.items()}
    assert len(personas["csv"]) == 3 * 4
    assert personas["csv"] == personas["sav"] == personas["dta"]
    some = next(iter(personas["csv"].values()))
    assert set(some[2]) == {"inglehart_welzel", "sociodemographic", "fewshot"}
    assert some[1] == some[2]["inglehart_welzel"]  # persona.text is the first set's text
    assert set(some[3]) == {"Q260", "Q262", "Q275", "Q288", "H_URBRURAL"}  # `columns`, nothing else


def test_missing_codes_give_no_sentence_and_are_counted(tmp_path):
    rows = wvs.build_rows(40)
    for row in rows[38:40]:  # JPN (the first country): two weight-0 rows, so size 38 takes every other
        row["W_WEIGHT"] = 0.0
    spec, _ = _spec(tmp_path, "sav", rows=rows, size=38)
    header = compile_header(spec, conditions=["value_personas"])
    summary = header.populations["respondents/JPN"]
    assert summary.matching == 40 and summary.zero_weight == 2 and summary.sampled == 38
    drawn = {p.id for p in header.personas.values() if p.country == "JPN"}
    assert {"100039", "100040"}.isdisjoint(drawn) and len(drawn) == 38  # weight-0 rows never drawn
    assert not summary.weighted  # every drawable row taken: no weighted draw, and the notes say so
    assert "respondents / JPN: all 38 matching rows taken; each counts once (W_WEIGHT not applied)" in summary.lines()
    # JPN rows 100001..100006 carry -1 (Q164), -2 (Q184), -5 (Y003), -2 (age), -1 (income), -4 (Q57)
    missing = summary.missing["inglehart_welzel"]
    assert (missing["Q164"], missing["Q184"], missing["Y003"], missing["Q57"]) == (1, 1, 1, 1)
    assert summary.missing["sociodemographic"]["Q262"] == 1
    assert summary.missing["sociodemographic"]["Q288"] == 1
    assert summary.undescribed == {} and summary.empty == {"inglehart_welzel": 0, "sociodemographic": 0, "fewshot": 0}
    persona = header.personas["100004"]
    assert "years old" not in persona.texts["sociodemographic"]
    assert persona.texts["sociodemographic"].startswith("You are a")
    first = header.personas["100001"]
    assert "importance of God" not in first.texts["inglehart_welzel"]  # Q164 = -1: no sentence
    assert "How important is God" not in first.texts["fewshot"]
    assert any("missing answers (no sentence) of 38 personas: Q164 1, Y003 1, Q184 1, Q57 1" in line
               for line in summary.lines())
    jor = header.populations["respondents/JOR"]
    assert jor.zero_weight == 0 and jor.weighted and jor.sampled == 38  # 38 of 40 by W_WEIGHT


def test_a_y003_code_of_minus_two_is_an_answer_not_missing():
    """Y003 is substantive on -2..2: the descriptor table describes -2, so -2 is a sentence even
    though -2 is "no answer" everywhere else."""
    d = Descriptors("d", {"Y003": {-2: "You value obedience."}, "Q164": {1: "God is not important to you."}},
                    missing=(-1, -2, -3, -4, -5))
    from silspec.plan.personas import _Tally

    tally = _Tally()
    assert descriptor_text(d, {"Y003": "-2", "Q164": "-2"}, tally) == "You value obedience."
    assert tally.missing == {"Y003": 0, "Q164": 1}
    assert tally.undescribed == {}
    tally = _Tally()
    assert descriptor_text(d, {"Y003": "7", "Q164": ""}, tally) == ""
    assert tally.undescribed == {"Y003": {"7": 1}} and tally.missing["Q164"] == 1 and tally.empty == 1


def test_descriptor_sentences_join_with_the_sets_separator():
    d = Descriptors("few", {"A": {1: "Question: a?\nAnswer: 1"}, "B": {2: "Question: b?\nAnswer: 2"}}, separator="\n\n")
    assert descriptor_text(d, {"A": "1.0", "B": "2"}) == "Question: a?\nAnswer: 1\n\nQuestion: b?\nAnswer: 2"


def test_sociodemographic_text_renders_every_column_of_a_row(tmp_path):
    spec, _ = _spec(tmp_path, "csv")
    d = spec.descriptors["sociodemographic"]
    row = {"Q260": "2", "Q262": "34", "Q275": "6", "Q288": "3", "H_URBRURAL": "2"}
    assert descriptor_text(d, row) == (
        "You are a woman. You are 34 years old. Your highest level of education is a bachelor's degree "
        "or equivalent (ISCED 6). On your country's income scale from 1 (lowest group) to 10 (highest "
        "group), your household is in group 3. You live in a rural area."
    )


def test_the_weighted_draw_is_deterministic_and_follows_the_weights(tmp_path):
    rows = wvs.build_rows(40)
    for row in rows:  # JPN: only ten respondents have weight; the draw can only take them
        if row["B_COUNTRY_ALPHA"] == "JPN":
            row["W_WEIGHT"] = 1.0 if int(row["D_INTERVIEW"]) % 4 == 0 else 0.0
    spec, _ = _spec(tmp_path, "dta", rows=rows, size=8)
    first = compile_header(spec, conditions=["value_personas"])
    again = compile_header(spec, conditions=["value_personas"])
    jpn = [p.id for p in first.personas.values() if p.country == "JPN"]
    assert jpn == [p.id for p in again.personas.values() if p.country == "JPN"]
    assert len(jpn) == 8 and all(int(i) % 4 == 0 for i in jpn)
    assert first.populations["respondents/JPN"].zero_weight == 30
    assert first.populations["respondents/JPN"].weighted is False  # equal weights among the drawable


def test_a_bad_weight_names_its_row(tmp_path):
    """A negative weight in a numeric column passes lint (the column's type is right) and stops the plan."""
    rows = wvs.build_rows(10)
    rows[12]["W_WEIGHT"] = -1.0
    spec, _ = _spec(tmp_path, "sav", rows=rows, size=3)
    with pytest.raises(PlanError, match=r"weight 'W_WEIGHT' of a matching row \(id 100013\) is '-1', not a non-negative"):
        compile_header(spec, conditions=["value_personas"])


def test_lint_names_a_text_weight_in_a_csv_with_its_line(tmp_path):
    rows = wvs.build_rows(10)
    rows[4]["W_WEIGHT"] = "n/a"
    spec_path, data = wvs.small_study(tmp_path, fmt="csv", rows=rows, size=3)
    result = load_spec(str(spec_path), env={"WVS_MICRODATA": str(data)})
    found = [d for d in result.diagnostics if d.code == "SIL422"]
    assert len(found) == 1 and "line 6" in found[0].message and "'n/a'" in found[0].message
    assert found[0].span.line == spec_path.read_text().splitlines().index('  weight = "W_WEIGHT"') + 1


def test_lint_says_which_column_is_missing_from_the_microdata(tmp_path):
    spec_path, data = wvs.small_study(tmp_path, fmt="sav", size=3)
    import pyreadstat

    pyreadstat.write_sav(wvs.frame(wvs.build_rows(10)).drop(columns=["Q275"]), str(data))
    result = load_spec(str(spec_path), env={"WVS_MICRODATA": str(data)})
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert [d.code for d in errors] == ["SIL421", "SIL421"]  # from `columns` and from descriptors `sociodemographic`
    assert all("Q275" in d.message for d in errors)


def test_lint_warns_when_the_microdata_variable_is_unset_or_points_nowhere(tmp_path):
    spec_path, data = wvs.small_study(tmp_path, fmt="csv", size=3)
    unset = load_spec(str(spec_path), env={})
    assert [d.message for d in unset.diagnostics if d.code == "SIL703"] == ["provide WVS_MICRODATA to run this spec"]
    nowhere = load_spec(str(spec_path), env={"WVS_MICRODATA": str(tmp_path / "nope.sav")})
    assert any(d.code == "SIL703" and "does not exist" in d.message for d in nowhere.diagnostics)


def test_a_truncated_csv_is_an_error_with_its_line(tmp_path):
    path = tmp_path / "cut.csv"
    path.write_text("D_INTERVIEW,B_COUNTRY_ALPHA,W_WEIGHT\n1,JPN,1\n2,JPN\n", encoding="utf-8")
    with pytest.raises(microdata.MicrodataError, match=r"cut.csv:3: 2 cells, the header has 3"):
        microdata.read_rows(str(path))


def test_a_semicolon_csv_reads_like_a_comma_one(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("D_INTERVIEW;W_WEIGHT;Q164\n1;0.5;-1\n", encoding="utf-8")
    assert microdata.read_rows(str(path)) == [{"D_INTERVIEW": "1", "W_WEIGHT": "0.5", "Q164": "-1"}]


@pytest.mark.parametrize("name, problem", [
    ("x.sav", "is not a readable SPSS file"),
    ("x.dta", "is not a readable Stata file"),
    ("x.xlsx", "unknown microdata format '.xlsx'"),
])
def test_unreadable_files_are_microdata_errors(tmp_path, name, problem):
    path = tmp_path / name
    path.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(microdata.MicrodataError, match=problem):
        microdata.read_header(str(path))


def test_an_unreadable_file_at_plan_time_is_a_plan_error_not_a_traceback(tmp_path):
    spec, data = _spec(tmp_path, "sav", size=3)
    Path(data).write_bytes(b"not spss")
    with pytest.raises(PlanError, match="cannot read rows: .* is not a readable SPSS file"):
        compile_header(spec, conditions=["value_personas"])


def test_spss_user_missing_codes_stay_codes(tmp_path):
    """WVS .sav files declare -1..-5 user-missing; the spec, not the file, says they are missing."""
    rows = wvs.build_rows(5)
    path = wvs.write_sav(tmp_path / "r.sav", rows)
    read = microdata.read_rows(str(path), ["D_INTERVIEW", "Q164", "Y003", "W_WEIGHT"])
    assert read[0]["Q164"] == "-1" and read[2]["Y003"] == "-5"
    assert read[0]["W_WEIGHT"] == repr(float(rows[0]["W_WEIGHT"]))


def test_lint_lists_what_sampling_dropped_sil424(tmp_path):
    """SIL424 (info): lint's sampling notes (weight-0 rows, missing answers) at the condition."""
    from silspec.plan.render_check import render_diagnostics

    spec, _ = _spec(tmp_path, "csv", size=38)
    notes = [d for d in render_diagnostics(spec) if d.code == "SIL424"]
    assert notes and all(d.severity == "info" for d in notes)
    text = "\n".join(d.message for d in notes)
    assert "respondents / COL: 2 of 40 matching rows have weight 0" in text
    assert "respondents / JPN: inglehart_welzel: missing answers (no sentence) of 38 personas: Q164 1, Y003 1" in text


def test_a_where_filter_on_a_sav_column_keeps_only_its_rows(tmp_path):
    rows = wvs.build_rows(40)
    spec_path, data = wvs.small_study(tmp_path, fmt="sav", rows=rows, size=5)
    text = spec_path.read_text(encoding="utf-8").replace(
        '  weight = "W_WEIGHT"\n', '  weight = "W_WEIGHT"\n  where = { "H_URBRURAL": "2" }\n', 1)
    spec_path.write_text(text, encoding="utf-8")
    result = load_spec(str(spec_path), env={"WVS_MICRODATA": str(data)})
    assert not [d for d in result.diagnostics if d.severity == "error"], result.diagnostics
    header = compile_header(result.spec, conditions=["value_personas"])
    rural = {str(r["D_INTERVIEW"]) for r in rows if r["H_URBRURAL"] == 2}
    drawn = [p for p in header.personas.values() if p.texts]
    assert len(drawn) == 15 and all(p.id in rural for p in drawn)
    assert all(p.attributes["H_URBRURAL"] == "2" and "rural" in p.texts["sociodemographic"] for p in drawn)
    jpn = header.populations["respondents/JPN"]
    assert jpn.matching == sum(1 for r in rows if r["B_COUNTRY_ALPHA"] == "JPN" and r["H_URBRURAL"] == 2)


def test_the_item_scales_say_which_codes_are_missing():
    """`items = values.*`: each item's scale declares its missing codes (Q164: -1..-5; Y003: -5),
    so a -1 on Q164 is a missing answer while a -1 on Y003 is a sentence, with no `missing` key."""
    from silspec.plan.personas import _Tally

    d = Descriptors("d", {"Y003": {-1: "You lean to obedience."}, "Q164": {1: "God is not important to you."}},
                    item_missing={"Q164": (-1, -2, -3, -4, -5), "Y003": (-5,)})
    tally = _Tally()
    assert descriptor_text(d, {"Y003": "-1", "Q164": "-1"}, tally) == "You lean to obedience."
    assert tally.missing == {"Y003": 0, "Q164": 1} and tally.undescribed == {}
    tally = _Tally()
    descriptor_text(d, {"Y003": "-4", "Q164": "1"}, tally)  # -4 is not missing on Y003's scale
    assert tally.undescribed == {"Y003": {"-4": 1}}


def test_the_shipped_spec_takes_missing_codes_from_the_value_items_scales(tmp_path):
    spec, _ = _spec(tmp_path, "csv", size=3)
    d = spec.descriptors["inglehart_welzel"]
    assert d.missing == () and d.item_missing["Y003"] == (-5,) and d.item_missing["Q164"] == (-1, -2, -3, -4, -5)
    assert len(d.item_missing) == 10


def test_the_no_country_conditions_ask_the_same_respondents_with_the_same_persona_and_no_country(tmp_path):
    # the value-persona paper's Figure 3 ablation: only the country sentence differs
    from silspec.plan.compile import compile_plan

    spec, _ = _spec(tmp_path, "csv")
    pairs = {"value_personas": "value_personas_no_country",
             "sociodemographic_personas": "sociodemographic_no_country",
             "fewshot_personas": "fewshot_no_country"}
    plan = compile_plan(spec, conditions=[*pairs, *pairs.values()])
    names = {"COL": "Colombia", "JOR": "Jordan", "JPN": "Japan"}
    system = {(r.condition, r.persona, r.item): r.messages[0].content for r in plan.requests}
    for with_country, without in pairs.items():
        asked = {(p, i) for c, p, i in system if c == with_country}
        assert asked and asked == {(p, i) for c, p, i in system if c == without}
        for persona, item in asked:
            country = plan.header.personas[persona].country
            named, bare = system[(with_country, persona, item)], system[(without, persona, item)]
            assert f"living in {names[country]}" in named and names[country] not in bare
            assert "as a typical human would" in bare
            assert named.split("\n", 1)[1] == bare.split("\n", 1)[1]  # the same persona text
