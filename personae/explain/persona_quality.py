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


def label_genres(label: str) -> frozenset[str]:
    """The genres a lift label names (``"Horror / Sci-Fi"``); none for an empty persona or a genre-less one."""
    if label in (NO_ITEMS, NO_GENRES):
        return frozenset()
    return frozenset(part.strip() for part in label.split(" / ") if part.strip())


def _shares(genres: list[frozenset[str]], items: list[int], label: str) -> float:
    named = label_genres(label)
    return float(np.mean([bool(genres[i] & named) for i in items])) if items else np.nan


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
    data = model.fitted_data
    genres = data.item_genres()
    if genres is None:
        raise ValueError(f"{data.name}: coherence needs item genres or categories")
    rng = np.random.default_rng(seed)
    own_rec, own_sup, null_rec, null_sup = [], [], [], []
    for user in user_ids:
        items = model.recommend([user], k=k).item_ids[0]
        explanations = model.explain(user, items)
        mix = model.user_personas(user)
        label_of = dict(zip(mix.persona_ids, mix.labels))
        labelled = [p for p, label in label_of.items() if label != NO_ITEMS]
        rec_idx = data.item_index(items).tolist()
        rec = [bool(genres[i] & label_genres(e.label)) for i, e in zip(rec_idx, explanations)]
        support = [_shares(genres, data.item_index(e.supporting_items).tolist(), e.label) for e in explanations]
        own_rec.append(np.mean(rec))
        own_sup.append(np.nanmean(support) if not np.all(np.isnan(support)) else np.nan)
        others_rec, others_sup = [], []
        for i, e in zip(rec_idx, explanations):
            others = [p for p in labelled if p != e.persona]
            if not others:
                break
            other = label_of[others[rng.integers(len(others))]]
            others_rec.append(bool(genres[i] & label_genres(other)))
            others_sup.append(_shares(genres, data.item_index(e.supporting_items).tolist(), other))
        complete = len(others_rec) == len(rec)
        null_rec.append(np.mean(others_rec) if complete else np.nan)
        null_sup.append(np.nanmean(others_sup) if complete and not np.all(np.isnan(others_sup)) else np.nan)
    own_rec, own_sup, null_rec, null_sup = map(np.asarray, (own_rec, own_sup, null_rec, null_sup))
    paired = ~np.isnan(null_rec)
    paired_sup = paired & ~np.isnan(own_sup) & ~np.isnan(null_sup)
    return Coherence(
        users=len(user_ids),
        recommended=mean_interval(own_rec, unit="users"),
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


def label_structure(model, user_ids: list[str], seed: int = 0) -> dict:
    """Silhouette of persona vectors by the top genre of their label, and over ``SHUFFLES`` label shuffles.

    Personas without items (no label) and models without persona vectors are left out (None)."""
    vectors, groups = [], []
    for user in user_ids:
        mix = model.user_personas(user)
        if mix.vectors.size == 0:
            return {"personas": 0, "silhouette": None, "shuffled": None}
        for vector, label in zip(mix.vectors, mix.labels):
            named = label_genres(label)
            if named:
                vectors.append(vector)
                groups.append(label.split(" / ")[0])
    groups_array = np.asarray(groups)
    if len(set(groups)) < 2:
        return {"personas": len(groups), "silhouette": None, "shuffled": None}
    matrix = np.asarray(vectors, dtype=np.float64)
    rng = np.random.default_rng(seed)
    shuffled = [silhouette(matrix, rng.permutation(groups_array)) for _ in range(SHUFFLES)]
    return {"personas": len(groups), "silhouette": silhouette(matrix, groups_array),
            "shuffled": {"mean": float(np.mean(shuffled)), "min": float(np.min(shuffled)),
                         "max": float(np.max(shuffled))}}


def persona_quality(model, user_ids: list[str], other_seed_model=None, k: int = 10, seed: int = 0) -> dict:
    """All four measures for ``user_ids`` (seed stability only when a second run is given), JSON-ready."""
    return {"coherence": coherence(model, user_ids, k=k, seed=seed).to_dict(),
            "seed_stability": None if other_seed_model is None else seed_stability(model, other_seed_model,
                                                                                     user_ids, seed=seed),
            "empty_personas": empty_personas(model, user_ids),
            "label_structure": label_structure(model, user_ids, seed=seed)}
