"""TIFU-KNN-style next-basket baseline (after Hu et al., SIGIR 2020), with one level of time decay.

Each user is a time-decayed average of their baskets (a basket is the user's events at one timestamp):

    r_u = sum_b decay^(B_u - 1 - b) x_b / sum_b decay^(B_u - 1 - b)      b = 0 oldest .. B_u - 1 newest

and the score mixes the user's own vector with the mean of the ``neighbours`` users nearest by cosine:

    s(u, .) = alpha r_u + (1 - alpha) mean_{v in N(u)} r_v

TIFU-KNN also decays within groups of baskets; this keeps the one basket-level decay (hence "style"). The
defaults are the paper's grocery (Dunnhumby / Instacart) range, not tuned here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from personae.data.interactions import Interactions
from personae.models.base import ModelOptions, Recommender
from personae.models.top_frequency import csr_arrays, csr_from_arrays


@dataclass
class TIFUKNNOptions(ModelOptions):
    decay: float = field(default=0.9, metadata={"help": "weight ratio of a basket to the next newer one"})
    neighbours: int = field(default=300, metadata={"help": "nearest users (cosine of decayed vectors) mixed in"})
    alpha: float = field(default=0.7, metadata={"help": "weight of the user's own vector; 1 - alpha: neighbours'"})


def decayed_user_vectors(train: Interactions, decay: float) -> sp.csr_matrix:
    """(n_users, n_items) time-decayed average of each user's baskets (events at one time form a basket)."""
    times = train.timestamps if train.timestamps is not None else np.arange(len(train), dtype=np.float64)
    order = np.lexsort((times, train.users))
    users, stamps = train.users[order], times[order]
    new_basket = np.ones(len(order), dtype=bool)
    new_basket[1:] = (users[1:] != users[:-1]) | (stamps[1:] != stamps[:-1])
    basket_rank = np.cumsum(new_basket) - 1  # global basket number, increasing in time within a user
    first_basket = np.full(train.n_users, np.iinfo(np.int64).max)
    last_basket = np.full(train.n_users, -1, dtype=np.int64)
    np.minimum.at(first_basket, users, basket_rank)
    np.maximum.at(last_basket, users, basket_rank)
    age = last_basket[users] - basket_rank  # 0 = the user's newest basket
    weight = decay ** age.astype(np.float64)
    n_baskets = np.maximum(last_basket - first_basket + 1, 1).astype(np.float64)  # users without events: 1
    norm = n_baskets if decay == 1 else (1 - decay ** n_baskets) / (1 - decay)  # sum of the decay weights
    vectors = sp.csr_matrix((weight / norm[users], (users, train.items[order])), shape=(train.n_users, train.n_items))
    vectors.sum_duplicates()
    return vectors.astype(np.float32)


class TIFUKNN(Recommender):
    """The user's decayed basket history plus that of the most similar users."""

    name = "tifu-knn"
    summary = "TIFU-KNN-style: time-decayed basket average, mixed with the nearest users' (next-basket)"
    Options = TIFUKNNOptions
    options: TIFUKNNOptions

    def fit(self, train: Interactions, valid: Interactions | None = None) -> TIFUKNN:
        self.train_ = train
        self.vectors_ = decayed_user_vectors(train, self.options.decay)
        self.neighbour_mix_ = self._neighbour_mix(self.vectors_, self.options.neighbours)
        return self

    @staticmethod
    def _neighbour_mix(vectors: sp.csr_matrix, neighbours: int) -> sp.csr_matrix:
        """(n_users, n_users) row-stochastic: 1 / k on each user's k nearest other users by cosine."""
        norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
        unit = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ vectors
        similarity = (unit @ unit.T).toarray()  # (n_users, n_users)
        np.fill_diagonal(similarity, -np.inf)
        k = max(1, min(neighbours, similarity.shape[0] - 1))
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]  # (n_users, k)
        rows = np.repeat(np.arange(similarity.shape[0]), k)
        return sp.csr_matrix((np.full(rows.size, 1.0 / k, dtype=np.float32), (rows, nearest.ravel())),
                             shape=similarity.shape)

    def score(self, user_idx: np.ndarray, item_idx: np.ndarray | None = None) -> np.ndarray:
        alpha = self.options.alpha
        own = self.vectors_[user_idx]
        others = self.neighbour_mix_[user_idx] @ self.vectors_
        scores = (alpha * own + (1 - alpha) * others).toarray()
        return scores if item_idx is None else scores[:, item_idx]

    def bytes_per_user(self) -> float:
        """The user's decayed vector (index, value pairs) and neighbour list (index, weight pairs)."""
        return (self.vectors_.nnz + self.neighbour_mix_.nnz) * 8 / max(self.vectors_.shape[0], 1)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {**csr_arrays(self.vectors_, "vectors"), **csr_arrays(self.neighbour_mix_, "neighbours")}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], train: Interactions) -> None:
        self.train_ = train
        self.vectors_ = csr_from_arrays(arrays, "vectors")
        self.neighbour_mix_ = csr_from_arrays(arrays, "neighbours")
