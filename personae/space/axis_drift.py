"""Drift between two snapshots of one persona mix: how far each persona moved, and how the weights shifted."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from personae.space.geometry import unit


@dataclass(frozen=True)
class MixDrift:
    """Per persona: distance moved, cosine to its old self, move along an axis; and the weight shift."""

    distance: np.ndarray  # (K,) Euclidean norm of each persona's move
    cosine: np.ndarray  # (K,) cosine between old and new vector
    along_axis: np.ndarray | None  # (K,) signed move along the axis (positive: toward the default)
    weight_change: np.ndarray  # (K,) new minus old mixture weight
    weight_shift: float  # total variation distance between the two weight vectors, in [0, 1]

    def to_dict(self) -> dict:
        return {"distance": self.distance.tolist(), "cosine": self.cosine.tolist(),
                "along_axis": None if self.along_axis is None else self.along_axis.tolist(),
                "weight_change": self.weight_change.tolist(), "weight_shift": self.weight_shift}


def mixture_drift(old_vectors: np.ndarray, new_vectors: np.ndarray, old_weights: np.ndarray,
                  new_weights: np.ndarray, axis: np.ndarray | None = None) -> MixDrift:
    """Compare two snapshots (K, d) + (K,) of the same user's personas (persona k matched to persona k)."""
    old_vectors, new_vectors = np.asarray(old_vectors, float), np.asarray(new_vectors, float)
    if old_vectors.shape != new_vectors.shape:
        raise ValueError(f"snapshots differ in shape: {old_vectors.shape} vs {new_vectors.shape}")
    move = new_vectors - old_vectors
    cos = np.sum(unit(old_vectors) * unit(new_vectors), axis=-1)
    along = None if axis is None else move @ unit(np.asarray(axis, float))
    change = np.asarray(new_weights, float) - np.asarray(old_weights, float)
    return MixDrift(np.linalg.norm(move, axis=-1), cos, along, change, float(0.5 * np.abs(change).sum()))
