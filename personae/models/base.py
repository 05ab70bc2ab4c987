"""The Recommender interface every model shares (its answers are the types of :mod:`personae.results`).

A model is constructed with its options (a typed dataclass), learns in ``fit`` and keeps learned state in
attributes ending with ``_`` (scikit-learn style). Single-vector models answer ``explain`` and
``user_personas`` with one persona, so every tool works on every model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from personae.data.interactions import Interactions
from personae.evaluate.metrics import top_k_unseen
from personae.models.catalogue import register
from personae.models.scoring import TopK
from personae.results import Explanation, PersonaMix, Recommendations

if TYPE_CHECKING:
    from personae.models.network import TorchNetwork


@dataclass
class ModelOptions:
    """Base of every model's options. Subclasses add typed fields with defaults and ``help`` metadata."""

    seed: int = field(default=0, metadata={"help": "random seed for everything the model draws"})


class Recommender(ABC):
    """Shared contract: fit, score, recommend, explain, user_personas, save/load."""

    name: ClassVar[str]
    Options: ClassVar[type[ModelOptions]] = ModelOptions
    summary: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:  # a concrete model, not an intermediate base such as TorchRecommender
            register(cls)

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

    @property
    def network(self) -> TorchNetwork | None:
        """The torch network behind the scores, under its written contract (personae.models.network); None for
        models without one. Test ``isinstance(model.network, PersonaNetwork)`` for persona vectors."""
        return None

    def rank(self, user_idx: np.ndarray, k: int, exclude: sp.spmatrix | None = None,
             attribution: bool = False) -> TopK:
        """(B,) user indices -> each user's top-k item indices and scores over the whole catalogue, best first
        (ties to the lower index); ``exclude`` (B, n_items) sparse items are never listed ahead of others.

        Multi-persona models override this with the batched kernel (personae.models.scoring); a single-vector
        model has one persona, so ``attribution`` is persona 0 with weight 1.
        """
        found = TopK(*top_k_unseen(self.score(np.asarray(user_idx, dtype=np.int64)), k, exclude))
        if attribution:
            found.persona, found.weight = np.zeros(found.items.shape, np.int64), np.ones(found.items.shape, np.float32)
        return found

    def recommend(self, user_ids: list | np.ndarray, k: int = 10, exclude_seen: bool = True) -> Recommendations:
        """Top-k items for each external user id, excluding the user's training items by default."""
        data = self.fitted_data
        user_idx = np.asarray([data.user_index(u) for u in user_ids], dtype=np.int64)
        found = self.rank(user_idx, k, data.csr[user_idx] if exclude_seen else None)
        return Recommendations(
            user_ids=[str(data.user_ids[u]) for u in user_idx],
            item_ids=[[str(data.item_ids[i]) for i in row] for row in found.items],
            scores=[[float(s) for s in row] for row in found.scores],
            titles=[data.item_titles(row) for row in found.items],
        )

    def user_history(self, user_id: object) -> np.ndarray:
        """Item indices of the user's training events, oldest first (by timestamp, ties by file row)."""
        data = self.fitted_data
        return data.user_history(data.user_index(user_id))

    def explain(self, user_id: object, item_ids: list | np.ndarray) -> list[Explanation]:
        """Single-vector default: one persona (weight 1), labelled by lift over the user's whole history,
        supported by the user's three most recent items (the usual "because you recently watched")."""
        from personae.explain.attribution import single_persona_explanations

        return single_persona_explanations(self.fitted_data, user_id, self.user_history(user_id), item_ids)

    def user_personas(self, user_id: object) -> PersonaMix:
        """Single-vector default: one persona; its vector is empty for models without user vectors."""
        from personae.explain.attribution import persona_mix

        history = self.user_history(user_id)
        return persona_mix(self.fitted_data, user_id, np.zeros((1, 0), dtype=np.float32),
                           np.ones(1, dtype=np.float32), history, np.zeros(len(history), dtype=np.int64),
                           support_score=np.arange(len(history), dtype=np.float64)[:, None])

    def save(self, path: str) -> None:
        """Write the model to directory ``path`` (safetensors + config.json + id maps), atomically."""
        from personae.models.persistence import save_model

        save_model(self, path, extra=getattr(self, "provenance_", None))

    @staticmethod
    def load(path: str) -> Recommender:
        """Load any saved model; the class is read from its config.json."""
        from personae.models.persistence import load_model

        return load_model(path)
