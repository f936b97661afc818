"""The one helper every golden fixture goes through: lint a file, compare code + line:col.

``X.expected`` next to ``X.sil`` lists one diagnostic per line as ``CODE LINE:COL`` (every
severity; ``#`` starts a comment). Order does not matter; multiplicity does.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from silspec.spec.load import load_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sil"
ENV = {"HF_HUB_OFFLINE": "1"}  # a clean environment: no keys, no external data


def expected_for(sil: Path) -> Counter:
    out: Counter = Counter()
    for line in sil.with_suffix(".expected").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            code, pos = line.split()
            out[(code, pos)] += 1
    return out


def actual_for(sil: Path, env: dict | None = None) -> Counter:
    result = load_spec(os.fspath(sil), env=ENV if env is None else env)
    return Counter((d.code, f"{d.span.line}:{d.span.col}" if d.span else "-") for d in result.diagnostics)


def assert_golden(sil: Path) -> None:
    expected, actual = expected_for(sil), actual_for(sil)
    missing = expected - actual
    unexpected = actual - expected
    assert not missing and not unexpected, (
        f"{sil.name}: missing {sorted(missing.elements())}, unexpected {sorted(unexpected.elements())}"
    )
