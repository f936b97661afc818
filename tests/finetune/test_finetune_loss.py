"""First-token losses against independent numpy/scipy computations, padding, gradients.

The four spec losses are the authors' forms (released training code, paper §4.2 and Table 7);
the references below are written from their definitions with numpy/scipy, never by calling
silspec's torch code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.special import softmax
from scipy.stats import entropy, wasserstein_distance

from silspec.finetune.loss import (
    EXTRA_LOSSES,
    LOSSES,
    loss_function,
    option_logits,
    option_probabilities,
    padded_targets,
)

LOGITS = np.array([[2.0, 0.5, -1.0, 0.0], [0.3, -0.2, 1.7, 0.9]])
TARGETS = np.array([[0.7, 0.2, 0.05, 0.05], [0.1, 0.2, 0.3, 0.4]])


def reference(name: str, logits: np.ndarray, target: np.ndarray) -> float:
    n = len(logits)
    p = softmax(logits)
    if name == "kl":
        return float(entropy(target, p)) / n
    if name == "kl_sum":
        return float(entropy(target, p))
    if name == "ce":
        return float(-np.log(p[np.argmax(target)]))
    if name == "soft_ce":
        return float(-(target * np.log(p)).sum())
    if name == "js":
        q = softmax(target)
        m = (p + q) / 2
        return float(entropy(m, p) + entropy(m, q)) / (2 * n)
    if name == "js_divergence":
        return float(jensenshannon(target, p) ** 2)
    if name == "wasserstein":
        return float(np.abs(logits - target).sum())
    positions = np.arange(n)
    return float(wasserstein_distance(positions, positions, target, p))


ALL = LOSSES + EXTRA_LOSSES


@pytest.mark.parametrize("name", ALL)
def test_losses_match_numpy_and_scipy(name):
    logits = torch.tensor(LOGITS)
    mask = torch.ones_like(logits, dtype=torch.bool)
    values = loss_function(name)(logits, torch.tensor(TARGETS, dtype=torch.float32), mask)
    expected = [reference(name, l, t) for l, t in zip(LOGITS, TARGETS)]
    assert values.shape == (2,)
    assert values.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_kl_is_divided_by_each_examples_option_count():
    """Hand-computable: all mass on option 1, uniform model. KL = ln n, the loss ln(n) / n, so
    2, 4 and 10 options in one padded batch give ln2/2, ln4/4 and ln10/10."""
    rows = [2, 4, 10]
    logits = torch.full((3, 10), float("-inf"))
    mask = torch.zeros((3, 10), dtype=torch.bool)
    for r, n in enumerate(rows):
        logits[r, :n] = 0.0
        mask[r, :n] = True
    target = padded_targets([[1.0] + [0.0] * (n - 1) for n in rows], logits)
    values = loss_function("kl")(logits, target, mask)
    assert values.tolist() == pytest.approx([math.log(2) / 2, math.log(4) / 4, math.log(10) / 10], rel=1e-6)
    assert loss_function("kl_sum")(logits, target, mask).tolist() == pytest.approx(
        [math.log(2), math.log(4), math.log(10)], rel=1e-6)


def test_kl_matches_torchs_batchmean_on_one_example():
    """``kl_div(..., reduction="batchmean")`` on a 1-D row divides by its length: the paper's form."""
    z, t = torch.tensor(LOGITS[1]), torch.tensor(TARGETS[1])
    expected = torch.nn.functional.kl_div(torch.log_softmax(z, -1), t, reduction="batchmean")
    mask = torch.ones((1, 4), dtype=torch.bool)
    assert float(loss_function("kl")(z[None], t[None].float(), mask)[0]) == pytest.approx(float(expected), rel=1e-6)


def test_ce_is_hard_label_and_ties_go_to_the_first_option():
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    mask = torch.ones((1, 3), dtype=torch.bool)
    tie = torch.tensor([[0.4, 0.4, 0.2]])
    expected = -math.log(softmax([1.0, 2.0, 3.0])[0])
    assert float(loss_function("ce")(logits, tie, mask)[0]) == pytest.approx(expected, rel=1e-6)
    # A soft target with the same argmax scores the same: only the label counts.
    assert float(loss_function("ce")(logits, torch.tensor([[0.9, 0.05, 0.05]]), mask)[0]) == pytest.approx(expected, rel=1e-6)


def test_wasserstein_is_l1_on_raw_logits_hand_computed():
    logits = torch.tensor([[1.0, -1.0, float("-inf")]])
    mask = torch.tensor([[True, True, False]])
    target = torch.tensor([[0.25, 0.75, 0.0]])
    assert float(loss_function("wasserstein")(logits, target, mask)[0]) == pytest.approx(0.75 + 1.75)


@pytest.mark.parametrize("name", ALL)
def test_padding_to_a_wider_row_changes_nothing(name):
    """A 2-option row padded to 4 (-inf logits, zero targets) scores like the bare row."""
    row_logits, row_target = np.array([0.4, -0.6]), np.array([0.9, 0.1])
    logits = torch.tensor([[0.4, -0.6, float("-inf"), float("-inf")], LOGITS[0].tolist()])
    mask = torch.tensor([[True, True, False, False], [True] * 4])
    target = padded_targets([row_target.tolist(), TARGETS[0].tolist()], logits)
    values = loss_function(name)(logits, target, mask)
    assert torch.isfinite(values).all()
    assert float(values[0]) == pytest.approx(reference(name, row_logits, row_target), rel=1e-5, abs=1e-6)
    assert float(values[1]) == pytest.approx(reference(name, LOGITS[0], TARGETS[0]), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_losses_are_differentiable_with_finite_gradients_on_padded_rows(name):
    logits = torch.tensor([[0.4, -0.6, float("-inf")], [0.1, 0.2, 0.3]], requires_grad=True)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    target = padded_targets([[0.9, 0.1], [0.2, 0.3, 0.5]], logits)
    loss_function(name)(logits, target, mask).sum().backward()
    grad = logits.grad
    assert torch.isfinite(grad[mask]).all() and grad[mask].abs().sum() > 0


@pytest.mark.parametrize("name", ["kl", "kl_sum", "js_divergence", "ordinal_w1"])
def test_divergences_are_zero_at_the_target(name):
    target = torch.tensor([[0.5, 0.3, 0.2]])
    mask = torch.ones_like(target, dtype=torch.bool)
    assert float(loss_function(name)(torch.log(target), target, mask)[0]) == pytest.approx(0.0, abs=1e-6)


def test_option_logits_log_sum_exp_the_variants_like_the_backend():
    """Two ids for one option: its share equals the summed softmax probability, renormalised."""
    vocab = torch.tensor([[1.0, 2.0, 0.5, -1.0, 3.0]])
    logits, mask = option_logits(vocab, [[[0, 1], [2], [3]]])
    probs = option_probabilities(logits, mask)[0]
    full = torch.softmax(vocab[0], -1)
    masses = torch.stack([full[0] + full[1], full[2], full[3]])
    assert probs.tolist() == pytest.approx((masses / masses.sum()).tolist(), rel=1e-6)


def test_option_logits_pad_rows_with_fewer_options():
    vocab = torch.zeros(2, 6)
    logits, mask = option_logits(vocab, [[[0], [1]], [[2], [3], [4]]])
    assert logits.shape == (2, 3) and mask.tolist() == [[True, True, False], [True, True, True]]
    assert torch.isinf(logits[0, 2])


def test_unknown_loss_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown first-token loss 'mse'"):
        loss_function("mse")
