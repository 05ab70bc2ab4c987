"""What each user brings to a ranking, for stratified comparisons (where does one model beat another?).

The descriptors map training interactions to one number per user, aligned with the user index;
:func:`compare_by_stratum` compares two systems per stratum with Holm-adjusted p-values over the table.
"""

from __future__ import annotations

import numpy as np

from personae.data.interactions import Interactions
from personae.stats import compare_paired, holm


def history_length(train: Interactions) -> np.ndarray:
    """(n_users,) distinct items each user has in training."""
    return np.diff(train.csr.indptr)


def genre_entropy(train: Interactions) -> np.ndarray:
    """(n_users,) Shannon entropy (bits) of the genre distribution of each user's training items.

    Each item counts once per genre it carries; users or data without genres get 0. A user spread over many
    genres is where several personas could pay; a one-genre user needs one vector.
    """
    onehot = train.genre_onehot
    if onehot is None:
        return np.zeros(train.n_users)
    counts = (train.csr @ onehot[0]).astype(np.float64)  # (n_users, n_genres) items per genre
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return -(share * np.log2(np.where(share > 0, share, 1))).sum(axis=1)


def terciles(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-unit tercile 0..2, the two cuts) of ``values``."""
    cuts = np.quantile(values, [1 / 3, 2 / 3])
    return np.digitize(values, cuts), cuts


def compare_by_stratum(a: np.ndarray, b: np.ndarray, strata: dict[str, tuple[np.ndarray, list[str]]],
                       unit: str = "users") -> dict[str, list[dict]]:
    """a - b per stratum of units, with Holm-adjusted p-values over every row of the table.

    a, b: (n_seeds, n_units) per-unit metric of two systems (seed s of a paired with seed s of b), or (n_units,).
    strata: name -> (per-unit stratum index, one label per index). Each row holds the stratum's label, its
    unit count, the Interval of a - b over its units (and seeds), and ``p_holm``: the p-value adjusted over all
    rows of all stratifications, one family, so that 13 rows at 5% each do not yield "findings" by chance."""
    table: dict[str, list[dict]] = {}
    for name, (stratum, labels) in strata.items():
        rows = []
        for index, label in enumerate(labels):
            members = stratum == index
            if members.sum() >= 2:
                rows.append({"stratum": label, "units": int(members.sum()),
                             "interval": compare_paired(a[..., members], b[..., members], unit=unit)})
        table[name] = rows
    cells = [row for rows in table.values() for row in rows]
    for row, adjusted in zip(cells, holm([row["interval"].p_value for row in cells])):
        row["p_holm"] = float(adjusted)
    return table
