"""Can the axis claims fail? Nulls and a resampled interval over roles for "the default-persona axis is PC1 of persona space".

- |cos(axis, PC1)| against two nulls: random unit directions in d dimensions (what any unrelated direction
  gives), and permuted role labels (role vectors recomputed from the same replies dealt to roles at random: the
  PC1 that sampling noise alone produces; the axis is recomputed from those vectors too).
- The default's position on PC1 (z and rank among roles), with a resampled interval over roles from
  personae.stats (at least 20 roles; with fewer there is no interval, and the result says so).
Geometry comes from personae.space; this module only draws the nulls.
"""

from __future__ import annotations

import numpy as np

from personae.llm.nulls import null_summary
from personae.space import axis_summary, fit_pca, unit


def _abs_cos(role_vectors: np.ndarray, default: np.ndarray) -> float:
    return abs(axis_summary(role_vectors, default)["axis_pc1_cosine"])


def group_vectors(samples: np.ndarray, owner: np.ndarray, n_groups: int) -> np.ndarray:
    """(n, d) samples, (n,) group ids -> (n_groups, d) group means."""
    return np.stack([samples[owner == g].mean(0) for g in range(n_groups)])


def role_interval(statistic, n_roles: int) -> dict | None:
    """personae.stats' interval over resampled roles, or None below the roles a bootstrap needs."""
    from personae.stats import bootstrap_interval
    from personae.stats.resampling import MIN_BOOTSTRAP_UNITS

    if n_roles < MIN_BOOTSTRAP_UNITS:
        return None
    return bootstrap_interval(statistic, n_roles, unit="roles").to_dict()



def axis_tests(role_vectors: np.ndarray, default: np.ndarray, samples: np.ndarray | None = None,
               owner: np.ndarray | None = None, *, n_null: int = 500, seed: int = 0) -> dict:
    """role_vectors (R, d), default (d,); samples (n, d) with owner (n,) enable the permuted-label null.
    Returns the observed statistics, their nulls, bootstrap CIs over roles and plain-reading flags."""
    role_vectors = np.asarray(role_vectors, dtype=np.float64)
    default = np.asarray(default, dtype=np.float64)
    rng = np.random.default_rng(seed)
    s = axis_summary(role_vectors, default)
    observed = abs(s["axis_pc1_cosine"])
    pc1 = fit_pca(role_vectors).components[0]
    random_dirs = unit(rng.normal(size=(n_null, role_vectors.shape[1])))  # (n_null, d)
    out = {"n_roles": len(role_vectors), "dim": int(role_vectors.shape[1]),
           "abs_cos_axis_pc1": observed, "pc1_explained": s["pc1_explained"],
           "random_direction_null": null_summary(observed, np.abs(random_dirs @ pc1)),
           "default_pc1_position": s["default_pc1_position"], "default_pc1_rank": s["default_pc1_rank"]}
    if samples is not None and owner is not None:
        samples, owner = np.asarray(samples, dtype=np.float64), np.asarray(owner)
        n_roles = int(owner.max()) + 1
        perm_cos, perm_pos = [], []
        for _ in range(n_null):
            fake = group_vectors(samples, rng.permutation(owner), n_roles)
            fs = axis_summary(fake, default)
            perm_cos.append(abs(fs["axis_pc1_cosine"]))
            perm_pos.append(fs["default_pc1_position"])
        out["permuted_label_null"] = null_summary(observed, np.asarray(perm_cos))
        out["permuted_label_null_default_position"] = null_summary(s["default_pc1_position"], np.asarray(perm_pos))
    statistics = {"abs_cos": lambda idx: _abs_cos(role_vectors[idx], default),
                  "default_pc1_position": lambda idx: axis_summary(role_vectors[idx], default)["default_pc1_position"],
                  "default_pc1_rank": lambda idx: axis_summary(role_vectors[idx], default)["default_pc1_rank"]}
    for name, statistic in statistics.items():
        out[f"{name}_interval"] = role_interval(statistic, len(role_vectors))
    nulls = [out["random_direction_null"]] + ([out["permuted_label_null"]] if "permuted_label_null" in out else [])
    out["axis_aligned_with_pc1"] = bool(all(n["p_value"] < 0.05 for n in nulls))
    rank = out["default_pc1_rank_interval"]
    out["default_at_pc1_end"] = bool(rank is not None and rank["low"] >= 0.9)  # above >= 90% of roles, low end
    return out
