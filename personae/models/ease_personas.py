"""EASE split into personas: EASE's accuracy, with each recommendation explained by a group of the user's items.

EASE scores linearly in the user's items, s(u, i) = sum_{j in I_u} B[j, i]. Cluster I_u into up to K groups
(:mod:`personae.models.item_clusters`: Ward on SVD item vectors) and the score splits exactly:

    s_k(u, i) = sum_{j in cluster k of u} B[j, i]         s(u, i) = sum_k s_k(u, i)

The persona explaining (u, i) is argmax_k s_k(u, i), and its supporting items are the cluster's items with the
largest B[j, i]: the explanation is the arithmetic of the score itself. ``focus`` beta mixes in the strongest
part, a candidate-conditional weight over the parts:

    score(u, i) = (1 - beta) sum_k s_k(u, i) + beta max_k s_k(u, i)

beta = 0 is EASE exactly; unset, beta is chosen on validation NDCG@10 over ``FOCUS_GRID`` (after lambda).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from personae.data.interactions import Interactions
from personae.data.splits import validation_split
from personae.evaluate.evaluator import evaluate
from personae.models.base import Explanation, PersonaMix
from personae.models.ease import EASE, EASEOptions
from personae.models.item_clusters import EMBEDDING_DIM, item_embedding, user_item_clusters, with_genres

FOCUS_GRID = (0.0, 0.25, 0.5)


@dataclass
class EASEPersonasOptions(EASEOptions):
    personas: int = field(default=4, metadata={"help": "most personas (item clusters) per user"})
    focus: float | None = field(default=None, metadata={
        "help": f"weight beta of the strongest persona's part (0 = EASE exactly); unset: tuned over {list(FOCUS_GRID)}"})
    embedding_dim: int = field(default=EMBEDDING_DIM, metadata={"help": "SVD item factors used for clustering"})
    genre_weight: float = field(default=0.0, metadata={
        "help": "weight of the items' genres beside their SVD factors when clustering (0 = behaviour only)"})


class EASEPersonas(EASE):
    """EASE whose score is a sum of per-persona parts over clusters of the user's own items."""

    name = "ease-personas"
    summary = "EASE split exactly into personas (Ward clusters of the user's items); explained by the top part"
    Options = EASEPersonasOptions
    options: EASEPersonasOptions

    def fit(self, train: Interactions, valid: Interactions | None = None) -> EASEPersonas:
        self.focus_ = 0.0  # lambda is tuned on EASE itself
        super().fit(train, valid)
        o = self.options
        self.embedding_ = item_embedding(train, o.embedding_dim, seed=o.seed)
        train.csr.sort_indices()
        self.clusters_ = user_item_clusters(train, with_genres(train, self.embedding_, o.genre_weight), o.personas)
        if o.focus is not None:
            self.focus_ = float(o.focus)
        elif valid is not None and len(valid):
            self.focus_ = self._tune_focus(train, valid)
        return self

    def _tune_focus(self, train: Interactions, valid: Interactions) -> float:
        split = validation_split(train, valid)
        self.focus_tuning_ = {}
        for focus in FOCUS_GRID:
            self.focus_ = focus
            self.focus_tuning_[focus] = evaluate(self, split, part="valid", ks=(10,), beyond_accuracy=False).metrics["ndcg@10"]
        return max(FOCUS_GRID, key=lambda f: (self.focus_tuning_[f], -f))  # ties: the plainer model

    # --- the parts ---------------------------------------------------------------------------------------
    def persona_history(self, user_idx: np.ndarray) -> sp.csr_matrix:
        """(B * K, n_items) 0/1: row b * K + k holds the items of user b's persona k."""
        csr, k = self.fitted_data.csr, self.options.personas
        rows, cols = [], []
        for b, user in enumerate(np.asarray(user_idx, dtype=np.int64)):
            start, end = csr.indptr[user], csr.indptr[user + 1]
            rows.append(b * k + self.clusters_[start:end])
            cols.append(csr.indices[start:end])
        rows_all = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        cols_all = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        return sp.csr_matrix((np.ones(len(rows_all), np.float32), (rows_all, cols_all)),
                             shape=(len(user_idx) * k, csr.shape[1]))

    def parts(self, user_idx: np.ndarray, item_idx: np.ndarray | None = None) -> np.ndarray:
        """(B, K, C) score part of each persona; summed over K it is EASE's score."""
        weights = self.weights_ if item_idx is None else self.weights_[:, item_idx]
        flat = np.asarray(self.persona_history(user_idx) @ weights)  # (B * K, C)
        return flat.reshape(len(user_idx), self.options.personas, -1)

    def score(self, user_idx: np.ndarray, item_idx: np.ndarray | None = None) -> np.ndarray:
        if getattr(self, "clusters_", None) is None or self.focus_ == 0.0:
            return super().score(user_idx, item_idx)  # beta = 0 (and while tuning lambda): EASE exactly
        parts = self.parts(user_idx, item_idx)
        return (1 - self.focus_) * parts.sum(axis=1) + self.focus_ * parts.max(axis=1)

    def bytes_per_user(self) -> float:
        """One byte per distinct training item of the user: the persona it belongs to."""
        return len(self.clusters_) / max(self.fitted_data.n_users, 1)

    # --- explanations ------------------------------------------------------------------------------------
    def history_owner(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """The user's history (H,) oldest first and the persona (H,) each history item belongs to."""
        data = self.fitted_data
        csr = data.csr
        history = data.user_history(user)
        start, end = csr.indptr[user], csr.indptr[user + 1]
        position = np.searchsorted(csr.indices[start:end], history)
        return history, self.clusters_[start:end][position]

    def explain(self, user_id: object, item_ids: list | np.ndarray) -> list[Explanation]:
        """Per item: each persona's share of the positive score, the top part's persona, and the items of that
        persona with the largest weight B[j, i] (their exact contribution)."""
        from personae.explain.attribution import build_explanations, persona_labels

        data = self.fitted_data
        user = data.user_index(user_id)
        items = data.item_index(item_ids)
        parts = self.parts(np.array([user]), items)[0].T  # (C, K)
        history, owner = self.history_owner(user)
        labels = persona_labels(data, history, owner, list(range(self.options.personas)))
        return build_explanations(data, user_id, items, part_shares(parts), labels, history,
                                  self.weights_[history][:, items].T, owner[None, :] == parts.argmax(axis=1)[:, None])

    def user_personas(self, user_id: object) -> PersonaMix:
        """Each persona's vector is its items' mean SVD vector; its weight is its share of the user's items."""
        from personae.explain.attribution import persona_mix

        user = self.fitted_data.user_index(user_id)
        history, owner = self.history_owner(user)
        kept = np.unique(owner)
        vectors = np.stack([self.embedding_[history[owner == k]].mean(axis=0) for k in kept]) if len(kept) else \
            np.zeros((0, self.embedding_.shape[1]), np.float32)
        prior = np.array([np.mean(owner == k) for k in kept], dtype=np.float32)
        closeness = np.zeros((len(history), self.options.personas))
        if len(kept):
            closeness[:, kept] = self.embedding_[history] @ vectors.T  # how typical each item is of each persona
        return persona_mix(self.fitted_data, user_id, vectors, prior, history, owner, support_score=closeness,
                           persona_ids=kept.tolist())

    # --- persistence -------------------------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        return {**super().state_arrays(), "focus": np.asarray([self.focus_], dtype=np.float64),
                "embedding": self.embedding_, "clusters": self.clusters_.astype(np.int64)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], train: Interactions) -> None:
        super().load_state_arrays(arrays, train)
        train.csr.sort_indices()
        self.focus_ = float(arrays["focus"][0])
        self.embedding_ = arrays["embedding"]
        self.clusters_ = arrays["clusters"]


def part_shares(parts: np.ndarray) -> np.ndarray:
    """(C, K) score parts -> (C, K) each persona's share of the positive part of the score (sums to 1; a
    candidate with no positive part gives all its weight to its largest part)."""
    positive = np.maximum(parts, 0.0)
    total = positive.sum(axis=1, keepdims=True)
    fallback = np.eye(parts.shape[1])[parts.argmax(axis=1)]
    return np.where(total > 0, positive / np.where(total > 0, total, 1.0), fallback)
