"""One persona space for users' personas and a language model's role vectors.

The same geometry serves both worlds: a population of vectors (persona vectors of many users, or role vectors of
a language model), its principal components, a dominant axis measured from a default persona, each vector's
position along that axis, drift between two snapshots, capping to bounds learned from the population, and the
stability of personas across training runs. ``personae.llm`` and ``personae.serve`` use this module; there is
no second copy.
"""

from personae.space.axis_capping import CapBounds, clip_projection, clip_step, fit_cap_bounds
from personae.space.axis_drift import MixDrift, mixture_drift
from personae.space.geometry import (
    PCA,
    axis_summary,
    cosine,
    default_persona,
    dominant_axis,
    fit_pca,
    positions,
    unit,
)
from personae.space.seed_stability import (
    adjusted_rand_index,
    match_personas,
    procrustes_rotation,
    silhouette,
)
from personae.space.structure import persona_silhouette, planted_recovery, seed_stability

__all__ = [
    "PCA", "CapBounds", "MixDrift", "adjusted_rand_index", "axis_summary", "clip_projection", "clip_step",
    "cosine", "default_persona", "dominant_axis", "fit_cap_bounds", "fit_pca", "match_personas",
    "mixture_drift", "persona_silhouette", "planted_recovery", "positions", "procrustes_rotation",
    "seed_stability", "silhouette", "unit",
]
