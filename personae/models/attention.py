"""The one candidate-attention formula of multi-persona models, in torch and, for the service, in numpy with
the gradient of the online update.

A user with K personas p_k (attention keys a_k, tied to p_k by default) is seen by candidate i as

    w_k(i) = softmax_k(<a_k, q_i> / tau)        s(i) = sum_k w_k(i) <p_k, e_i> + b_i

Training (``MultiPersonaNetwork``), attribution in the ranking kernel (personae.models.scoring), faithfulness
and the service all weigh personas with :func:`candidate_attention`; the kernel's fused whole-catalogue blocks
are the same formula written for speed (tested equal). The service updates personas after training one user
at a time, where autograd's per-call overhead is most of the cost, so :func:`softmax_loss_grad` writes out

    ds(i)/dp_k = w_k(i) (1 + (<p_k, e_i> - sum_j w_j(i) <p_j, e_i>) / tau) e_i      (tied keys)
"""

from __future__ import annotations

import numpy as np
import torch


def candidate_attention(keys: torch.Tensor, queries: torch.Tensor, temperature: float,
                        mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, K, dim) keys, (B, C, dim) candidate queries, (B, K) mask -> (B, C, K) attention over personas.

    A user with every persona masked gets all-zero weights (its items score the bias alone)."""
    logits = torch.einsum("bkd,bcd->bck", keys, queries) / temperature
    if mask is not None:
        logits = logits.masked_fill(~mask[:, None, :], float("-inf"))
    weights = torch.softmax(logits, dim=2)
    return weights if mask is None else torch.nan_to_num(weights)


@torch.no_grad()
def attention_of(personas: np.ndarray, items: np.ndarray, temperature: float,
                 mask: np.ndarray | None = None) -> np.ndarray:
    """(K, dim) personas (tied keys), (C, dim) items -> (C, K) attention of each item over the personas."""
    p = torch.as_tensor(personas, dtype=torch.float32)[None]
    m = None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))[None]
    return candidate_attention(p, torch.as_tensor(items)[None], temperature, m)[0].numpy()


def softmax_loss_grad(personas: np.ndarray, items: np.ndarray, bias: np.ndarray, temperature: float,
                      mask: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Gradient in ``personas`` (K, dim) of the mean over ``targets`` (T,) of -weight * log softmax(scores)[target],
    scores over ``items`` (C, dim) with ``bias`` (C,) and persona ``mask`` (K,) bool. Returns (K, dim).

    ``weights`` (T,), default 1: a negative weight makes a step against this gradient push the scores of its
    target down (a dislike) instead of up."""
    affinity = items @ personas.T  # (C, K)
    logits = np.where(mask[None, :], affinity / temperature, -np.inf)
    attention = np.exp(logits - logits.max(axis=1, keepdims=True))
    attention /= attention.sum(axis=1, keepdims=True)  # (C, K), zero on masked personas
    mixed = (attention * affinity).sum(axis=1)  # (C,) score without bias
    scores = mixed + bias
    signs = np.ones(len(targets)) if weights is None else np.asarray(weights, dtype=np.float64)
    loss_grad = np.exp(scores - scores.max())
    loss_grad *= signs.sum() / (len(targets) * loss_grad.sum())  # (C,) softmax of the scores, weighted ...
    np.subtract.at(loss_grad, targets, signs / len(targets))  # ... minus the targets' share: dL/ds
    score_grad = attention * (1.0 + (affinity - mixed[:, None]) / temperature)  # (C, K) ds/d<p_k, e>
    return (loss_grad[:, None] * score_grad).T @ items  # (K, dim)
