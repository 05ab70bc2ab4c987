"""Negative sampling that avoids each user's own training items: uniform, or tilted towards popular items."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

DENSE_LIMIT = 50_000_000  # users x items below which the positives are kept as a dense bool table


class NegativeSampler:
    """Draws items a user has not interacted with, uniformly over the catalogue or, with ``power`` > 0, in
    proportion to (training count + 1) ** power.

    Popular items are the negatives a model finds hard to tell from a user's positives; REMI
    (arXiv:2302.14532) argues multi-interest models need such hard negatives, since uniform draws are mostly
    easy for at least one of the user's interests. The + 1 keeps items unseen in training drawable, so they
    are still pushed down. No logQ correction is applied: the point is to weigh hard negatives more.

    Rejection sampling: a draw that hits a positive is redrawn, up to ``max_rounds`` times (a user who has
    seen almost everything keeps a rare positive rather than looping forever).
    """

    def __init__(self, positives: sp.csr_matrix, seed: int | np.random.Generator = 0, max_rounds: int = 20,
                 power: float = 0.0) -> None:
        self.positives = positives.tocsr()
        self.n_items = positives.shape[1]
        self.rng = np.random.default_rng(seed)
        self.max_rounds = max_rounds
        self.cumulative = None  # (n_items,) cumulative draw probabilities; None = uniform
        if power:
            weight = (np.asarray(self.positives.sum(axis=0)).ravel() + 1.0) ** power
            self.cumulative = np.cumsum(weight) / weight.sum()
        # Membership test: a dense (users, items) bit table when it is small (a gather per draw), else
        # sorted (user * n_items + item) keys and a binary search.
        self.dense = positives.toarray().astype(bool) if positives.shape[0] * self.n_items <= DENSE_LIMIT else None
        rows = np.repeat(np.arange(positives.shape[0], dtype=np.int64), np.diff(self.positives.indptr))
        self.keys = np.sort(rows * self.n_items + self.positives.indices.astype(np.int64))

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self.dense is not None:
            return self.dense[users, items]
        keys = (users.astype(np.int64) * self.n_items + items).ravel()
        if not len(self.keys):
            return np.zeros(users.shape, dtype=bool)
        order = np.argsort(keys)  # sorted queries walk the table in order: ~4x faster than random ones at 18M keys
        found = np.empty_like(order)
        found[order] = np.minimum(np.searchsorted(self.keys, keys[order]), len(self.keys) - 1)
        return (self.keys[found] == keys).reshape(users.shape)

    def sample(self, users: np.ndarray, n_negatives: int) -> np.ndarray:
        """(len(users), n_negatives) item indices."""
        users_grid = np.repeat(users[:, None], n_negatives, axis=1)
        negatives = self.draw(users_grid.shape)
        clash = self.is_positive(users_grid, negatives)
        for _ in range(self.max_rounds):
            if not clash.any():
                break
            redrawn = self.draw(int(clash.sum()))
            negatives[clash] = redrawn
            clash[clash] = self.is_positive(users_grid[clash], redrawn)  # only redrawn entries can clash now
        return negatives

    def draw(self, size: int | tuple[int, ...]) -> np.ndarray:
        """Item indices from the sampling distribution, before excluding positives."""
        if self.cumulative is None:
            return self.rng.integers(0, self.n_items, size=size)
        found = np.searchsorted(self.cumulative, self.rng.random(size), side="right")
        return np.minimum(found, self.n_items - 1)  # guards a rounding shortfall of the last cumulative value
