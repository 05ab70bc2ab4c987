"""Persona quality: would a person recognise the personas? Four measures, each with its null.

- coherence: the share of a user's top-k recommendations that share a genre (or grocery category) with the
  label of the persona that explains them. Null: the label of another persona of the same user (one that owns
  history items), for the same items. The same for the explanation's supporting items.
- seed stability: the adjusted Rand index between two training seeds' assignments of each user's history items
  to personas. Null: the same with one assignment shuffled within the user.
- empty personas: the share of a user's personas that own no history item.
- label structure: silhouette (cosine) of persona vectors grouped by the top genre of their label. Null: the
  same with the labels shuffled.

Every model answers through ``recommend``, ``explain`` and ``user_personas``, so the measures work on any model;
a single-persona model has no "other persona" and no null for coherence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from personae.explain.labels import NO_GENRES, NO_ITEMS
from personae.space.seed_stability import adjusted_rand_index, silhouette
from personae.stats import Interval, compare_paired, mean_interval

SHUFFLES = 20  # label shuffles behind the silhouette null
QUALITY_USERS = 100  # users sampled for one saved model's quality (each needs a top-10 and its explanations)


def label_genres(label: str) -> frozenset[str]:
    """The genres a lift label names (``"Horror / Sci-Fi"``); none for an empty persona or a genre-less one."""
    if label in (NO_ITEMS, NO_GENRES):
        return frozenset()
    return frozenset(part.strip() for part in label.split(" / ") if part.strip())


def _shares(genres: list[frozenset[str]], items: list[int], label: str) -> float:
    named = label_genres(label)
    return float(np.mean([bool(genres[i] & named) for i in items])) if items else np.nan


@dataclass
class UserCoherence:
    """One user's top-k list against its explaining personas' labels; NaN where there is nothing to measure."""

    recommended: float  # share of the top-k sharing a genre with its explaining persona's label
    supporting: float  # the same for each explanation's supporting items (mean over the list)
    recommended_null: float  # the same items against another labelled persona of the user (NaN: none)
    supporting_null: float

    def to_dict(self) -> dict:
        return {name: (None if np.isnan(value) else float(value)) for name, value in vars(self).items()}


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else np.nan


def user_coherence(model, user: str, k: int = 10, rng: np.random.Generator | None = None) -> UserCoherence:
    """Coherence of one user's top-``k`` list; the null draws another persona per item with ``rng``."""
    rng = rng or np.random.default_rng(0)
    data = model.fitted_data
    genres = data.item_genres()
    if genres is None:
        raise ValueError(f"{data.name}: coherence needs item genres or categories")
    items = model.recommend([user], k=k).item_ids[0]
    explanations = model.explain(user, items)
    mix = model.user_personas(user)
    label_of = dict(zip(mix.persona_ids, mix.labels))
    labelled = [p for p, label in label_of.items() if label != NO_ITEMS]
    rec_idx = data.item_index(items).tolist()
    support_idx = [data.item_index(e.supporting_items).tolist() for e in explanations]
    rec = [bool(genres[i] & label_genres(e.label)) for i, e in zip(rec_idx, explanations)]
    support = [_shares(genres, s, e.label) for s, e in zip(support_idx, explanations)]
    others_rec, others_sup = [], []
    for i, s, e in zip(rec_idx, support_idx, explanations):
        others = [p for p in labelled if p != e.persona]
        if not others:
            break
        other = label_of[others[rng.integers(len(others))]]
        others_rec.append(bool(genres[i] & label_genres(other)))
        others_sup.append(_shares(genres, s, other))
    complete = len(others_rec) == len(rec) and len(rec) > 0
    return UserCoherence(float(np.mean(rec)) if rec else np.nan, _mean(support),
                         float(np.mean(others_rec)) if complete else np.nan,
                         _mean(others_sup) if complete else np.nan)


@dataclass
class Coherence:
    """Per-user coherence of recommendations and supporting items, with the other-persona null."""

    users: int  # users measured
    recommended: Interval  # mean over users of the share of coherent top-k items
    recommended_vs_null: Interval | None  # paired: own label minus another persona's label (users with >= 2)
    supporting: Interval
    supporting_vs_null: Interval | None
    null_users: int  # users with a second labelled persona

    def to_dict(self) -> dict:
        def d(x: Interval | None) -> dict | None:
            return None if x is None else x.to_dict()
        return {"users": self.users, "recommended": d(self.recommended),
                "recommended_vs_null": d(self.recommended_vs_null), "supporting": d(self.supporting),
                "supporting_vs_null": d(self.supporting_vs_null), "null_users": self.null_users}


def coherence(model, user_ids: list[str], k: int = 10, seed: int = 0) -> Coherence:
    """Coherence of each user's top-``k`` list with its explaining personas' labels (see the module)."""
    rng = np.random.default_rng(seed)
    per_user = [user_coherence(model, user, k, rng) for user in user_ids]
    own_rec, own_sup, null_rec, null_sup = (np.asarray([getattr(c, name) for c in per_user], dtype=np.float64)
                                            for name in ("recommended", "supporting", "recommended_null",
                                                         "supporting_null"))
    paired = ~np.isnan(null_rec) & ~np.isnan(own_rec)
    paired_sup = paired & ~np.isnan(own_sup) & ~np.isnan(null_sup)
    return Coherence(
        users=len(user_ids),
        recommended=mean_interval(own_rec[~np.isnan(own_rec)], unit="users"),
        recommended_vs_null=compare_paired(own_rec[paired], null_rec[paired], unit="users")
        if paired.sum() >= 2 else None,
        supporting=mean_interval(own_sup[~np.isnan(own_sup)], unit="users"),
        supporting_vs_null=compare_paired(own_sup[paired_sup], null_sup[paired_sup], unit="users")
        if paired_sup.sum() >= 2 else None,
        null_users=int(paired.sum()))


def history_assignment(model, user: str) -> np.ndarray:
    """(H,) the persona each of the user's history items belongs to, oldest first."""
    return np.asarray(model.user_personas(user).history_persona, dtype=np.int64)


def seed_stability(model_a, model_b, user_ids: list[str], seed: int = 0) -> dict:
    """ARI between two runs' history assignments per user, against a within-user shuffle (paired interval).

    Users whom both runs give a single persona for every item are left out: they agree by construction."""
    rng = np.random.default_rng(seed)
    ari, shuffled = [], []
    for user in user_ids:
        first, second = history_assignment(model_a, user), history_assignment(model_b, user)
        if len(first) < 2 or (len(np.unique(first)) == 1 and len(np.unique(second)) == 1):
            continue
        ari.append(adjusted_rand_index(first, second))
        shuffled.append(adjusted_rand_index(first, rng.permutation(second)))
    if len(ari) < 2:
        return {"users": len(ari), "ari": None, "vs_shuffled": None}
    return {"users": len(ari), "ari": mean_interval(np.asarray(ari), unit="users").to_dict(),
            "shuffled": float(np.mean(shuffled)),
            "vs_shuffled": compare_paired(np.asarray(ari), np.asarray(shuffled), unit="users").to_dict()}


def empty_personas(model, user_ids: list[str]) -> dict:
    """Share of personas (pooled over users) that own no history item, and its per-user mean interval."""
    per_user, empty, total = [], 0, 0
    for user in user_ids:
        mix = model.user_personas(user)
        owned = set(mix.history_persona)
        n_empty = sum(p not in owned for p in mix.persona_ids)
        empty, total = empty + n_empty, total + len(mix.persona_ids)
        per_user.append(n_empty / max(len(mix.persona_ids), 1))
    return {"personas": total, "empty": empty, "share": empty / max(total, 1),
            "per_user": mean_interval(np.asarray(per_user), unit="users").to_dict() if len(per_user) >= 2 else None}


def silhouette_with_shuffles(vectors: np.ndarray, groups: np.ndarray, seed: int = 0) -> dict | None:
    """Silhouette (cosine) of ``vectors`` (n, dim) by ``groups`` (n,), and its mean, min and max over
    ``SHUFFLES`` permutations of the groups (the no-structure null); None with fewer than two groups."""
    if len(set(np.asarray(groups).tolist())) < 2:
        return None
    matrix = np.asarray(vectors, dtype=np.float64)
    rng = np.random.default_rng(seed)
    shuffled = [silhouette(matrix, rng.permutation(groups)) for _ in range(SHUFFLES)]
    return {"silhouette": silhouette(matrix, np.asarray(groups)),
            "shuffled": {"mean": float(np.mean(shuffled)), "min": float(np.min(shuffled)),
                         "max": float(np.max(shuffled))}}


def label_structure(model, user_ids: list[str], seed: int = 0) -> dict:
    """Silhouette of persona vectors by the top genre of their label, and over ``SHUFFLES`` label shuffles.

    Personas without items (no label) and models without persona vectors are left out (None)."""
    vectors, groups = [], []
    for user in user_ids:
        mix = model.user_personas(user)
        if mix.vectors.size == 0:
            return {"personas": 0, "silhouette": None, "shuffled": None}
        for vector, label in zip(mix.vectors, mix.labels):
            if label_genres(label):
                vectors.append(vector)
                groups.append(label.split(" / ")[0])
    result = silhouette_with_shuffles(np.asarray(vectors), np.asarray(groups), seed)
    return {"personas": len(groups), **(result or {"silhouette": None, "shuffled": None})}


SEEDS_NEEDED = {"ari": None, "needs": "two runs of the model with different seeds (one saved model cannot show "
                "it): python bench/persona_quality.py --seeds 0,1"}


def persona_quality(model, user_ids: list[str], other_seed_model=None, k: int = 10, seed: int = 0) -> dict:
    """All four measures for ``user_ids``, JSON-ready; seed stability needs ``other_seed_model`` (a run with
    another seed), else it says so."""
    return {"users": len(user_ids), "coherence": coherence(model, user_ids, k=k, seed=seed).to_dict(),
            "seed_stability": SEEDS_NEEDED if other_seed_model is None else seed_stability(
                model, other_seed_model, user_ids, seed=seed),
            "empty_personas": empty_personas(model, user_ids),
            "label_structure": label_structure(model, user_ids, seed=seed)}


def user_quality(model, user: str, k: int = 10, seed: int = 0) -> dict:
    """What one user shows: its top-``k`` coherence (and against another of its personas) and its empty
    personas; JSON-ready."""
    mix = model.user_personas(user)
    owned = set(mix.history_persona)
    return {"coherence": user_coherence(model, user, k, np.random.default_rng(seed)).to_dict(),
            "personas": len(mix.persona_ids), "empty_personas": sum(p not in owned for p in mix.persona_ids)}


def quality_payload(model, user: str, user_ids: list[str], k: int = 10, seed: int = 0) -> dict:
    """``personae personas --json``'s quality block: what ``user`` shows, and the model's four measures over
    ``user_ids``; a note instead when the items have no genres or categories to label personas with."""
    if model.fitted_data.item_genres() is None:
        return {"note": "not measured: the items have no genres or categories to label personas with"}
    return {"user": user_quality(model, user, k, seed), "model": persona_quality(model, user_ids, k=k, seed=seed)}
