"""A spec written around a few lines under test: the same study, scale, survey, persona and model.

``lint(body, study=..., model=..., template=...)`` checks HEAD + body as if it were a file in
tests/fixtures/sil/invalid (so relative paths resolve there).
"""

from __future__ import annotations

from silspec.spec.load import load_text

from .golden import ENV, FIXTURES

VALID = FIXTURES / "valid"
INVALID = FIXTURES / "invalid"

HEAD = """silspec 1
study s {{ seed = 1 {study} }}
scale five {{ 1 = "a"  2 = "b"  3 = "c"  4 = "d"  5 = "e" }}
survey sv {{
  item Q1 {{ text = "q1"  scale = five  benchmark = [0.2, 0.2, 0.2, 0.2, 0.2] }}
  item Q2 {{ text = "q2"  scale = five  benchmark = [0.2, 0.2, 0.2, 0.2, 0.2] }}
}}
persona ps {{ gender = {{ "m": 0.5, "f": 0.5 }} }}
population p {{ persona = ps  size = 10  sampling = stratified }}
template tp = "{template}"
parser fi {{ extract = first_integer }}
model m {{ backend = openai  name = "x" {model} }}
"""


def lint(body: str, *, study: str = "", model: str = "", template: str = "{{ item.text }}"):
    text = HEAD.format(study=study, model=model, template=template) + body
    return load_text(text, str(INVALID / "inline.sil"), env=ENV)


def codes(result) -> list[str]:
    return sorted(d.code for d in result.diagnostics)


def message(result, code: str) -> str:
    return next(d.message for d in result.diagnostics if d.code == code)
