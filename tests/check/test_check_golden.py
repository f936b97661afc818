"""Golden fixtures: valid specs lint with exactly their expected notes; invalid ones fail so."""

from __future__ import annotations

import pytest

from silspec.spec.load import load_spec

from .golden import ENV, FIXTURES, assert_golden

VALID = sorted((FIXTURES / "valid").glob("*.sil"))
INVALID = sorted((FIXTURES / "invalid").glob("*.sil"))


def test_fixture_corpus_is_not_empty():
    assert len(VALID) >= 2 and len(INVALID) >= 25


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_fixture(path):
    assert_golden(path)
    result = load_spec(str(path), env=ENV)
    assert result.ok and result.spec is not None


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_fixture(path):
    assert_golden(path)
    result = load_spec(str(path), env=ENV)
    if any(d.severity == "error" for d in result.diagnostics):
        assert result.spec is None and not result.ok
    for d in result.diagnostics:
        assert d.code.startswith("SIL") and len(d.code) == 6
        assert d.span is not None and d.span.file.endswith(path.name)
        if d.severity == "error":
            assert d.hint, f"{d.code} has no hint"
