"""EASE^R (Steck, 2019): a closed-form item-item linear autoencoder with a zero diagonal.

B = I - P diag(1 / diag(P)), P = (X^T X + lambda I)^-1. When ``l2`` is not given, lambda is chosen on the
validation split by NDCG@10 over a small grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from personae.data.interactions import Interactions
from personae.data.splits import validation_split
from personae.evaluate.evaluator import evaluate
from personae.models.base import ModelOptions, Recommender

L2_GRID = (50.0, 100.0, 200.0, 250.0, 300.0, 400.0, 500.0, 750.0, 1000.0, 1500.0)


@dataclass
class EASEOptions(ModelOptions):
    l2: float | None = field(
        default=None,
        metadata={"help": f"L2 weight lambda; unset: tuned on validation NDCG@10 over {list(L2_GRID)}"},
    )


class EASE(Recommender):
    """Embarrassingly shallow autoencoder: score = x_u B."""

    name = "ease"
    summary = "EASE^R closed form, lambda tuned on validation"
    Options = EASEOptions
    options: EASEOptions

    def fit(self, train: Interactions, valid: Interactions | None = None) -> EASE:
        self.train_ = train
        gram = (train.csr.T @ train.csr).toarray().astype(np.float64)  # (n_items, n_items)
        if self.options.l2 is not None:
            self.l2_ = float(self.options.l2)
        elif valid is not None and len(valid):
            self.l2_ = self._tune(gram, train, valid)
        else:
            self.l2_ = 500.0
        self.weights_ = self._closed_form(gram, self.l2_)
        return self

    @staticmethod
    def _closed_form(gram: np.ndarray, l2: float) -> np.ndarray:
        regularised = gram.copy()
        regularised[np.diag_indices_from(regularised)] += l2
        inverse = np.linalg.inv(regularised)
        weights = -inverse / np.diag(inverse)[None, :]
        np.fill_diagonal(weights, 0.0)
        return weights.astype(np.float32)

    def _tune(self, gram: np.ndarray, train: Interactions, valid: Interactions) -> float:
        split = validation_split(train, valid)
        best_l2, best_ndcg = L2_GRID[0], -1.0
        self.tuning_ = {}
        for l2 in L2_GRID:
            self.weights_ = self._closed_form(gram, l2)
            ndcg = evaluate(self, split, part="valid", ks=(10,), beyond_accuracy=False).metrics["ndcg@10"]
            self.tuning_[l2] = ndcg
            if ndcg > best_ndcg:
                best_l2, best_ndcg = l2, ndcg
        return best_l2

    def score(self, user_idx: np.ndarray, item_idx: np.ndarray | None = None) -> np.ndarray:
        history = self.fitted_data.csr[user_idx]
        weights = self.weights_ if item_idx is None else self.weights_[:, item_idx]
        return np.asarray(history @ weights)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_, "l2": np.asarray([self.l2_], dtype=np.float64)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], train: Interactions) -> None:
        self.train_ = train
        self.weights_ = arrays["weights"]
        self.l2_ = float(arrays["l2"][0])
