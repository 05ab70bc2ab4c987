"""PCA, the dominant axis and positions along it, for any population of vectors.

The axis runs from the population toward a *default persona*: for a language model, the model's own voice with
no role prompt; for a recommender, a named reference vector or, by default, the population mean's direction
(PC1 when no default is given). A positive position means "more like the default".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def unit(v: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero)."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm > 0, norm, 1.0)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine between two vectors (0 when either is zero)."""
    return float(unit(a) @ unit(b))


@dataclass(frozen=True)
class PCA:
    """Principal components of a population: ``components`` (k, d) unit rows, best first."""

    components: np.ndarray  # (k, d)
    explained: np.ndarray  # (k,) share of the total variance each component explains
    mean: np.ndarray  # (d,)

    def project(self, x: np.ndarray, n: int = 2) -> np.ndarray:
        """(m, d) -> (m, n) coordinates on the first ``n`` components."""
        return (x - self.mean) @ self.components[:n].T


def fit_pca(x: np.ndarray) -> PCA:
    """PCA of (n, d) vectors by SVD; k = min(n - 1, d) components (at least 1)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"PCA needs a non-empty (n, d) array, got shape {x.shape}")
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    variance = s ** 2
    total = variance.sum()
    ratio = variance / total if total > 0 else np.zeros_like(variance)
    k = max(1, min(len(x) - 1, x.shape[1]))
    return PCA(vt[:k], ratio[:k], mean)


def default_persona(vectors: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """The default persona: the named ``reference`` when given, else the population mean. (d,)"""
    return np.asarray(reference, dtype=np.float64) if reference is not None else np.asarray(vectors).mean(axis=0)


def dominant_axis(vectors: np.ndarray, default: np.ndarray | None = None) -> np.ndarray:
    """The dominant axis as a unit (d,) vector.

    With a ``default`` (e.g. the model's no-role activation) the axis is default minus the population mean, as
    in arXiv:2601.10387. Without one it is PC1, oriented so that the mean vector projects positively (the
    sign of a principal component is otherwise arbitrary).
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    if default is not None:
        return unit(np.asarray(default, dtype=np.float64) - vectors.mean(axis=0))
    pc1 = fit_pca(vectors).components[0]
    return -pc1 if vectors.mean(axis=0) @ pc1 < 0 else pc1


def positions(vectors: np.ndarray, axis: np.ndarray, origin: np.ndarray | None = None) -> np.ndarray:
    """(n, d) vectors -> (n,) signed distance along the unit ``axis`` from ``origin`` (default: their mean)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    origin = vectors.mean(axis=0) if origin is None else np.asarray(origin, dtype=np.float64)
    return (vectors - origin) @ unit(np.asarray(axis, dtype=np.float64))


def axis_summary(vectors: np.ndarray, default: np.ndarray) -> dict:
    """PCA and axis statistics of (n, d) vectors against a (d,) default persona.

    PC1 is oriented so the default scores positively, so ``axis_pc1_cosine`` is the cosine with the oriented
    PC1 (equal to |cos| of the raw one). ``default_pc1_position`` is in population standard deviations.
    """
    pca = fit_pca(vectors)
    pc1 = pca.components[0]
    if (default - pca.mean) @ pc1 < 0:
        pc1 = -pc1
    axis = np.asarray(default, dtype=np.float64) - np.asarray(vectors, dtype=np.float64).mean(axis=0)
    scores = (vectors - pca.mean) @ pc1  # (n,)
    default_score = float((default - pca.mean) @ pc1)
    sd = float(scores.std()) or 1.0
    return {
        "pc1_explained": float(pca.explained[0]),
        "explained_variance_ratio": pca.explained.tolist(),
        "axis_pc1_cosine": cosine(axis, pc1),
        "default_pc1_position": default_score / sd,
        "default_pc1_score": default_score,
        "default_pc1_rank": float((scores < default_score).mean()),  # share of the population below the default
        "role_pc1_scores": scores.tolist(),
        "pc1": pc1,
    }
