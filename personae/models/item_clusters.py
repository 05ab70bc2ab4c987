"""Personas made of a user's own items: cluster the user's item vectors (Ward, as PinnerSage does) into up to K.

Used by ``ease-personas`` (EASE scores split by cluster) and by ``ampcf --param persona_source=clusters``
(each persona is the mean of its cluster's item vectors). Item vectors come from a truncated SVD of the
training matrix, so clusters group items that the same users buy, whatever model then scores them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse.linalg import svds

from personae.data.interactions import Interactions

EMBEDDING_DIM = 32  # SVD factors behind the clustering: enough to separate tastes, cheap on 25,000 items


def item_embedding(train: Interactions, dim: int = EMBEDDING_DIM, seed: int = 0) -> np.ndarray:
    """(n_items, dim) unit-length item vectors from a truncated SVD of the column-normalised user-item matrix.

    The start vector is drawn from ``seed``, so the same data and seed give the same vectors.
    """
    matrix = train.csr.astype(np.float64)
    column_norm = np.sqrt(np.asarray(matrix.sum(axis=0)).ravel())
    normalised = matrix @ sp.diags(1.0 / np.maximum(column_norm, 1.0))
    rank = max(1, min(dim, min(matrix.shape) - 1))
    start = np.random.default_rng(seed).standard_normal(min(matrix.shape))
    _, values, item_factors = svds(normalised, k=rank, v0=start)
    vectors = (item_factors.T * np.sqrt(values)[None, :])  # (n_items, rank)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def with_genres(train: Interactions, vectors: np.ndarray, genre_weight: float) -> np.ndarray:
    """(n_items, dim + n_genres) the item vectors with each item's genres appended (a unit vector over its
    genres, times ``genre_weight``), so clusters also follow what items are; unchanged at weight 0 or without
    genres. Only the clustering sees the genres: persona vectors stay behavioural."""
    if genre_weight <= 0 or train.genre_onehot is None:
        return vectors
    onehot = train.genre_onehot[0]
    unit = onehot / np.maximum(np.linalg.norm(onehot, axis=1, keepdims=True), 1e-12)
    return np.hstack([vectors, genre_weight * unit]).astype(np.float32)


def cluster_items(vectors: np.ndarray, max_clusters: int) -> np.ndarray:
    """(H, dim) one user's item vectors -> (H,) cluster of each item in 0..K'-1, K' <= ``max_clusters``.

    Ward linkage on unit vectors (Euclidean distance between unit vectors orders pairs as cosine does), cut
    into at most ``max_clusters`` groups; clusters are numbered by size, largest first (ties: first item).
    A user with fewer items than ``max_clusters`` gets one cluster per item.
    """
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n <= max_clusters or max_clusters == 1:
        raw = np.arange(n) if max_clusters > 1 else np.zeros(n, dtype=np.int64)
    else:
        raw = fcluster(linkage(np.asarray(vectors, dtype=np.float64), method="ward"), max_clusters,
                       criterion="maxclust") - 1
    names, first, counts = np.unique(raw, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))  # largest first, ties by first appearance
    renumber = np.empty(len(names), dtype=np.int64)
    renumber[order] = np.arange(len(names))
    return renumber[np.searchsorted(names, raw)]


def user_item_clusters(train: Interactions, vectors: np.ndarray, max_clusters: int) -> np.ndarray:
    """(nnz of ``train.csr``,) cluster of each of the user's distinct training items, aligned with the CSR
    entries (row by row, items in index order)."""
    csr = train.csr
    clusters = np.zeros(csr.nnz, dtype=np.int64)
    for user in range(csr.shape[0]):
        start, end = csr.indptr[user], csr.indptr[user + 1]
        clusters[start:end] = cluster_items(vectors[csr.indices[start:end]], max_clusters)
    return clusters
