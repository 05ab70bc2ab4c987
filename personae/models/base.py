"""The Recommender interface every model shares, and the result types it returns.

A model is constructed with its options (a typed dataclass), learns in ``fit`` and keeps learned state in
attributes ending with ``_`` (scikit-learn style). Single-vector models answer ``explain`` and
``user_personas`` with one persona, so every tool works on every model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from personae.data.interactions import Interactions
from personae.evaluate.metrics import top_k


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
    label: str  # readable label of that persona, e.g. its top genres
    supporting_items: list[str]  # the user's own items behind the persona, external ids


@dataclass
class PersonaMix:
    """A user's personas: K vectors, their prior weights and readable labels."""

    user_id: str
    vectors: np.ndarray  # (K, dim)
    weights: np.ndarray  # (K,) prior weight of each persona, sums to 1
    labels: list[str]


@dataclass
class ModelOptions:
    """Base of every model's options. Subclasses add typed fields with defaults and ``help`` metadata."""

    seed: int = field(default=0, metadata={"help": "random seed for everything the model draws"})


class Recommender(ABC):
    """Shared contract: fit, score, recommend, explain, user_personas, save/load."""

    name: ClassVar[str]
    Options: ClassVar[type[ModelOptions]] = ModelOptions
    summary: ClassVar[str] = ""

    def __init__(self, options: ModelOptions | None = None, **params: Any) -> None:
        self.options = options if options is not None else self.Options(**params)
        self.train_: Interactions | None = None

    # --- learning and scoring -------------------------------------------------------------------
    @abstractmethod
    def fit(self, train: Interactions, valid: Interactions | None = None) -> Recommender:
        """Learn from ``train``; ``valid`` (if given) is only for early stopping or tuning."""

    @abstractmethod
    def score(self, user_idx: np.ndarray, item_idx: np.ndarray | None = None) -> np.ndarray:
        """Scores (len(user_idx), n_items), or (len(user_idx), len(item_idx)) for given items."""

    @abstractmethod
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Learned state as named arrays, for safetensors."""

    @abstractmethod
    def load_state_arrays(self, arrays: dict[str, np.ndarray], train: Interactions) -> None:
        """Restore learned state saved by :meth:`state_arrays` for a model of the same options."""

    def n_parameters(self) -> int:
        """Number of learned values (for reports)."""
        return int(sum(np.asarray(a).size for a in self.state_arrays().values()))

    def bytes_per_user(self) -> float:
        """Memory of the state kept for each user; models that score from item-side state alone keep none."""
        return 0.0

    def get_params(self) -> dict[str, Any]:
        return asdict(self.options)

    @classmethod
    def option_fields(cls) -> list[tuple[str, Any, str]]:
        """(name, default, help) of every option, for ``personae models`` and ``--param``."""
        return [(f.name, f.default, f.metadata.get("help", "")) for f in fields(cls.Options)]

    # --- using a fitted model -------------------------------------------------------------------
    @property
    def fitted_data(self) -> Interactions:
        if self.train_ is None:
            raise RuntimeError(f"{self.name}: call fit() before using the model")
        return self.train_

    def recommend(self, user_ids: list | np.ndarray, k: int = 10, exclude_seen: bool = True) -> Recommendations:
        """Top-k items for each external user id, excluding the user's training items by default."""
        data = self.fitted_data
        user_idx = np.asarray([data.user_index(u) for u in user_ids], dtype=np.int64)
        scores = np.array(self.score(user_idx), dtype=np.float32, copy=True)
        if exclude_seen:
            rows, cols = data.csr[user_idx].nonzero()
            scores[rows, cols] = -np.inf
        ranked = top_k(scores, k)
        top_scores = np.take_along_axis(scores, ranked, axis=1)
        return Recommendations(
            user_ids=[str(data.user_ids[u]) for u in user_idx],
            item_ids=[[str(data.item_ids[i]) for i in row] for row in ranked],
            scores=[[float(s) for s in row] for row in top_scores],
            titles=[data.item_titles(row) for row in ranked],
        )

    def user_history(self, user_id: object) -> np.ndarray:
        """Item indices of the user's training events, oldest first."""
        data = self.fitted_data
        return data.items[data.users == data.user_index(user_id)]

    def explain(self, user_id: object, item_ids: list | np.ndarray) -> list[Explanation]:
        """Single-vector default: one persona (weight 1) labelled by the user's most frequent genres."""
        data = self.fitted_data
        history = self.user_history(user_id)
        label = genre_label(data, history)
        item_idx = data.item_index(item_ids)
        support = [str(data.item_ids[i]) for i in history[-3:][::-1]]
        return [Explanation(str(user_id), str(data.item_ids[i]), 0, [1.0], label, support) for i in item_idx]

    def user_personas(self, user_id: object) -> PersonaMix:
        """Single-vector default: one persona; its vector is empty for models without user vectors."""
        data = self.fitted_data
        label = genre_label(data, self.user_history(user_id))
        return PersonaMix(str(user_id), np.zeros((1, 0), dtype=np.float32), np.ones(1, dtype=np.float32), [label])

    def save(self, path: str) -> None:
        """Write the model to directory ``path`` (safetensors + config.json + id maps), atomically."""
        from personae.models.persistence import save_model

        save_model(self, path, extra=getattr(self, "provenance_", None))

    @staticmethod
    def load(path: str) -> Recommender:
        """Load any saved model; the class is read from its config.json."""
        from personae.models.persistence import load_model

        return load_model(path)


def genre_label(data: Interactions, item_idx: np.ndarray, top: int = 3) -> str:
    """The most frequent genres among some items, e.g. ``"Drama / Comedy / Romance"``."""
    genres = data.item_genres()
    if genres is None or len(item_idx) == 0:
        return "all items"
    counts = Counter(g for i in item_idx for g in genres[i])
    return " / ".join(g for g, _ in counts.most_common(top)) or "all items"
