"""The pairwise losses of `train-reward` on hand-computed values and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from judge.reward_training.losses import (
    bradley_terry_loss,
    pairwise_loss,
    rao_kupper_loss,
    uncertainty_loss,
)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_uncertainty_loss_averages_minus_log_sigmoid_over_the_samples_with_their_gradients():
    # mu_c - mu_r = 0.5; sigma_c = 0.6, sigma_r = 0.8, so sigma_z = 1 and the samples are z = 1.5, -0.5.
    chosen = torch.tensor([[1.0, math.log(0.6)]], dtype=torch.float64, requires_grad=True)
    rejected = torch.tensor([[0.5, math.log(0.8)]], dtype=torch.float64, requires_grad=True)
    noise = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    loss = uncertainty_loss(chosen, rejected, noise)
    assert loss.item() == pytest.approx((softplus(-1.5) + softplus(0.5)) / 2)
    loss.sum().backward()
    d_mean = -(sigmoid(-1.5) + sigmoid(0.5)) / 2  # d(-log sigmoid z)/dz = -sigmoid(-z)
    d_sigma_z = -(sigmoid(-1.5) * 1.0 + sigmoid(0.5) * -1.0) / 2
    assert chosen.grad[0, 0].item() == pytest.approx(d_mean)
    assert rejected.grad[0, 0].item() == pytest.approx(-d_mean)
    # d sigma_z / d log sigma_c = sigma_c^2 / sigma_z
    assert chosen.grad[0, 1].item() == pytest.approx(d_sigma_z * 0.36)
    assert rejected.grad[0, 1].item() == pytest.approx(d_sigma_z * 0.64)


def test_uncertainty_loss_without_spread_is_bradley_terry():
    chosen = torch.tensor([[2.0, -30.0]])
    rejected = torch.tensor([[1.0, -30.0]])
    noise = torch.randn(1, 16, generator=torch.Generator().manual_seed(0))
    assert uncertainty_loss(chosen, rejected, noise).item() == pytest.approx(softplus(-1.0), abs=1e-6)


def test_bradley_terry_at_an_even_margin_is_log_two_with_gradient_minus_half():
    margin = torch.tensor([0.0, 2.0], requires_grad=True)
    loss = bradley_terry_loss(margin)
    assert loss.tolist() == pytest.approx([math.log(2), softplus(-2.0)])
    loss.sum().backward()
    assert margin.grad.tolist() == pytest.approx([-0.5, -sigmoid(-2.0)])


def test_rao_kupper_with_the_released_theta_on_hand_computed_cases():
    # theta = 5: P(win | d=0) = 1/(1+5) = 1/6, P(tie | d=0) = (25-1) / 36 = 2/3, P(loss) = 1/6.
    margin = torch.tensor([0.0, 0.0, 1.0], requires_grad=True)
    tie = torch.tensor([False, True, True])
    loss = rao_kupper_loss(margin, tie, theta=5.0)
    expected_tie_at_1 = -math.log(24 * sigmoid(1 - math.log(5)) * sigmoid(-1 - math.log(5)))
    assert loss.tolist() == pytest.approx([math.log(6), math.log(1.5), expected_tie_at_1])
    loss.sum().backward()
    # win: -sigmoid(log 5 - d) = -5/6; a tie: -sigmoid(log 5 - d) + sigmoid(log 5 + d), 0 at d = 0.
    tie_grad_at_1 = -sigmoid(math.log(5) - 1) + sigmoid(math.log(5) + 1)
    assert margin.grad.tolist() == pytest.approx([-5 / 6, 0.0, tie_grad_at_1])


def test_the_three_outcome_probabilities_of_rao_kupper_sum_to_one():
    for d in (-2.0, 0.0, 0.7, 3.0):
        win = math.exp(-rao_kupper_loss(torch.tensor([d]), torch.tensor([False])).item())
        lose = math.exp(-rao_kupper_loss(torch.tensor([-d]), torch.tensor([False])).item())
        tie = math.exp(-rao_kupper_loss(torch.tensor([d]), torch.tensor([True])).item())
        assert win + lose + tie == pytest.approx(1.0)


def test_pairwise_loss_swaps_sides_when_the_second_edit_is_preferred():
    first = torch.tensor([[0.3, 0.0], [0.3, 0.0]])
    second = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    loss, counted = pairwise_loss("bt", first, second, torch.tensor([-1, 1]))
    assert loss.tolist() == pytest.approx([softplus(-0.7), softplus(0.7)])
    assert counted.tolist() == [True, True]


@pytest.mark.parametrize(
    ("name", "ties", "counted"),
    [
        ("bt", "skip", [True, False]),
        ("uncertainty", "skip", [True, False]),
        ("bt", "first", [True, True]),
        ("bt-ties", "skip", [True, True]),
    ],
)
def test_ties_are_skipped_counted_as_first_or_modelled(name, ties, counted):
    first = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    second = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    noise = torch.zeros(2, 4)
    loss, used = pairwise_loss(name, first, second, torch.tensor([1, 0]), noise, ties)
    assert used.tolist() == counted
    assert loss[1].item() == (0.0 if not counted[1] else pytest.approx(loss[1].item()))
    if name == "bt" and ties == "first":
        assert loss[1].item() == pytest.approx(softplus(-1.0))


def test_the_uncertainty_loss_needs_its_samples():
    with pytest.raises(ValueError, match="noise"):
        pairwise_loss("uncertainty", torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([1]))
