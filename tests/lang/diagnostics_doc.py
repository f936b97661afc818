"""docs/diagnostics.md, written from the code registry: one heading (anchor) per code.

``python -m tests.lang.diagnostics_doc`` rewrites the page; ``tests/lang/test_codes.py`` fails
when the page and the registry disagree, so the page cannot fall behind a new code.
"""

from __future__ import annotations

import re
from pathlib import Path

from silspec.lang.codes import CODES, Code

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "diagnostics.md"
FIXTURES = REPO / "tests" / "fixtures" / "sil"

# Codes no .sil file can produce through `load_spec`, and the test that produces each instead.
EXEMPT = {
    "SIL000": ("an internal error (a crashing rule)", "tests/check/test_check_lint_cli.py::test_a_crashing_rule_is_sil000_not_a_traceback"),
    "SIL424": ("lint's sampling of a row population, not spec text", "tests/plan/test_microdata_populations.py::test_lint_lists_what_sampling_dropped_sil424"),
    "SIL951": ("a `--set` override, not spec text", "tests/spec/test_overrides.py"),
    "SIL952": ("a `--set` override, not spec text", "tests/spec/test_overrides.py"),
    "SIL960": ("a lock file beside the spec", "tests/prereg/test_freeze_verify.py::test_lint_warns_on_a_stale_lock_and_frozen_makes_it_an_error"),
    "SIL961": ("`lint --frozen` without a lock", "tests/check/test_check_lint_cli.py::test_frozen_without_a_lock_is_an_error_through_lint_alone"),
    "SIL962": ("an unreadable lock file", "tests/check/test_check_lint_cli.py::test_an_unreadable_lock_is_sil962_and_an_error_with_frozen"),
    "SIL963": ("a lock that cannot be compared", "tests/check/test_check_lint_cli.py::test_a_lock_that_cannot_be_compared_is_sil963"),
    "SIL970": ("the environment (`lint --check-env`), not spec text", "tests/run/test_envcheck.py"),
    "SIL971": ("the environment (`lint --check-env`), not spec text", "tests/run/test_envcheck.py"),
    "SIL972": ("the environment (`lint --check-env`), not spec text", "tests/run/test_envcheck.py"),
}

HEADER = """# Diagnostics

Every code `silspec lint` (and `plan`, `freeze`) can print, from the registry in
`silspec/lang/codes.py`. Each heading is the anchor the registry names (`docs/diagnostics.md#sil101`).
The severity is the code's usual one; "also" lists the others it takes in some cases (SIL105 is a
warning for a missing `study.seed`, an error for any other missing key). The language reference
(`docs/language.md`, "Diagnostics") groups the same codes by what they check.

Each entry names a golden fixture that produces it (`tests/fixtures/sil/*/NAME.sil`, with the
expected `CODE LINE:COL` in `NAME.expected`), or, for a code no spec text can produce, the test
that does. This page is generated: `python -m tests.lang.diagnostics_doc`.
"""


def fixtures_by_code() -> dict[str, list[str]]:
    """code -> fixture paths (relative to the repo) whose .expected lists it."""
    out: dict[str, list[str]] = {}
    for expected in sorted(FIXTURES.glob("*/*.expected")):
        codes = set(re.findall(r"^\s*(SIL\d{3})\s", expected.read_text(encoding="utf-8"), re.M))
        for code in codes:
            out.setdefault(code, []).append(expected.with_suffix(".sil").relative_to(REPO).as_posix())
    return out


def _entry(code: Code, fixtures: list[str]) -> str:
    severity = code.severity + (f" (also {', '.join(code.also)})" if code.also else "")
    lines = [f"## {code.code}", "", f"**{severity}**: {code.title}.", ""]
    if code.hint:
        lines += [f"Hint when nothing more specific applies: {code.hint}.", ""]
    if fixtures:
        shown = ", ".join(f"`{f}`" for f in fixtures[:3]) + (f" (+{len(fixtures) - 3} more)" if len(fixtures) > 3 else "")
        lines += [f"Example: {shown}.", ""]
    elif code.code in EXEMPT:
        why, test = EXEMPT[code.code]
        lines += [f"Not producible from spec text ({why}); covered by `{test}`.", ""]
    return "\n".join(lines)


def render() -> str:
    fixtures = fixtures_by_code()
    return HEADER + "\n" + "\n".join(_entry(c, fixtures.get(c.code, [])) for c in CODES.values())


if __name__ == "__main__":
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(REPO)} ({len(CODES)} codes)")
