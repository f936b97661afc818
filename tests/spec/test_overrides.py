"""`--set KEY=VALUE`: applied to the syntax tree, checked like spec values, recorded on the Spec."""

from __future__ import annotations

import pytest

from silspec.spec.load import load_spec

from tests.check.golden import ENV, FIXTURES

SPEC = str(FIXTURES / "valid" / "kgss_like.sil")


def load(*overrides):
    return load_spec(SPEC, list(overrides), env=ENV)


def errors(result):
    return [d for d in result.diagnostics if d.severity == "error"]


def test_overrides_change_values_and_are_recorded():
    result = load(
        "model.gpt52.temperature=1.0",
        'survey.kgss.item.CONFINAN.text="새 질문?"',
        "analysis.metric.js.log=2",
        "model.gpt52.base_url=\"http://127.0.0.1:8000/v1\"",
        "condition.indigenous.samples=3",
        'template.system_ko="Answer with a number."',
    )
    assert result.ok, result.diagnostics
    spec = result.spec
    assert spec.models["gpt52"].params["temperature"] == 1.0
    assert spec.models["gpt52"].base_url == "http://127.0.0.1:8000/v1"
    assert spec.item("kgss.CONFINAN").text == "새 질문?"
    assert [m.options for m in spec.analysis.metrics if m.name == "js"] == [{"log": 2}]
    assert spec.conditions["indigenous"].samples == 3 and spec.conditions["baseline"].samples == 1
    assert spec.templates["system_ko"].source == "Answer with a number."
    assert spec.overrides[0] == ("model.gpt52.temperature", "1.0")
    assert len(spec.overrides) == 6


def test_override_adds_a_key_the_block_did_not_set():
    result = load("model.gpt52.seed=7")
    assert result.ok and result.spec.models["gpt52"].params["seed"] == 7


def test_override_values_are_checked_like_spec_values():
    result = load("model.gpt52.temperature=hot")
    (d,) = errors(result)
    assert d.code == "SIL201" and d.span.file == "<--set>" and d.span.line == 1
    assert "<--set>" in result.sources()
    result = load("model.gpt52.temperature=7")
    assert [d.code for d in errors(result)] == ["SIL203"]


@pytest.mark.parametrize(
    "override, code, hint_part",
    [
        ("model.gtp52.temperature=1", "SIL951", "model.gpt52"),
        ("modle.gpt52.temperature=1", "SIL951", "model.gpt52"),
        ("model.gpt52.temprature=1", "SIL102", "temperature"),
        ("model.gpt52.temperature", "SIL951", "--set"),
        ("temperature=1", "SIL951", "<block kind>"),
        ("model.gpt52.temperature=[1,", "SIL952", "literal"),
    ],
)
def test_bad_override_is_a_diagnostic(override, code, hint_part):
    result = load(override)
    assert not result.ok and result.spec is None
    d = errors(result)[0]
    assert d.code == code and hint_part in (d.hint or "")


def test_bare_url_is_taken_as_a_string():
    # the README's own example: the shell has already removed any quotes
    result = load("model.gpt52.base_url=http://127.0.0.1:8000/v1", "survey.kgss.item.CONFINAN.text=Do you trust banks?")
    assert result.ok, result.diagnostics
    assert result.spec.models["gpt52"].base_url == "http://127.0.0.1:8000/v1"
    assert result.spec.item("kgss.CONFINAN").text == "Do you trust banks?"
    assert result.spec.overrides[0] == ("model.gpt52.base_url", "http://127.0.0.1:8000/v1")


def test_literals_still_parse_as_literals():
    result = load("model.gpt52.temperature=1.5", "model.gpt52.seed=7", "condition.indigenous.samples=2")
    assert result.ok
    assert result.spec.models["gpt52"].params["temperature"] == 1.5
    assert result.spec.models["gpt52"].params["seed"] == 7
    result = load("model.gpt52.base_url=42")  # a number stays a number: a type error for a URL
    assert [d.code for d in errors(result)] == ["SIL201"]


def test_bad_nested_path_names_the_whole_path():
    result = load_spec(str(FIXTURES / "valid" / "wvs_like.sil"), ["descriptors.ingle.item.Q999.1=\"x\""], env=ENV)
    (d,) = errors(result)
    assert d.code == "SIL951"
    assert "`descriptors.ingle.item.Q999.1`" in d.message and "`descriptors.ingle.item.Q999`" in d.message
