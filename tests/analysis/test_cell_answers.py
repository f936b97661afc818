"""``CellAnswers``: one cell's scored answers kept as columns give back the same ``ScoredAnswer``s."""

from __future__ import annotations

import attrs

from silspec.analysis.distributions import ScoredAnswer, build_distributions
from silspec.analysis.scoring import CellAnswers

KEY = ("c", "s.Q", "KOR")
SCALE = (1, 2, 3, 4)


def answer(persona, **changes):
    base = dict(condition="c", item="s.Q", persona=persona, replicate=0, answers="sampled", outcome="answered",
                code=2, country="KOR")
    base.update(changes)
    return ScoredAnswer(**base)


def columns(answers):
    cell = CellAnswers(KEY, answers[0].answers, SCALE)
    for a in answers:
        cell.append(a.persona, a.replicate, a.answers, a.outcome, a.code, a.defaulted, a.dropped,
                    dict(a.option_probs) if a.option_probs else None, a.valid_mass)
    return cell


def test_columns_give_back_every_field_in_order():
    answers = [
        answer("P1"),
        answer("P2", replicate=3, outcome="error", code=2, defaulted=True),
        answer("P3", outcome="refused", code=None, dropped=True),
        answer("P4", answers="option_probs", code=None, option_probs={1: 0.25, 4: 0.75}, valid_mass=0.9),
        answer("P5", answers="verbalised", code=None, option_probs={1: 0.5, 2: 0.5}),
        answer("P6", code=-8),
    ]
    back = list(columns(answers))
    # a distribution comes back as one value per scale code (codes it did not name: 0.0)
    expected = [
        attrs.evolve(a, option_probs={code: float(a.option_probs.get(code, 0.0)) for code in SCALE})
        if a.option_probs else a
        for a in answers
    ]
    assert back == expected
    assert len(columns(answers)) == 6


def test_probabilities_off_the_scale_do_not_change_the_distribution():
    """Only the scale's codes are kept: what the distributions read is unchanged."""
    answers = [answer(f"P{i}", answers="option_probs", code=None, option_probs={1: 0.2, 3: 0.6, -8: 0.2})
               for i in range(3)]
    codes = {"s.Q": SCALE}
    assert build_distributions(list(columns(answers)), codes) == build_distributions(answers, codes)


def test_a_sampled_cell_keeps_no_probability_columns():
    cell = columns([answer("P1"), answer("P2", code=3)])
    assert cell.probs is None and cell.valid_mass is None and cell.modes is None
