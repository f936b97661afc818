"""The pilot's verdict rule (``analysis.pilot.decide``): each criterion on its own, and how they combine."""

from __future__ import annotations

import pytest

from silspec.analysis.pilot import PilotResult, PilotVerdict, decide
from silspec.spec.model import Pilot

CRITERIA = Pilot(personas=20, js_max=0.1, valid_min=0.8, modal_max=0.95)


def _decide(**kw):
    args = dict(planned=20, stored=20, answered=20, modal_share=0.5, js_low=0.02, js_high=0.08)
    args.update(kw)
    return decide(CRITERIA, **args)


@pytest.mark.parametrize("kw, verdict, reason", [
    ({}, "go", None),
    ({"js_low": 0.11, "js_high": 0.2}, "no-go", "above js_max"),
    ({"js_low": 0.05, "js_high": 0.1}, "inconclusive", "straddles"),  # an upper bound AT js_max is not below it
    ({"js_low": 0.1, "js_high": 0.2}, "inconclusive", "straddles"),  # a lower bound at js_max is not above it
    ({"answered": 15}, "no-go", "valid rate 0.75 < valid_min 0.8"),
    ({"answered": 16}, "go", None),  # 0.8 is enough
    ({"modal_share": 0.96}, "no-go", "answers collapsed"),
    ({"modal_share": 0.95}, "go", None),
    ({"stored": 18}, "inconclusive", "2 of 20 requests not stored"),
    ({"answered": 0, "modal_share": None, "js_low": None, "js_high": None}, "no-go", "no valid answer"),
    ({"js_low": None, "js_high": None}, "inconclusive", "no JS interval"),
    ({"modal_share": 1.0, "js_low": 0.05, "js_high": 0.2}, "no-go", "straddles"),  # no-go wins, every reason kept
])
def test_each_criterion_decides_as_documented(kw, verdict, reason):
    got, reasons = _decide(**kw)
    assert got == verdict
    if reason is None:
        assert reasons == ()
    else:
        assert any(reason in r for r in reasons), reasons


def _verdict(condition, item, verdict, country=None):
    return PilotVerdict(condition=condition, item=item, label=item, planned=20, stored=20, answered=20,
                        valid_rate=1.0, modal_code=1, modal_share=0.5, js=0.05, js_low=0.01, js_high=0.09,
                        verdict=verdict, country=country)


def test_an_item_passes_only_when_every_cell_of_it_is_go_and_the_file_round_trips():
    result = PilotResult(study="s", spec_hash="h", criteria=CRITERIA, plan_hashes={"a": "p"}, verdicts=(
        _verdict("a", "sv.Q1", "go", "COL"), _verdict("a", "sv.Q1", "inconclusive", "JPN"),
        _verdict("a", "sv.Q2", "go", "COL"), _verdict("a", "sv.Q2", "go", "JPN"),
    ))
    assert result.passed() == {"a": ("sv.Q2",)}
    assert PilotResult.from_dict(result.to_dict()) == result
    with pytest.raises(ValueError, match="not a silspec pilot file"):
        PilotResult.from_dict({**result.to_dict(), "format": "other/1"})
