"""The one place in ``personae.serve`` that reads a fitted AMPCF's network.

Everything the service needs from the trained model (item vectors and biases, the attention temperature, the
trained personas and their mask, history pooling) goes through these functions, through the written
network contract (personae.models.network), plus two ampcf-only calls (history pooling).
"""

from __future__ import annotations

import numpy as np
import torch

from personae.models.ampcf import AMPCF


def item_vectors(model: AMPCF) -> np.ndarray:
    """(n_items, dim) float32 item vectors (a copy: the service never writes the model)."""
    return model.network.item_vectors().detach().cpu().numpy().astype(np.float32, copy=True)


def item_bias(model: AMPCF) -> np.ndarray:
    """(n_items,) float32 item biases."""
    return model.network.item_biases().detach().cpu().numpy().astype(np.float32, copy=True)


def temperature(model: AMPCF) -> float:
    """The attention temperature tau of w_k(i) = softmax_k(<p_k, e_i> / tau)."""
    return float(model.network.temperature)


def persona_count(model: AMPCF) -> int:
    """K, the personas each user has."""
    return int(model.network.n_personas)


def pools_history(model: AMPCF) -> bool:
    """True when personas are pooled from the user's history (no per-user vectors are stored)."""
    return bool(model.network.from_history)


@torch.no_grad()
def trained_personas(model: AMPCF, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((n, K, dim) float32 personas, (n, K) bool mask) of user indices ``users``; masked personas were pruned."""
    network = model.network.eval()
    index = torch.as_tensor(np.asarray(users, dtype=np.int64))
    vectors = torch.cat([network.persona_vectors(index[s:s + 1024]) for s in range(0, len(index), 1024)]) \
        if len(index) else torch.zeros(0, network.n_personas, network.item_vectors().shape[1])
    return vectors.numpy().astype(np.float32), network.kept_personas(index).numpy().copy()


@torch.no_grad()
def pool_history(model: AMPCF, history: np.ndarray) -> np.ndarray:
    """(K, dim) personas pooled from ``history`` (item indices, oldest first; the newest ``max_history`` kept)."""
    length = model.options.max_history
    recent = np.asarray(history, dtype=np.int64)[-length:]
    row = torch.full((1, length), -1, dtype=torch.long)
    if len(recent):
        row[0, length - len(recent):] = torch.as_tensor(recent)
    return model.network.eval().pool_history(row)[0].numpy()
