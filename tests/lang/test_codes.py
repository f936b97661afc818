"""The diagnostic code registry: every code registered, emitted, documented and tested.

A code appears as a string literal where it is emitted (``ctx.error("SIL405", ...)``); the
registry (``silspec/lang/codes.py``) is the one list; docs/diagnostics.md has a heading per code;
a golden fixture lists each code, or ``EXEMPT`` names the test that produces it instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from silspec.lang.codes import CODES, lookup
from silspec.lang.diagnostics import Diagnostic
from silspec.lang.span import Span

from .diagnostics_doc import EXEMPT, PAGE, REPO, fixtures_by_code, render

SOURCE = REPO / "silspec"
LITERAL = re.compile(r"\"(SIL\d{3})\"")


def _emitted() -> dict[str, list[str]]:
    """code -> modules holding it as a string literal (outside the registry itself)."""
    out: dict[str, list[str]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        if path.name == "codes.py" and path.parent.name == "lang":
            continue
        for code in set(LITERAL.findall(path.read_text(encoding="utf-8"))):
            out.setdefault(code, []).append(path.relative_to(REPO).as_posix())
    return out


def test_every_code_in_the_source_is_registered():
    unknown = {code: where for code, where in _emitted().items() if code not in CODES}
    assert not unknown, f"codes used but not in silspec/lang/codes.py: {unknown}"


def test_every_registered_code_is_emitted_somewhere():
    emitted = _emitted()
    assert [c for c in CODES if c not in emitted] == []


def test_every_code_has_a_golden_fixture_or_a_named_test():
    fixtures = fixtures_by_code()
    missing = [c for c in CODES if c not in fixtures and c not in EXEMPT]
    assert missing == [], f"write tests/fixtures/sil/invalid/<case>.sil + .expected for {missing}"
    # An exemption is for a code no fixture can show; once a fixture shows it, drop the exemption.
    assert [c for c in EXEMPT if c in fixtures] == []
    for code, (_, test) in EXEMPT.items():
        test_file = REPO / test.split("::")[0]
        assert code in test_file.read_text(encoding="utf-8"), f"{test} does not mention {code}"
        if "::" in test:
            assert f"def {test.split('::')[1]}(" in test_file.read_text(encoding="utf-8")


def test_docs_page_has_one_anchor_per_code_and_is_current():
    text = PAGE.read_text(encoding="utf-8")
    headings = re.findall(r"^## (SIL\d{3})$", text, re.M)
    assert headings == list(CODES)
    assert text == render(), "docs/diagnostics.md is stale: run `python -m tests.lang.diagnostics_doc`"
    assert all(c.anchor == f"docs/diagnostics.md#{c.code.lower()}" for c in CODES.values())


def test_codes_are_sorted_unique_and_well_formed():
    assert list(CODES) == sorted(CODES)
    assert all(re.fullmatch(r"SIL\d{3}", c) and entry.code == c and entry.title for c, entry in CODES.items())


def test_a_diagnostic_refuses_an_unregistered_code_or_severity():
    with pytest.raises(KeyError, match="not registered"):
        Diagnostic("SIL999", "error", "x", Span("a.sil", 1, 1))
    with pytest.raises(ValueError, match="SIL412 is registered as warning"):
        Diagnostic("SIL412", "error", "x", Span("a.sil", 1, 1))
    assert Diagnostic("SIL105", "warning", "no seed").severity == "warning"  # listed in `also`


def test_default_hints_are_the_registry_s():
    assert lookup("SIL701").hint == "check the path"
    assert lookup("SIL102").hint is None
