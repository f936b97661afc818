"""Compliance: shares per outcome, defaults traced to their cause, valid mass."""

import pytest

from silspec.analysis.compliance import compliance_table
from silspec.analysis.distributions import ScoredAnswer


def answer(outcome, code=None, defaulted=False, condition="c", **kw):
    return ScoredAnswer(condition=condition, item="s.Q", persona=kw.pop("persona", "P"), replicate=0,
                        answers=kw.pop("answers", "sampled"), outcome=outcome, code=code, defaulted=defaulted, **kw)


def test_shares_and_default_causes():
    answers = (
        [answer("answered", 1)] * 5
        + [answer("error", 2, defaulted=True)] * 3
        + [answer("invalid", 2, defaulted=True)]
        + [answer("refused")]
    )
    (row,) = compliance_table(answers)
    assert (row.n, row.answered, row.error, row.invalid, row.refused) == (10, 5, 3, 1, 1)
    assert row.defaulted == 4 and row.defaulted_from_error == 3
    assert row.default_share == pytest.approx(0.4) and row.answered_share == pytest.approx(0.5)
    assert row.default_code == 2


def test_one_row_per_condition_in_first_seen_order():
    rows = compliance_table([answer("answered", 1, condition="b"), answer("answered", 1, condition="a")])
    assert [r.condition for r in rows] == ["b", "a"]


def test_mean_valid_mass_for_option_probs():
    rows = compliance_table([
        answer("answered", answers="option_probs", valid_mass=0.9),
        answer("answered", answers="option_probs", valid_mass=0.7),
    ])
    assert rows[0].mean_valid_mass == pytest.approx(0.8)
    assert compliance_table([answer("answered", 1)])[0].mean_valid_mass is None


def test_empty_input_gives_no_rows():
    assert compliance_table([]) == []


def test_an_outcome_outside_the_closed_set_is_a_clear_error():
    with pytest.raises(ValueError, match="'ok' is not one of answered, invalid, refused, error"):
        compliance_table([answer("ok", 1)])
