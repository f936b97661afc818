"""A literal API key never reaches lint's output: not in messages, not in echoed source lines."""

from __future__ import annotations

import pytest

from silspec.cli.main import main
from silspec.spec.load import load_spec, mask_spans
from silspec.spec.model import Span

from .golden import FIXTURES

LITERAL = str(FIXTURES / "invalid" / "api_key_literal.sil")  # api_key = "sk-secret-123"
VALID = str(FIXTURES / "valid" / "kgss_like.sil")
SET_SECRET = "sk-proj-SETSECRET987"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_literal_key_in_the_spec_is_masked(capsys, fmt):
    assert main(["lint", "--format", fmt, LITERAL]) == 1
    out = capsys.readouterr()
    assert "SIL801" in out.out
    assert "sk-secret-123" not in out.out + out.err
    if fmt == "text":
        assert 'api_key = "***"' in out.out  # the line is still shown, with the key masked


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
@pytest.mark.parametrize("value", [f'"{SET_SECRET}"', SET_SECRET, f"[{SET_SECRET}"])
def test_literal_key_in_set_is_masked(capsys, fmt, value):
    assert main(["lint", "--format", fmt, "--set", f"model.gpt52.api_key={value}", VALID]) == 1
    out = capsys.readouterr()
    assert "SIL801" in out.out or "SIL952" in out.out
    assert SET_SECRET not in out.out + out.err


def test_set_key_that_is_a_bare_name_is_still_a_literal_key():
    result = load_spec(VALID, ["model.gpt52.api_key=sk_live_abc"])
    assert [d.code for d in result.diagnostics if d.severity == "error"] == ["SIL801"]
    assert "sk_live_abc" not in result.sources()["<--set>"]


def test_mask_spans_replaces_only_the_span():
    text = 'a = 1\nkey = "sk-1"  // c\n'
    assert mask_spans(text, [Span("f", 2, 7, 2, 13)]) == 'a = 1\nkey = "***"  // c\n'
    assert mask_spans(text, []) == text
