"""Faithfulness of ``ease-personas`` explanations, by the deletion protocol of :mod:`personae.explain.faithfulness`.

A feature is one of the user's personas (a cluster of the user's items); removing it drops its part of the
score, so the catalogue is re-scored as ``(1 - focus) * sum of the kept parts + focus * max of the kept parts``.
The explanation is the persona with the largest part for the item; the control, a random other persona.

Because the score *is* the sum of the parts (focus 0), removing the largest part lowers the item's own score
the most by construction: the figure is largely self-agreement of an exact decomposition, not evidence that the
personas mean something. Only the rank of the item among the others (whose scores also move) is left to chance.
"""

from __future__ import annotations

import numpy as np

from personae.explain.faithfulness import Faithfulness, measure


class PersonaPartScorer:
    """One user of an ``ease-personas`` model: features are the personas that own history items."""

    def __init__(self, model, user: int) -> None:
        self.parts = model.parts(np.array([user]))[0]  # (K, n_items)
        self.focus = float(model.focus_)
        _, owner = model.history_owner(user)
        self.features = np.unique(owner)

    def scores(self, removals: list[np.ndarray]) -> np.ndarray:
        """(R, n_items) catalogue scores, one row per set of removed personas."""
        rows = []
        for removed in removals:
            kept = self.parts[np.setdiff1d(self.features, removed)]  # (K', n_items)
            if len(kept) == 0:
                rows.append(np.zeros(self.parts.shape[1]))
                continue
            rows.append((1 - self.focus) * kept.sum(axis=0) + self.focus * kept.max(axis=0))
        return np.asarray(rows)

    def importance(self, item_idx: np.ndarray) -> np.ndarray:
        """(C, F) each persona's part of each candidate's score (the explanation ranks by it)."""
        return self.parts[self.features][:, item_idx].T


def part_faithfulness(model, users: np.ndarray, k: int = 10, seed: int = 0) -> Faithfulness:
    """``ease-personas``: remove the persona with the largest part vs a random other persona."""
    return measure(model, lambda u: PersonaPartScorer(model, u), users, k, n_explain=1, steps=3, seed=seed,
                   meta={"explanation": "persona with the largest score part", "control": "random other persona"})
