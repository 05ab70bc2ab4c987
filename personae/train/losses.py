"""Ranking losses over (batch, 1 + n_negatives) scores whose first column is the positive item."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(scores: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: -log sigmoid(s_pos - s_neg), averaged over negatives and batch."""
    return -F.logsigmoid(scores[:, :1] - scores[:, 1:]).mean()


def sampled_softmax_loss(scores: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the positive against the sampled negatives (uniform sampling: no logQ term)."""
    target = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
    return F.cross_entropy(scores, target)


LOSSES = {"bpr": bpr_loss, "softmax": sampled_softmax_loss}
