"""What each user brings to a ranking, for stratified comparisons (where does one model beat another?).

Each function maps training interactions to one number per user, aligned with the user index.
"""

from __future__ import annotations

import numpy as np

from personae.data.interactions import Interactions


def history_length(train: Interactions) -> np.ndarray:
    """(n_users,) distinct items each user has in training."""
    return np.diff(train.csr.indptr)


def genre_entropy(train: Interactions) -> np.ndarray:
    """(n_users,) Shannon entropy (bits) of the genre distribution of each user's training items.

    Each item counts once per genre it carries; users or data without genres get 0. A user spread over many
    genres is where several personas could pay; a one-genre user needs one vector.
    """
    onehot = train.genre_onehot
    if onehot is None:
        return np.zeros(train.n_users)
    counts = (train.csr @ onehot[0]).astype(np.float64)  # (n_users, n_genres) items per genre
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return -(share * np.log2(np.where(share > 0, share, 1))).sum(axis=1)
