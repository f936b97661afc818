"""The scoring shared by `silspec finetune --baselines` and the replication bench: modal accuracy
with random tie-breaking, unasked examples left out of the means, W1 only on ordered scales."""

from __future__ import annotations

import math

import pytest
from attrs import frozen
from scipy.spatial.distance import jensenshannon

from silspec.finetune.examples import Example
from silspec.finetune.scoring import expected_modal_hit, score
from silspec.plan.model import Message


@frozen
class _Scale:
    ordered: bool


def ex(item, target):
    return Example("test", item, "AAA", (Message("user", item),), tuple(range(1, len(target) + 1)),
                   tuple("ABCD"[: len(target)]), tuple(target))


@pytest.mark.parametrize("p, q, expected", [
    ([0.6, 0.4], [0.7, 0.3], 1.0),
    ([0.4, 0.6], [0.7, 0.3], 0.0),
    ([0.25] * 4, [0.1, 0.2, 0.3, 0.4], 0.25),  # a flat guess: 1/k, not a hit
    ([0.5, 0.5, 0.0], [0.4, 0.4, 0.2], 1.0),  # both tied modes are survey modes
    ([0.5, 0.5, 0.0], [0.6, 0.2, 0.2], 0.5),
])
def test_expected_modal_hit(p, q, expected):
    assert expected_modal_hit(p, q) == pytest.approx(expected)


def test_score_leaves_unasked_examples_out_and_w1_to_ordered_scales():
    examples = [ex("s.O", [0.2, 0.8]), ex("s.N", [0.5, 0.5]), ex("s.X", [1.0, 0.0])]
    scales = {"s.O": _Scale(True), "s.N": _Scale(False), "s.X": _Scale(True)}
    result = score(examples, [[0.6, 0.4], [0.9, 0.1], None], scales)
    assert result["n"] == 2 and result["n_ordinal"] == 1
    assert result["1-JSD"] == pytest.approx(1 - (jensenshannon([0.6, 0.4], [0.2, 0.8]) + jensenshannon([0.9, 0.1], [0.5, 0.5])) / 2)
    assert result["JS"] == pytest.approx((jensenshannon([0.6, 0.4], [0.2, 0.8]) ** 2 + jensenshannon([0.9, 0.1], [0.5, 0.5]) ** 2) / 2)
    assert result["W1_ordinal"] == pytest.approx(0.4)  # |0.6 - 0.2| on the ordered item only
    assert result["modal_acc"] == pytest.approx(0.5)
    empty = score(examples[:1], [None], scales)
    assert empty["n"] == 0 and math.isnan(empty["1-JSD"])


def test_score_refuses_predictions_that_do_not_line_up():
    with pytest.raises(ValueError):
        score([ex("s.O", [0.2, 0.8])], [], {"s.O": _Scale(True)})
