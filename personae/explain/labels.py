"""Persona labels by *lift*: the genres most over-represented among a persona's items.

Raw genre frequency labels nearly every persona "Drama / Comedy", because those genres are the most common in
the catalogue. Lift compares the share of a persona's items that carry a genre with that genre's share of a
reference (the catalogue by default, or the user's whole history):

    lift(g) = smoothed_share(g) / reference_share(g),
    smoothed_share(g) = (count(g) + prior * reference_share(g)) / (n + prior)

The prior (2 pseudo-items drawn from the reference) keeps one odd item from labelling a small persona. A genre
must also cover at least ``min_share`` of the persona's items to be named, so labels describe the persona, not
a single film.
"""

from __future__ import annotations

import numpy as np

from personae.data.interactions import Interactions

NO_ITEMS = "(no items yet)"
NO_GENRES = "all items"


def genre_lift(data: Interactions, item_idx: np.ndarray, reference_idx: np.ndarray | None = None,
               prior: float = 2.0) -> dict[str, tuple[float, int]]:
    """Genre -> (lift, count) for the items ``item_idx`` against the catalogue or ``reference_idx``."""
    onehot = data.genre_onehot
    if onehot is None or len(item_idx) == 0:
        return {}
    matrix, names = onehot
    reference = matrix if reference_idx is None else matrix[np.asarray(reference_idx)]
    reference_share = np.maximum(reference.mean(axis=0), 1e-6)  # (n_genres,)
    counts = matrix[np.asarray(item_idx)].sum(axis=0)  # (n_genres,)
    share = (counts + prior * reference_share) / (len(item_idx) + prior)
    lift = share / reference_share
    return {names[g]: (float(lift[g]), int(counts[g])) for g in np.flatnonzero(counts)}


def lift_label(data: Interactions, item_idx: np.ndarray, reference_idx: np.ndarray | None = None,
               top: int = 3, min_share: float = 0.15) -> str:
    """Up to ``top`` genres by lift among those covering ``min_share`` of the items, e.g. ``"Horror / Sci-Fi"``.

    When no genre is over-represented (lift <= 1), the best-lift genres are named anyway so the label is never
    empty for items with genres.
    """
    if len(item_idx) == 0:
        return NO_ITEMS
    lifts = genre_lift(data, item_idx, reference_idx)
    if not lifts:
        return NO_GENRES
    needed = max(1.0, min_share * len(item_idx))
    ranked = sorted(lifts.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    chosen = [g for g, (lift, count) in ranked if count >= needed and lift > 1.0][:top]
    return " / ".join(chosen or [g for g, _ in ranked[:top]])
