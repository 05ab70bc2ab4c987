"""Negative sampling that avoids each user's own training items: uniform, or tilted towards popular items."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

DENSE_LIMIT = 50_000_000  # users x items below which the positives are kept as a dense bool table
EMPTY = -1  # a free slot of KeySet's table (keys are >= 0)
FIBONACCI = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: multiplicative hashing spreads nearby keys


class KeySet:
    """A fixed set of non-negative int64 keys with vectorised O(1) membership: open addressing with linear
    probing, the table at most half full (expected ~1.5 probes per look-up, every probe a NumPy gather).

    Built once per training run; memory is 8 bytes x the next power of two >= 2 x keys.
    """

    def __init__(self, keys: np.ndarray) -> None:
        keys = np.unique(np.asarray(keys, dtype=np.int64))
        self.bits = max(int(np.ceil(np.log2(max(2 * len(keys), 2)))), 1)
        self.mask = np.int64((1 << self.bits) - 1)
        self.table = np.full(1 << self.bits, EMPTY, dtype=np.int64)
        pending, slot = np.arange(len(keys)), self._home(keys)
        while len(pending):  # each round, every free slot still wanted takes one of the keys that want it
            wanted = slot[pending]
            free = self.table[wanted] == EMPTY
            claims, first = np.unique(wanted[free], return_index=True)
            winners = pending[free][first]
            self.table[claims] = keys[winners]
            placed = np.zeros(len(keys), dtype=bool)
            placed[winners] = True
            pending = pending[~placed[pending]]
            slot[pending] = (slot[pending] + 1) & self.mask  # the next slot along: linear probing

    def _home(self, keys: np.ndarray) -> np.ndarray:
        """(n,) int64 keys -> (n,) int64 home slots (top ``bits`` bits of the Fibonacci product)."""
        with np.errstate(over="ignore"):
            return ((keys.astype(np.uint64) * FIBONACCI) >> np.uint64(64 - self.bits)).astype(np.int64)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """(n,) int64 keys -> (n,) bool: a probe walks from the key's home slot to the key or a free slot."""
        keys = np.asarray(keys, dtype=np.int64)
        found = np.zeros(len(keys), dtype=bool)
        active, slot = np.arange(len(keys)), self._home(keys)
        while len(active):
            held = self.table[slot]
            hit = held == keys[active]
            found[active[hit]] = True
            going = ~hit & (held != EMPTY)
            active, slot = active[going], (slot[going] + 1) & self.mask
        return found

    def __len__(self) -> int:
        return int((self.table != EMPTY).sum())


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
        # Membership test: a dense (users, items) bit table when it is small (a gather per draw), else a hash
        # set of (user * n_items + item) keys: O(1) per draw whatever the number of events (a binary search
        # over sorted keys cost O(log events) and a cache miss per halving).
        self.dense = positives.toarray().astype(bool) if positives.shape[0] * self.n_items <= DENSE_LIMIT else None
        self.keys = None
        if self.dense is None:
            rows = np.repeat(np.arange(positives.shape[0], dtype=np.int64), np.diff(self.positives.indptr))
            self.keys = KeySet(rows * self.n_items + self.positives.indices.astype(np.int64))

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self.dense is not None:
            return self.dense[users, items]
        keys = users.astype(np.int64) * self.n_items + items
        return self.keys.contains(keys.ravel()).reshape(users.shape)

    def sample(self, users: np.ndarray, n_negatives: int, pool: int = 0) -> np.ndarray:
        """(len(users), n_negatives) item indices.

        With ``pool`` > 0 the batch first draws ``pool`` items from the sampling distribution and every
        negative (and every redraw) picks one of them uniformly. Each negative's distribution before exclusion
        is unchanged; what changes is that negatives within a batch are correlated, and that a step touches at
        most ``pool`` distinct item rows whatever the catalogue's size (the cost of a sparse step on a large
        catalogue is its passes over distinct random rows: bench/scale.py --parts pool).
        """
        users_grid = np.repeat(users[:, None], n_negatives, axis=1)
        if pool:
            candidates = self.draw(pool)
            pick = lambda size: candidates[self.rng.integers(0, pool, size=size)]
        else:
            pick = self.draw
        negatives = pick(users_grid.shape)
        clash = self.is_positive(users_grid, negatives)
        for _ in range(self.max_rounds):
            if not clash.any():
                break
            redrawn = pick(int(clash.sum()))
            negatives[clash] = redrawn
            clash[clash] = self.is_positive(users_grid[clash], redrawn)  # only redrawn entries can clash now
        return negatives

    def draw(self, size: int | tuple[int, ...]) -> np.ndarray:
        """Item indices from the sampling distribution, before excluding positives."""
        if self.cumulative is None:
            return self.rng.integers(0, self.n_items, size=size)
        found = np.searchsorted(self.cumulative, self.rng.random(size), side="right")
        return np.minimum(found, self.n_items - 1)  # guards a rounding shortfall of the last cumulative value
