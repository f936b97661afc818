"""Seeded mutants of shipped specs: syntax damage plus hostile values (used by the fuzz test
and ``bench/fuzz.py``).

Beyond typos (``test_check_mutation.mutate``), a hostile mutant swaps in values a stranger's
spec could carry: huge or unitless numbers, long strings, templates that loop, print or reach
for internals, references to other names, and blocks copied hundreds of times.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "tests" / "fixtures" / "sil" / "valid" / "kgss_like.sil",
           ROOT / "tests" / "fixtures" / "sil" / "valid" / "wvs_like.sil"]
SOURCES += sorted(p for p in (ROOT / "specs").glob("*.sil"))

TOKEN = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|\w+|\S')
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:ms|s|m|h|%)?(?![\w.])")
STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
NAME = re.compile(r"\b[A-Za-z_]\w*\b")
PUNCT = list('{}[]()=,.:+"*/-%') + ['"""', "//", "/*", "..", "\\"]

HOSTILE_NUMBERS = ["0", "-1", "0s", "500", "1e308", "9" * 120, "9" * 5000, "99999999999", "1.5", "-0.0",
                   "10000001", "100001", "1000001", "2h", "0ms", "17.3%", "1..100000"]
HOSTILE_STRINGS = [
    "{% for c in item.text %}{% for d in item.text %}{{ c }}{% endfor %}{% endfor %}",
    "{% set s = 'x' * 99999 %}{% for c in s %}{% for d in s %}{% endfor %}{% endfor %}",
    "{% set a = ['x' * 1000] %}" + "{% set a = [a, a] %}" * 20 + "{{ a|upper }}",
    "{{ ''.__class__.__mro__ }}", "{{ item.options|upper }}", "{{ persona }}", "{{ item.text * 100000 }}",
    "{% for c, l in item.options %}{{ c }}{{ l }}{% endfor %}", "{{ item.nothing }}", "{{ 1/0 }}",
    "{{ range(10**9)|list }}", "{{ 'a'|center(10**9) }}", "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "\\q", "\\u00e9", "../../../etc/passwd", "/dev/zero", "data", "x" * 100_001, "{{ item.text }}",
    "{{ persona.gender }}", "{{ country_name }}", "data/benchmarks.csv", "", "PATH",
]


def syntax_mutate(text: str, rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0 and text:
        i = rng.randrange(len(text))
        return text[:i] + text[i + 1:]
    if kind == 1 and text:
        i = rng.randrange(len(text))
        return text[:i] + text[i] + text[i:]
    if kind == 2 and len(text) > 1:
        i = rng.randrange(len(text) - 1)
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    tokens = [m.span() for m in TOKEN.finditer(text)]
    if kind == 3 and tokens:
        a, b = rng.choice(tokens)
        return text[:a] + text[b:]
    if kind == 4 and len(tokens) > 1:
        (a1, b1), (a2, b2) = sorted(rng.sample(tokens, 2))
        return text[:a1] + text[a2:b2] + text[b1:a2] + text[a1:b1] + text[b2:]
    if kind == 5 and tokens:
        a, _ = rng.choice(tokens)
        return text[:a] + rng.choice(PUNCT) + text[a:]
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    if kind == 6:
        return "\n".join(lines[:i] + lines[i + 1:])
    j = rng.randrange(len(lines))
    return "\n".join(lines[:j] + [lines[i]] + lines[j:])


def _replace_match(text: str, pattern: re.Pattern[str], rng: random.Random, new: str) -> str:
    found = list(pattern.finditer(text))
    if not found:
        return text
    m = rng.choice(found)
    return text[:m.start()] + new + text[m.end():]


def value_mutate(text: str, rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return _replace_match(text, NUMBER, rng, rng.choice(HOSTILE_NUMBERS))
    if kind == 1:
        body = rng.choice(HOSTILE_STRINGS).replace('"', "'")
        return _replace_match(text, STRING, rng, '"' + body + '"')
    if kind == 2:
        names = [m.group(0) for m in NAME.finditer(text)]
        return _replace_match(text, NAME, rng, rng.choice(names)) if names else text
    if kind == 3:  # copy one line many times (items, rows, conditions)
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        return "\n".join(lines[:i] + [lines[i]] * rng.choice((2, 10, 200)) + lines[i:])
    # a key the block may not have, or one it has, with a hostile value
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    key = rng.choice(["delay", "timeout", "api_key", "temperature", "samples", "size", "form", "alpha",
                      "normalise", "log", "base_url", "seed", "resamples"])
    value = rng.choice(["500", "0s", 'env("PATH")', "similarity", "0.05", "max", "e", '"http://u:p@h/v1"',
                        "99999999999", "-3", "one_minus_distance"])
    return "\n".join(lines[:i] + [f"  {key} = {value}"] + lines[i:])


def mutant(seed: int) -> tuple[Path, str]:
    """The source spec and its mutant text for ``seed`` (1 to 5 mutations, syntax or value)."""
    rng = random.Random(seed)
    source = SOURCES[seed % len(SOURCES)]
    text = source.read_text(encoding="utf-8")
    for _ in range(rng.choice((1, 1, 2, 3, 5))):
        text = value_mutate(text, rng) if rng.random() < 0.6 else syntax_mutate(text, rng)
    return source, text
