"""Every model by its command-line name. All share the :class:`~personae.models.base.Recommender` interface."""

from __future__ import annotations

from personae.errors import DataError
from personae.models.ampcf import AMPCF
from personae.models.base import Explanation, PersonaMix, Recommendations, Recommender
from personae.models.bpr import BPR
from personae.models.din import DIN
from personae.models.ease import EASE
from personae.models.itemknn import ItemKNN
from personae.models.mf import MF
from personae.models.mind import MIND
from personae.models.pop import Popularity

MODELS: dict[str, type[Recommender]] = {cls.name: cls for cls in (Popularity, ItemKNN, EASE, BPR, MF, DIN, MIND, AMPCF)}


def model_class(name: str) -> type[Recommender]:
    try:
        return MODELS[name]
    except KeyError:
        raise DataError(f"unknown model '{name}' (known: {', '.join(MODELS)})") from None


__all__ = ["MODELS", "Explanation", "PersonaMix", "Recommendations", "Recommender", "model_class"]
