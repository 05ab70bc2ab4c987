"""Every model by its command-line name. All share the :class:`~personae.models.base.Recommender` interface."""

from __future__ import annotations

from personae.models.ampcf import AMPCF
from personae.models.base import Explanation, PersonaMix, Recommendations, Recommender
from personae.models.bpr import BPR
from personae.models.catalogue import model_class
from personae.models.din import DIN
from personae.models.ease import EASE
from personae.models.ease_personas import EASEPersonas
from personae.models.itemknn import ItemKNN
from personae.models.mf import MF
from personae.models.mind import MIND
from personae.models.pop import Popularity
from personae.models.tifu_knn import TIFUKNN
from personae.models.top_frequency import TopFrequency

MODELS: dict[str, type[Recommender]] = {cls.name: cls for cls in (Popularity, ItemKNN, EASE, BPR, MF, DIN, MIND, AMPCF,
                                                              EASEPersonas, TopFrequency, TIFUKNN)}


__all__ = ["MODELS", "Explanation", "PersonaMix", "Recommendations", "Recommender", "model_class"]
