"""Fixed-length user histories for models that read a user's own items (ampcf history variant, din, mind)."""

from __future__ import annotations

import numpy as np

from personae.data.interactions import Interactions


def history_matrix(train: Interactions, length: int, pad: int = -1) -> np.ndarray:
    """(n_users, length) int64: each user's last ``length`` training items, oldest first, left-padded with ``pad``.

    Order is by timestamp where the data has one (ties by row order), else by row order.
    """
    order, _ = train.history_index
    users, items = train.users[order], train.items[order]
    counts = np.bincount(users, minlength=train.n_users)
    ends = np.cumsum(counts)
    from_end = ends[users] - np.arange(len(users))  # 1 = the user's newest event
    keep = from_end <= length
    matrix = np.full((train.n_users, length), pad, dtype=np.int64)
    matrix[users[keep], length - from_end[keep]] = items[keep]
    return matrix
