"""Item genres as a 0/1 matrix: the one builder, used by the data and by the diversity metrics."""

from __future__ import annotations

import numpy as np


def genre_matrix(genres: list[frozenset[str]]) -> np.ndarray:
    """(n_items, n_genres) 0/1 matrix from per-item genre sets."""
    vocabulary = sorted(set().union(*genres)) if genres else []
    column = {g: j for j, g in enumerate(vocabulary)}
    matrix = np.zeros((len(genres), max(len(vocabulary), 1)), dtype=np.float32)
    for i, item_genres in enumerate(genres):
        for genre in item_genres:
            matrix[i, column[genre]] = 1.0
    return matrix
