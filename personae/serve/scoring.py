"""Candidate-conditional attention scores of one user's K personas, outside the trained network.

The service holds personas that change after training (online updates, new users), so it cannot index the
network's per-user tables. These functions are the network's scoring formula (``MultiPersonaNetwork._score``
with tied keys) for a persona array given directly; tests check they reproduce ``model.score`` exactly.

    w_k(i) = softmax_k(<p_k, e_i> / tau)       s(i) = sum_k w_k(i) <p_k, e_i> + b_i
"""

from __future__ import annotations

import numpy as np
import torch


def persona_attention(personas: torch.Tensor, items: torch.Tensor, temperature: float,
                      mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, dim) personas, (C, dim) item vectors -> ((C, K) attention weights, (C, K) per-persona affinities)."""
    affinity = items @ personas.T  # (C, K)
    logits = affinity / temperature
    if mask is not None:
        logits = logits.masked_fill(~mask[None, :], float("-inf"))
    return torch.softmax(logits, dim=1), affinity


def persona_scores(personas: torch.Tensor, items: torch.Tensor, bias: torch.Tensor, temperature: float,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
    """(K, dim) personas, (C, dim) items, (C,) bias -> (C,) scores. Differentiable in ``personas``."""
    weights, affinity = persona_attention(personas, items, temperature, mask)
    return (weights * affinity).sum(dim=1) + bias


@torch.no_grad()
def score_items(personas: np.ndarray, items: np.ndarray, bias: np.ndarray, temperature: float,
                mask: np.ndarray | None = None) -> np.ndarray:
    """numpy in, numpy out: (K, dim), (C, dim), (C,) -> (C,) float32 scores."""
    m = None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))
    return persona_scores(torch.as_tensor(personas, dtype=torch.float32), torch.as_tensor(items),
                          torch.as_tensor(bias), temperature, m).numpy()


@torch.no_grad()
def attention_of(personas: np.ndarray, items: np.ndarray, temperature: float,
                 mask: np.ndarray | None = None) -> np.ndarray:
    """(C, K) attention of each item over the personas (numpy)."""
    m = None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))
    weights, _ = persona_attention(torch.as_tensor(personas, dtype=torch.float32), torch.as_tensor(items),
                                   temperature, m)
    return weights.numpy()
