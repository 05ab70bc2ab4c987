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


def top_k_unseen(scores: np.ndarray, k: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
    """(B, N) scores -> ((B, k) :func:`top_k` items, (B, k) their scores), with the items of ``exclude``
    ((B, N) sparse) scored -inf first: they are listed only when fewer than k others remain."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    if exclude is not None:
        rows, cols = exclude.nonzero()
        scores[rows, cols] = -np.inf
    ranked = top_k(scores, k)
    return ranked, np.take_along_axis(scores, ranked, axis=1)


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


def genre_jaccard(onehot: np.ndarray) -> np.ndarray:
    """(..., n, n_genres) 0/1 genre rows -> (..., n, n) pairwise Jaccard; two genreless items count as identical."""
    intersection = onehot @ np.swapaxes(onehot, -1, -2)  # (..., n, n)
    sizes = onehot.sum(axis=-1)
    union = sizes[..., :, None] + sizes[..., None, :] - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-12), 1.0)


def intra_list_distances(lists: np.ndarray, genres: np.ndarray) -> np.ndarray:
    """(users,) mean pairwise 1 - Jaccard(genres_i, genres_j) within each list (0 for lists shorter than 2).

    Args:
        lists: (users, k) item indices.
        genres: (n_items, n_genres) 0/1 matrix from :func:`personae.data.genres.genre_matrix`.
    """
    k = lists.shape[1]
    if k < 2:
        return np.zeros(len(lists))
    jaccard = genre_jaccard(genres[lists])  # (users, k, k)
    upper = np.triu_indices(k, 1)
    return np.mean(1.0 - jaccard[:, upper[0], upper[1]], axis=1)


def intra_list_distance(lists: np.ndarray, genres: np.ndarray) -> float:
    """Mean over lists of :func:`intra_list_distances` (``ild@k``). Two items without genres count as identical."""
    return float(np.mean(intra_list_distances(lists, genres))) if len(lists) else 0.0


def genres_per_list(lists: np.ndarray, genres: np.ndarray) -> np.ndarray:
    """(users,) number of distinct genres among the items of each (users, k) list."""
    return (genres[lists].sum(axis=1) > 0).sum(axis=1)


def genre_shares(genres: np.ndarray) -> np.ndarray:
    """(n_items, n_genres): each item's unit of mass spread evenly over its genres (Steck 2018).

    A genreless item has a zero row, so it adds nothing to any distribution.
    """
    sizes = genres.sum(axis=1, keepdims=True)
    return genres / np.maximum(sizes, 1)


def calibration_distance(history, lists: np.ndarray, genres: np.ndarray) -> np.ndarray:
    """(users,) Jensen-Shannon distance between the genre distribution of each user's history and of the list.

    After Steck, "Calibrated recommendations" (RecSys 2018): p(g|u) sums the genre shares
    (:func:`genre_shares`) of the user's items, q(g|list) those of the list's items, each normalised to 1.
    Steck uses the KL divergence, which needs smoothing for genres the list misses; the JS distance is
    symmetric and finite without it. Base-2 logarithms bound it in [0, 1]: 0 = the list has the history's genre
    mix exactly, 1 = no genre in common. Genreless items add no mass; a user whose history or list has no
    genre mass at all (empty, or only genreless items) gets NaN, so callers can leave them out.

    Args:
        history: (users, n_items) 0/1 matrix, dense or scipy sparse, one row per row of ``lists``.
        lists: (users, k) item indices.
        genres: (n_items, n_genres) 0/1 matrix from :func:`personae.data.genres.genre_matrix`.
    """
    shares = genre_shares(genres)
    p = np.asarray(history @ shares, dtype=np.float64)  # (users, n_genres)
    q = shares[lists].sum(axis=1).astype(np.float64)  # (users, n_genres)
    p_mass, q_mass = p.sum(axis=1, keepdims=True), q.sum(axis=1, keepdims=True)
    p, q = p / np.maximum(p_mass, 1e-12), q / np.maximum(q_mass, 1e-12)
    middle = (p + q) / 2

    def kl_to_middle(x: np.ndarray) -> np.ndarray:
        ratio = np.where(x > 0, x / np.maximum(middle, 1e-300), 1.0)
        return (x * np.log2(ratio)).sum(axis=1)

    divergence = np.clip(0.5 * kl_to_middle(p) + 0.5 * kl_to_middle(q), 0.0, 1.0)
    defined = (p_mass[:, 0] > 0) & (q_mass[:, 0] > 0)
    return np.where(defined, np.sqrt(divergence), np.nan)


def persona_share(winners: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """(users,) share of each user's kept personas that win at least one item of the user's list.

    Args:
        winners: (users, k) persona index that explains each list item (argmax of the persona attention).
        kept: (users, K) bool, the personas each user has (pruned ones False); every user keeps at least one.
    A list whose items all go to one persona scores 1/K; one that reaches every persona scores 1.
    """
    present = np.zeros(kept.shape, dtype=bool)
    present[np.arange(len(winners))[:, None], winners] = True
    return (present & kept).sum(axis=1) / np.maximum(kept.sum(axis=1), 1)
