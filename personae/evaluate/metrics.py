"""Ranking metrics: accuracy per user from hit matrices, beyond-accuracy over recommendation lists.

Every function takes already-ranked lists, so one evaluator (and any notebook) can call them.
"""

from __future__ import annotations

import numpy as np

ACCURACY_METRICS = ("hr", "ndcg", "recall", "mrr")
BEYOND_METRICS = ("coverage", "ild", "novelty")


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """(batch, n_items) scores -> (batch, k) item indices, best first; ties go to the lower item index.

    A partial sort: ``argpartition`` finds each row's k-th best score; every item above it, and the
    lowest-indexed items equal to it, make exactly k candidates, and only those are sorted (stably, so equal
    scores keep index order). The result equals a full stable sort cut at k.
    """
    n_items = scores.shape[1]
    k = min(k, n_items)
    if k <= 0 or k == n_items or np.isnan(scores).any():  # NaN equals nothing, so no cut-off: sort it all
        return np.argsort(-scores, axis=1, kind="stable")[:, :max(k, 0)]
    negated = -scores  # ascending order of negated scores = best first
    cut = np.take_along_axis(negated, np.argpartition(negated, k - 1, axis=1)[:, k - 1:k], axis=1)  # (batch, 1)
    above = negated < cut
    tied = negated == cut
    room = k - above.sum(axis=1, keepdims=True)  # places left for items tied at the cut-off
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))  # exactly k per row
    candidates = np.nonzero(chosen)[1].reshape(-1, k)  # (batch, k) in index order
    order = np.argsort(np.take_along_axis(negated, candidates, axis=1), axis=1, kind="stable")
    return np.take_along_axis(candidates, order, axis=1)


def accuracy_at_k(hits: np.ndarray, n_targets: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-user accuracy metrics at k.

    Args:
        hits: (users, >=k) bool, hits[u, r] is true when the item at rank r is one of u's targets.
        n_targets: (users,) number of target items of each user (>= 1).
    Returns:
        ``hr``, ``ndcg``, ``recall``, ``mrr`` -> (users,) float arrays.
    """
    hits = hits[:, :k].astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))  # rank r (0-based) is discounted by log2(r + 2)
    dcg = hits @ discounts[:hits.shape[1]]  # lists are shorter than k when the catalogue is
    ideal_hits = np.minimum(n_targets, k)
    idcg = np.cumsum(discounts)[ideal_hits - 1]
    any_hit = hits.any(axis=1)
    first_hit = np.where(any_hit, hits.argmax(axis=1), 0)
    return {
        "hr": any_hit.astype(np.float64),
        "ndcg": dcg / idcg,
        "recall": hits.sum(axis=1) / n_targets,
        "mrr": np.where(any_hit, 1.0 / (first_hit + 1), 0.0),
    }


def coverage(lists: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    return float(np.unique(lists).size / n_items)


def novelty(lists: np.ndarray, popularity: np.ndarray, n_users: int) -> float:
    """Mean self-information -log2(p_i) of recommended items, p_i = share of training users who had i.

    Items no training user had get p = 1 / n_users (the rarest observable).
    """
    share = np.maximum(popularity, 1) / max(n_users, 1)
    return float(np.mean(-np.log2(share[lists])))


def genre_matrix(genres: list[frozenset[str]]) -> np.ndarray:
    """(n_items, n_genres) 0/1 matrix from per-item genre sets."""
    vocabulary = sorted(set().union(*genres)) if genres else []
    column = {g: j for j, g in enumerate(vocabulary)}
    matrix = np.zeros((len(genres), max(len(vocabulary), 1)), dtype=np.float32)
    for i, item_genres in enumerate(genres):
        for genre in item_genres:
            matrix[i, column[genre]] = 1.0
    return matrix


def intra_list_distance(lists: np.ndarray, genres: np.ndarray) -> float:
    """Mean over lists of the mean pairwise 1 - Jaccard(genres_i, genres_j) within the list.

    Args:
        lists: (users, k) item indices.
        genres: (n_items, n_genres) 0/1 matrix from :func:`genre_matrix`.
    Two items without genres count as identical (distance 0).
    """
    k = lists.shape[1]
    if k < 2:
        return 0.0
    onehot = genres[lists]  # (users, k, n_genres)
    intersection = onehot @ onehot.transpose(0, 2, 1)  # (users, k, k)
    sizes = onehot.sum(axis=2)
    union = sizes[:, :, None] + sizes[:, None, :] - intersection
    jaccard = np.where(union > 0, intersection / np.maximum(union, 1e-12), 1.0)
    upper = np.triu_indices(k, 1)
    return float(np.mean(1.0 - jaccard[:, upper[0], upper[1]]))
