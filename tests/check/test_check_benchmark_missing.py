"""A benchmark whose declared `missing` share closes the gap to 100 % is correct: no warning.

Published tables round each cell to one decimal, so 99.2 % + 0.7 % missing = 99.9 % is exact
as printed; the tolerance for "closes the gap" is 0.15 points (0.0015 as proportions). A gap
closed only roughly (within the 0.5-point sum tolerance) stays warning SIL403.
"""

from __future__ import annotations

import pytest

from silspec.spec.load import load_text

from .golden import ENV, FIXTURES

SPEC = """silspec 1
study s {{ seed = 1 }}
scale three {{ 1 = "a"  2 = "b"  3 = "c"  missing = [-8] }}
survey sv {{
  item Q1 {{
    text = "q1"
    scale = three
    benchmark b {{ values = {values}  unit = {unit}  missing = {missing}  default = true }}
  }}
}}
persona ps {{ gender = {{ "m": 0.5, "f": 0.5 }} }}
population p {{ persona = ps  size = 10  sampling = stratified }}
template tp = "{{{{ item.text }}}}"
parser fi {{ extract = first_integer }}
model m {{ backend = openai  name = "x" }}
condition c {{ model = m  population = p  items = sv.*  prompt = tp  parser = fi }}
"""


def benchmark_codes(values: str, missing: str, unit: str = "percent") -> list[tuple[str, str]]:
    text = SPEC.format(values=values, missing=missing, unit=unit)
    result = load_text(text, str(FIXTURES / "invalid" / "inline.sil"), env=ENV)
    return [(d.code, d.severity) for d in result.diagnostics if d.code in ("SIL402", "SIL403", "SIL404", "SIL415")]


@pytest.mark.parametrize("values,missing", [
    ("[17.3, 65.4, 16.5]", "0.7"),   # 99.2 + 0.7 = 99.9 (KGSS codebook CONFINAN)
    ("[30.0, 40.0, 29.4]", "0.7"),   # 99.4 + 0.7 = 100.1
    ("[30.0, 40.0, 26.6]", "3.4"),   # 96.6 + 3.4 = 100.0 exactly
])
def test_missing_that_closes_the_gap_within_rounding_is_info_not_warning(values, missing):
    assert benchmark_codes(values, missing) == [("SIL415", "info")]


def test_proportions_use_the_same_rounding_tolerance():
    assert benchmark_codes("[0.3, 0.4, 0.299]", "0.002", unit="proportion") == [("SIL415", "info")]
    assert benchmark_codes("[0.3, 0.4, 0.296]", "0.001", unit="proportion") == [("SIL403", "warning")]


def test_gap_closed_only_roughly_still_warns():
    # 99.0 + 0.7 = 99.7: 0.3 points short, more than the rounding of one-decimal figures
    assert benchmark_codes("[30.0, 40.0, 29.0]", "0.7") == [("SIL403", "warning")]


def test_gap_not_closed_is_an_error():
    assert benchmark_codes("[30.0, 40.0, 25.0]", "0.7") == [("SIL404", "error")]
