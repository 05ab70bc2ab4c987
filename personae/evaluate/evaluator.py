"""The one full-ranking evaluator: every model, command and early stop goes through :func:`evaluate`.

Users are scored in batches so memory stays at (batch, n_items) floats whatever the catalogue size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from personae.data.splits import Split
from personae.evaluate.metrics import (
    ACCURACY_METRICS,
    accuracy_at_k,
    coverage,
    intra_list_distance,
    novelty,
    top_k_unseen,
)

DEFAULT_RANKING_BATCH = 256  # users per scoring call: memory stays at (batch, n_items) floats


class Scorer(Protocol):
    def score(self, user_idx: np.ndarray, item_idx: np.ndarray | None = None) -> np.ndarray: ...


@dataclass
class EvaluationResult:
    """Mean metrics (``"ndcg@10"`` -> value) and the per-user accuracy behind them."""

    metrics: dict[str, float]
    users: np.ndarray  # (n_evaluated,) user indices, in the order of the per-user arrays
    per_user: dict[str, np.ndarray]  # "ndcg@10" -> (n_evaluated,)


def seen_items(split: Split, part: str) -> sp.csr_matrix:
    """(n_users, n_items) items masked from rankings for ``part``: train, plus valid when ranking for test."""
    return sp.csr_matrix(split.train.csr + split.valid.csr if part == "test" else split.train.csr)


def rank(model: Scorer, users: np.ndarray, k: int, seen: sp.csr_matrix) -> np.ndarray:
    """(B,) users -> (B, k) best unseen items: the model's own ranking path (``Recommender.rank``, the batched
    persona kernel for multi-persona models) when it has one, else its scores through the same selection."""
    if hasattr(model, "rank"):
        return model.rank(users, k, seen).items
    return top_k_unseen(model.score(users), k, seen)[0]


def evaluate(
    model: Scorer,
    split: Split,
    part: str = "test",
    ks: tuple[int, ...] = (10, 20),
    beyond_accuracy: bool = True,
    batch_size: int | None = None,
    exclude_seen: bool = True,
) -> EvaluationResult:
    """Rank all items for every user with a target in ``part`` and compute the metrics.

    Masked from each ranking: the user's training items, and at test time also the validation items.
    Ties in score go to the lower item index (see :func:`top_k`). Users are ranked ``batch_size`` at a time,
    by default the model's ``ranking_batch_users`` (256 unless the model shares work across a batch).
    ``exclude_seen=False`` masks nothing: for protocols where buying again counts (next-basket, repeat variant).
    """
    if part not in ("valid", "test"):
        raise ValueError(f"part must be 'valid' or 'test', got {part!r}")
    batch_size = batch_size or getattr(model, "ranking_batch_users", DEFAULT_RANKING_BATCH)
    targets = (split.test if part == "test" else split.valid).csr
    seen = seen_items(split, part) if exclude_seen else None
    users = np.flatnonzero(np.diff(targets.indptr) > 0)
    n_targets_all = np.diff(targets.indptr)
    k_max = max(ks)
    per_user: dict[str, list[np.ndarray]] = {f"{m}@{k}": [] for k in ks for m in ACCURACY_METRICS}
    lists: list[np.ndarray] = []
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        ranked = rank(model, batch, k_max, None if seen is None else seen[batch])  # (batch, k_max)
        hits = np.asarray(targets[batch[:, None], ranked].todense()) > 0
        for k in ks:
            for name, values in accuracy_at_k(hits, n_targets_all[batch], k).items():
                per_user[f"{name}@{k}"].append(values)
        lists.append(ranked)
    ranked_all = np.concatenate(lists) if lists else np.zeros((0, k_max), dtype=np.int64)
    per_user_arrays = {key: np.concatenate(v) if v else np.zeros(0) for key, v in per_user.items()}
    metrics = {key: float(np.mean(v)) if len(v) else float("nan") for key, v in per_user_arrays.items()}
    if beyond_accuracy and len(ranked_all):
        metrics.update(_beyond_accuracy(ranked_all, split, ks))
    return EvaluationResult(metrics=metrics, users=users, per_user=per_user_arrays)


def _beyond_accuracy(ranked: np.ndarray, split: Split, ks: tuple[int, ...]) -> dict[str, float]:
    train = split.train
    genre_onehot = train.genre_onehot[0] if train.genre_onehot is not None else None
    out: dict[str, float] = {}
    for k in ks:
        lists = ranked[:, :k]
        out[f"coverage@{k}"] = coverage(lists, train.n_items)
        out[f"novelty@{k}"] = novelty(lists, train.item_popularity, train.n_users)
        if genre_onehot is not None:
            out[f"ild@{k}"] = intra_list_distance(lists, genre_onehot)
    return out
