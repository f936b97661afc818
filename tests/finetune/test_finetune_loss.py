"""First-token losses against numpy/scipy on fixed tensors, padding, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.special import softmax
from scipy.stats import entropy, wasserstein_distance

from silspec.finetune.loss import (
    LOSSES,
    loss_function,
    option_logits,
    option_probabilities,
    padded_targets,
)

LOGITS = np.array([[2.0, 0.5, -1.0, 0.0], [0.3, -0.2, 1.7, 0.9]])
TARGETS = np.array([[0.7, 0.2, 0.05, 0.05], [0.1, 0.2, 0.3, 0.4]])


def reference(name: str, logits: np.ndarray, target: np.ndarray) -> float:
    p = softmax(logits)
    if name == "kl":
        return float(entropy(target, p))
    if name == "ce":
        return float(-(target * np.log(p)).sum())
    if name == "js":
        return float(jensenshannon(target, p) ** 2)
    positions = np.arange(len(p))
    return float(wasserstein_distance(positions, positions, target, p))


@pytest.mark.parametrize("name", LOSSES)
def test_losses_match_numpy_and_scipy(name):
    logits = torch.tensor(LOGITS)
    mask = torch.ones_like(logits, dtype=torch.bool)
    values = loss_function(name)(logits, torch.tensor(TARGETS, dtype=torch.float32), mask)
    expected = [reference(name, l, t) for l, t in zip(LOGITS, TARGETS)]
    assert values.shape == (2,)
    assert values.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_padding_to_a_wider_row_changes_nothing(name):
    """A 2-option row padded to 4 (-inf logits, zero targets) scores like the bare row."""
    row_logits, row_target = np.array([0.4, -0.6]), np.array([0.9, 0.1])
    logits = torch.tensor([[0.4, -0.6, float("-inf"), float("-inf")], LOGITS[0].tolist()])
    mask = torch.tensor([[True, True, False, False], [True] * 4])
    target = padded_targets([row_target.tolist(), TARGETS[0].tolist()], logits)
    values = loss_function(name)(logits, target, mask)
    assert torch.isfinite(values).all()
    assert float(values[0]) == pytest.approx(reference(name, row_logits, row_target), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_losses_are_differentiable_and_zero_at_the_target(name):
    target = torch.tensor([[0.5, 0.3, 0.2]])
    mask = torch.ones_like(target, dtype=torch.bool)
    at_target = torch.log(target).clone().requires_grad_(True)
    elsewhere = torch.zeros_like(target, requires_grad=True)
    fn = loss_function(name)
    fn(elsewhere, target, mask).sum().backward()
    assert elsewhere.grad is not None and elsewhere.grad.abs().sum() > 0
    if name != "ce":  # ce bottoms out at the entropy of the target, not 0
        assert float(fn(at_target, target, mask).detach()) == pytest.approx(0.0, abs=1e-6)
    else:
        assert float(fn(at_target, target, mask).detach()) == pytest.approx(float(entropy([0.5, 0.3, 0.2])), rel=1e-5)


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
