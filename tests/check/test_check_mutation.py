"""Damage realistic specs in many seeded random ways: lint always answers, never a traceback.

Mutations: delete/duplicate/swap characters, tokens and lines, and insert stray punctuation.
Every outcome must be a ``LoadResult`` whose diagnostics are real (no ``SIL000`` internal
error), have a span, and render as text, JSON and GitHub annotations.
"""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pytest
from rich.console import Console

from silspec.lang.diagnostics import render_github, render_text, to_json
from silspec.spec.load import load_text

from .golden import ENV, FIXTURES

ROOT = FIXTURES.parent.parent.parent
SOURCES = [FIXTURES / "valid" / "kgss_like.sil", FIXTURES / "valid" / "wvs_like.sil"]
SOURCES += [p for p in (ROOT / "specs" / "kgss_indigenous.sil",) if p.exists()]
TOKEN = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|\w+|\S')
PUNCT = list('{}[]()=,.:+"*/-%') + ['"""', "//", "/*", "..", "\\"]


def mutate(text: str, rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0 and text:  # delete a character
        i = rng.randrange(len(text))
        return text[:i] + text[i + 1:]
    if kind == 1 and text:  # duplicate a character
        i = rng.randrange(len(text))
        return text[:i] + text[i] + text[i:]
    if kind == 2 and len(text) > 1:  # swap two neighbouring characters
        i = rng.randrange(len(text) - 1)
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    tokens = [m.span() for m in TOKEN.finditer(text)]
    if kind == 3 and tokens:  # delete a token
        a, b = rng.choice(tokens)
        return text[:a] + text[b:]
    if kind == 4 and len(tokens) > 1:  # swap two tokens
        (a1, b1), (a2, b2) = sorted(rng.sample(tokens, 2))
        return text[:a1] + text[a2:b2] + text[b1:a2] + text[a1:b1] + text[b2:]
    if kind == 5 and tokens:  # insert stray punctuation
        a, _ = rng.choice(tokens)
        return text[:a] + rng.choice(PUNCT) + text[a:]
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    if kind == 6:  # delete a line
        return "\n".join(lines[:i] + lines[i + 1:])
    j = rng.randrange(len(lines))  # duplicate a line elsewhere
    return "\n".join(lines[:j] + [lines[i]] + lines[j:])


def damaged(source: Path, seed: int) -> str:
    rng = random.Random(seed)
    text = source.read_text(encoding="utf-8")
    for _ in range(rng.choice((1, 1, 2, 3, 5))):
        text = mutate(text, rng)
    return text


def check_answers(text: str, path: Path) -> None:
    result = load_text(text, str(path), env=ENV)
    internal = [d for d in result.diagnostics if d.code == "SIL000"]
    assert not internal, f"internal error for mutated text:\n{internal}\n---\n{text}"
    if not result.ok:
        assert result.spec is None
        assert any(d.severity == "error" for d in result.diagnostics)
    for d in result.diagnostics:
        assert d.span is not None and d.span.line >= 1 and d.span.col >= 1, d
    buffer = io.StringIO()
    render_text(result.diagnostics, result.sources(), Console(file=buffer, width=120))
    to_json(result.diagnostics)
    render_github(result.diagnostics)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_mutated_specs_always_get_diagnostics_never_a_traceback(source):
    for seed in range(40):
        check_answers(damaged(source, seed), source)


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_many_more_mutations(source):
    for seed in range(1000, 1600):
        check_answers(damaged(source, seed), source)


def test_mutations_really_break_specs():
    """Guard against a mutator that does nothing: most mutants must fail to lint."""
    source = SOURCES[0]
    failing = sum(not load_text(damaged(source, s), str(source), env=ENV).ok for s in range(40))
    assert failing >= 20


@pytest.mark.parametrize(
    "text",
    ["", "\x00", "silspec", "silspec 1\n" + "}" * 50, "silspec 1\nstudy", "silspec 1\nstudy s {",
     "silspec 1\nstudy s { seed = 99999999999999999999999999 }", "\ufeff\ufeff", "silspec 1\n" + "a = 1\n" * 3,
     'silspec 1\nstudy s { seed = 1 }\ncondition c extends c { }', "silspec 1.5\nstudy s {}",
     'silspec 1\nstudy s {}\nscale x { range = 10..1 }', 'silspec 1\nstudy s {}\ntemplate t = t',
     'silspec 1\nstudy s {}\ntemplate t = 1 + "a"'],
)
def test_degenerate_inputs(text):
    check_answers(text, FIXTURES / "invalid" / "degenerate.sil")


def check_lints_end_to_end(text: str, path: Path) -> None:
    """``check_answers`` plus lint's last pass (the plan's renderer) for a spec that checks clean."""
    from silspec.plan.render_check import render_diagnostics

    check_answers(text, path)
    result = load_text(text, str(path), env=ENV)
    if result.spec is not None:
        for d in render_diagnostics(result.spec):
            assert d.code != "SIL000", d


@pytest.mark.parametrize("block", range(4))
def test_hostile_mutants_are_decided_never_a_traceback(block):
    """Seeded hostile values (huge numbers, looping templates, long strings, copied blocks) over
    every shipped spec: a finding or a clean lint, never an internal error (bench/fuzz.py runs
    10,000 of these and measures time and memory)."""
    from .mutants import mutant

    for seed in range(block * 15, block * 15 + 15):
        source, text = mutant(seed)
        check_lints_end_to_end(text, source)
