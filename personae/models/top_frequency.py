"""Personal top-frequency: a household's most often bought products, the first baseline of next-basket work.

score(u, i) = number of the user's training events with item i (repeat purchases counted), plus a popularity
share below one that orders what the user never bought and breaks ties. It only makes sense where training data
keeps repeats (the next-basket split); on de-duplicated data it is popularity among the user's own items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from personae.data.interactions import Interactions
from personae.models.base import Recommender


def event_counts(train: Interactions) -> sp.csr_matrix:
    """(n_users, n_items) float32 number of events of each (user, item) pair (repeats summed)."""
    counts = sp.csr_matrix((np.ones(len(train), dtype=np.float32), (train.users, train.items)),
                           shape=(train.n_users, train.n_items))
    counts.sum_duplicates()
    return counts


def csr_arrays(matrix: sp.csr_matrix, prefix: str) -> dict[str, np.ndarray]:
    """A CSR matrix as named arrays for safetensors (``PREFIX_data``, ``_indices``, ``_indptr``, ``_shape``)."""
    return {f"{prefix}_data": matrix.data.astype(np.float32), f"{prefix}_indices": matrix.indices.astype(np.int64),
            f"{prefix}_indptr": matrix.indptr.astype(np.int64), f"{prefix}_shape": np.asarray(matrix.shape, np.int64)}


def csr_from_arrays(arrays: dict[str, np.ndarray], prefix: str) -> sp.csr_matrix:
    shape = tuple(int(s) for s in arrays[f"{prefix}_shape"])
    return sp.csr_matrix((arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]), shape=shape)


class TopFrequency(Recommender):
    """What the user bought most often, then what everyone buys."""

    name = "top-freq"
    summary = "personal top-frequency (repeat purchases counted), popularity for the rest"

    def fit(self, train: Interactions, valid: Interactions | None = None) -> TopFrequency:
        self.train_ = train
        self.counts_ = event_counts(train)
        popularity = train.item_popularity.astype(np.float32)
        self.popularity_share_ = popularity / (popularity.max() + 1.0)  # < 1: never outranks one purchase
        return self

    def score(self, user_idx: np.ndarray, item_idx: np.ndarray | None = None) -> np.ndarray:
        scores = self.counts_[user_idx].toarray() + self.popularity_share_[None, :]
        return scores if item_idx is None else scores[:, item_idx]

    def bytes_per_user(self) -> float:
        """The user's counts row: one (item index, count) pair per distinct item bought."""
        return self.counts_.nnz * 8 / max(self.counts_.shape[0], 1)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {**csr_arrays(self.counts_, "counts"), "popularity_share": self.popularity_share_}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], train: Interactions) -> None:
        self.train_ = train
        self.counts_ = csr_from_arrays(arrays, "counts")
        self.popularity_share_ = arrays["popularity_share"]
