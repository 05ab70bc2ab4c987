"""ItemKNN: cosine item-item similarity over training users, keeping each item's nearest neighbours."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from personae.data.interactions import Interactions
from personae.models.base import ModelOptions, Recommender


@dataclass
class ItemKNNOptions(ModelOptions):
    neighbours: int = field(default=100, metadata={"help": "neighbours kept per item (0 keeps all)"})
    shrink: float = field(default=10.0, metadata={"help": "added to the cosine denominator; damps rare pairs"})


class ItemKNN(Recommender):
    """score(u, i) = sum over the user's items j of sim(j, i), sim = cosine with shrinkage."""

    name = "itemknn"
    summary = "cosine item-item nearest neighbours"
    Options = ItemKNNOptions
    options: ItemKNNOptions

    def fit(self, train: Interactions, valid: Interactions | None = None) -> ItemKNN:
        self.train_ = train
        x = train.csr.astype(np.float32)
        overlap = (x.T @ x).toarray()  # (n_items, n_items) co-occurrence counts
        norms = np.sqrt(np.diag(overlap))
        similarity = overlap / (np.outer(norms, norms) + self.options.shrink + 1e-12)
        np.fill_diagonal(similarity, 0.0)
        k = self.options.neighbours
        if 0 < k < similarity.shape[0]:
            # keep the k largest similarities in each column (neighbours j of target i)
            cutoff = -np.partition(-similarity, k - 1, axis=0)[k - 1]
            similarity = np.where(similarity >= cutoff[None, :], similarity, 0.0)
        self.similarity_ = similarity.astype(np.float32)
        return self

    def score(self, user_idx: np.ndarray, item_idx: np.ndarray | None = None) -> np.ndarray:
        history = self.fitted_data.csr[user_idx]
        sim = self.similarity_ if item_idx is None else self.similarity_[:, item_idx]
        return np.asarray(history @ sim)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"similarity": self.similarity_}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], train: Interactions) -> None:
        self.train_ = train
        self.similarity_ = arrays["similarity"]


