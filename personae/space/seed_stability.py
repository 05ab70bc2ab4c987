"""Are personas structure or noise? Matching across runs, partition agreement and cluster separation.

Persona order is arbitrary and each training run has its own rotation of the embedding space, so personas of
two runs are compared after an orthogonal Procrustes alignment (fitted on the shared item vectors) and an
optimal one-to-one matching (Hungarian on cosine). The adjusted Rand index compares item-to-persona
assignments and needs no alignment at all.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from personae.space.geometry import unit


def procrustes_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal (d, d) matrix R minimising ||source @ R - target|| for paired rows (n, d)."""
    u, _, vt = np.linalg.svd(np.asarray(source, float).T @ np.asarray(target, float))
    return u @ vt


def match_personas(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """Best one-to-one matching of personas a (K, d) to b (K', d) by cosine.

    Returns (order, mean cosine): ``b[order[k]]`` is matched to ``a[k]`` for the first min(K, K') personas.
    """
    similarity = unit(np.asarray(a, float)) @ unit(np.asarray(b, float)).T  # (K, K')
    rows, cols = linear_sum_assignment(-similarity)
    return cols[np.argsort(rows)], float(similarity[rows, cols].mean())


def adjusted_rand_index(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    """Adjusted Rand index of two partitions of the same n elements (1 = identical, ~0 = chance)."""
    labels_a, labels_b = np.asarray(labels_a), np.asarray(labels_b)
    if labels_a.shape != labels_b.shape:
        raise ValueError(f"partitions differ in size: {labels_a.shape} vs {labels_b.shape}")
    n = len(labels_a)
    if n < 2:
        return 1.0
    _, a = np.unique(labels_a, return_inverse=True)
    _, b = np.unique(labels_b, return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1), dtype=np.float64)
    np.add.at(table, (a, b), 1.0)

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) / 2).sum())

    index, rows, cols = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = rows * cols / (n * (n - 1) / 2)
    maximum = (rows + cols) / 2
    if maximum == expected:  # both partitions trivial (one cluster, or all singletons): identical by definition
        return 1.0
    return (index - expected) / (maximum - expected)


def silhouette(vectors: np.ndarray, labels: np.ndarray, metric: str = "cosine") -> float:
    """Mean silhouette of (n, d) vectors grouped by ``labels`` (1 = tight separate groups, ~0 = no structure).

    Uses cosine distance by default. Points in singleton groups score 0 (the usual convention). O(n^2) memory:
    pass a sample of a few thousand vectors at most.
    """
    vectors, labels = np.asarray(vectors, float), np.asarray(labels)
    if metric == "cosine":
        x = unit(vectors)
        distance = 1.0 - x @ x.T
    elif metric == "euclidean":
        sq = (vectors ** 2).sum(axis=1)
        distance = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * vectors @ vectors.T, 0.0))
    else:
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    groups, group_of = np.unique(labels, return_inverse=True)
    if len(groups) < 2:
        raise ValueError("silhouette needs at least two groups")
    onehot = np.eye(len(groups))[group_of]  # (n, G)
    sizes = onehot.sum(axis=0)  # (G,)
    mean_to_group = distance @ onehot  # (n, G) summed distances
    own_size = sizes[group_of]
    a = mean_to_group[np.arange(len(x := vectors)), group_of] / np.maximum(own_size - 1, 1)
    others = mean_to_group / sizes
    others[np.arange(len(x)), group_of] = np.inf
    b = others.min(axis=1)
    score = np.where(own_size > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(score.mean())
