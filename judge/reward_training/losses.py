"""Pairwise losses on the reward heads' outputs [mu, log sigma], as EditReward's trainer defines them.

For a pair with a preferred ("chosen", c) and a less preferred ("rejected", r) edit:

- `uncertainty` (the release's loss): the margin z ~ N(mu_c - mu_r, sigma_c^2 + sigma_r^2) and the
  loss is -log sigmoid(z), averaged over Monte-Carlo samples of z. The release draws 1000 standard
  normal samples per pair in fp16; here the caller passes them (fp32, from a seeded generator, so a
  resumed run draws the same ones).
- `bt`: Bradley-Terry on the means, -log sigmoid(mu_c - mu_r). (The release applies it to both
  output columns, log sigma too; here only mu, the score the scorer reports.)
- `bt-ties`: Rao-Kupper (1967), the release's "btt" with its theta = 5: P(c > r) = sigmoid(d - log
  theta), P(tie) = (theta^2 - 1) sigmoid(d - log theta) sigmoid(-d - log theta), d = mu_c - mu_r.
  Chosen over Davidson because it is what the release implemented (so the variants compare with
  it), it needs only log-sigmoids (stable for any d), and its tie probability is highest at d = 0
  and falls with |d|: the rule |d| <= epsilon that tie-calibrated accuracy applies.

Ties under `uncertainty` and `bt`: "skip" leaves them out (no term); "first" counts the first edit
as preferred, which is what the release does with its default `tied_threshold: null` (every pair,
tie_case or not, is trained as path1 > path2).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

LossName = Literal["uncertainty", "bt", "bt-ties"]
TiePolicy = Literal["skip", "first"]
LOSSES: tuple[str, ...] = ("uncertainty", "bt", "bt-ties")
RAO_KUPPER_THETA = 5.0  # the release's k
MC_SAMPLES = 1000  # the release's samples per pair


def uncertainty_loss(chosen: torch.Tensor, rejected: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Per pair: mean over noise's columns of -log sigmoid(mu_c - mu_r + sigma_z * noise)."""
    mean_z = chosen[:, 0] - rejected[:, 0]
    sigma_z = torch.sqrt(torch.exp(2 * chosen[:, 1]) + torch.exp(2 * rejected[:, 1]))
    z = mean_z[:, None] + sigma_z[:, None] * noise
    return -F.logsigmoid(z).mean(dim=1)


def bradley_terry_loss(margin: torch.Tensor) -> torch.Tensor:
    """-log P(chosen > rejected) = -log sigmoid(mu_c - mu_r)."""
    return -F.logsigmoid(margin)


def rao_kupper_loss(margin: torch.Tensor, tie: torch.Tensor, theta: float = RAO_KUPPER_THETA) -> torch.Tensor:
    """-log P(outcome): the chosen edit wins where `tie` is false, a tie where it is true."""
    if theta <= 1:
        raise ValueError(f"Rao-Kupper's theta must exceed 1, got {theta}")
    log_theta = math.log(theta)
    win = -F.logsigmoid(margin - log_theta)
    tied = win - F.logsigmoid(-margin - log_theta) - math.log(theta**2 - 1)
    return torch.where(tie, tied, win)


def pairwise_loss(
    name: LossName,
    first: torch.Tensor,
    second: torch.Tensor,
    relation: torch.Tensor,
    noise: torch.Tensor | None = None,
    ties: TiePolicy = "skip",
    theta: float = RAO_KUPPER_THETA,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss per pair, which pairs count) for outputs [N, 2] of two edits and relations [N] in {-1, 0, 1}.

    -1 means the second edit is preferred: the sides are swapped. Pairs that do not count (ties that
    are skipped) have loss 0; average over the counted ones.
    """
    if first.shape != second.shape or first.shape[-1] != 2 or relation.shape != first.shape[:1]:
        raise ValueError(
            f"outputs {tuple(first.shape)} / {tuple(second.shape)}, relations {tuple(relation.shape)}"
        )
    swap = (relation < 0)[:, None]
    chosen = torch.where(swap, second, first)
    rejected = torch.where(swap, first, second)
    tie = relation == 0
    counted = torch.ones_like(tie) if name == "bt-ties" or ties == "first" else ~tie
    if name == "uncertainty":
        if noise is None or noise.shape[0] != first.shape[0]:
            raise ValueError("the uncertainty loss needs noise of shape [pairs, samples]")
        loss = uncertainty_loss(chosen, rejected, noise)
    elif name == "bt":
        loss = bradley_terry_loss(chosen[:, 0] - rejected[:, 0])
    elif name == "bt-ties":
        loss = rao_kupper_loss(chosen[:, 0] - rejected[:, 0], tie, theta)
    else:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
    return torch.where(counted, loss, torch.zeros_like(loss)), counted
