"""Popularity: every user gets the items most users had in training. The floor every model must clear."""

from __future__ import annotations

import numpy as np

from personae.data.interactions import Interactions
from personae.models.base import Recommender


class Popularity(Recommender):
    """Score = number of distinct training users of the item (ties in ranking go to the lower item index)."""

    name = "pop"
    summary = "popularity by distinct training users"

    def fit(self, train: Interactions, valid: Interactions | None = None) -> Popularity:
        self.train_ = train
        self.counts_ = train.item_popularity.astype(np.float32)
        return self

    def score(self, user_idx: np.ndarray, item_idx: np.ndarray | None = None) -> np.ndarray:
        counts = self.counts_ if item_idx is None else self.counts_[item_idx]
        return np.broadcast_to(counts, (len(user_idx), len(counts)))

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts_}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], train: Interactions) -> None:
        self.train_ = train
        self.counts_ = arrays["counts"]
