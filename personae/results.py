"""What a recommender answers: top-k lists, explanations and persona mixes.

These types sit at the package root, below every room: models build them, explain/ and report/ read them, and
none of those need to import another to share them. ``personae.models`` re-exports them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Recommendations:
    """Top-k lists for several users, in external ids."""

    user_ids: list[str]
    item_ids: list[list[str]]
    scores: list[list[float]]
    titles: list[list[str]]

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {"user": u, "items": [{"item": i, "title": t, "score": s} for i, t, s in zip(items, titles, scores)]}
            for u, items, titles, scores in zip(self.user_ids, self.item_ids, self.titles, self.scores)
        ]


@dataclass
class Explanation:
    """Why an item was scored as it was for a user: the persona it serves and the user's items behind it."""

    user_id: str
    item_id: str
    persona: int  # index of the persona that explains the item
    persona_weights: list[float]  # attention over the user's personas for this item (sums to 1)
    label: str  # readable label of that persona: its genres by lift (personae.explain.labels)
    supporting_items: list[str]  # the user's own items behind the persona, most supporting first
    supporting_titles: list[str] = field(default_factory=list)  # their titles where known, else their ids

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PersonaMix:
    """A user's personas: K vectors, their prior weights, readable labels, and the history behind each."""

    user_id: str
    vectors: np.ndarray  # (K, dim)
    weights: np.ndarray  # (K,) prior weight of each persona, sums to 1
    labels: list[str]
    persona_ids: list[int] = field(default_factory=list)  # model index of each persona (pruned ones left out)
    supporting_items: list[list[str]] = field(default_factory=list)  # per persona: up to 3 most typical items
    supporting_titles: list[list[str]] = field(default_factory=list)
    history: list[str] = field(default_factory=list)  # the user's training items, oldest first
    history_titles: list[str] = field(default_factory=list)
    history_persona: list[int] = field(default_factory=list)  # persona id each history item is assigned to

    def __post_init__(self) -> None:
        if not self.persona_ids:
            self.persona_ids = list(range(len(self.weights)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: personas (id, weight, label, supporting items) and every history item with its persona."""
        personas = []
        for k, persona in enumerate(self.persona_ids):
            support = self.supporting_items[k] if k < len(self.supporting_items) else []
            titles = self.supporting_titles[k] if k < len(self.supporting_titles) else support
            personas.append({"persona": persona, "weight": float(self.weights[k]), "label": self.labels[k],
                             "supporting_items": [{"item": i, "title": t} for i, t in zip(support, titles)]})
        history = [{"item": i, "title": t, "persona": p}
                   for i, t, p in zip(self.history, self.history_titles or self.history, self.history_persona)]
        return {"user": self.user_id, "personas": personas, "history": history}
