"""Recommender in the loop: the same simulated users face each model's list; what happens to them.

Each model's list (training items excluded) fills the recommender's share of every slate, re-ranked each turn
toward the previous pick; the rest of the slate is the same popularity, recency and catalogue exposure for
every model (same seed: common random numbers). Per user, over a session of fixed length: the *take rate*
(share of picks that came from the model's list), the mean rating of the picks, how well the picks fit the
user's held-out real items (prompt-to-line percentile, :mod:`personae.simulate.reality`), and the filter-bubble
measure (genre entropy of the slates, bits). Models are compared with the first one, paired over users
(``personae.stats.compare_paired``); users are distinct (drawn without replacement).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from personae.data.interactions import Interactions
from personae.errors import DataError
from personae.evaluate.metrics import top_k
from personae.models.base import Recommender
from personae.simulate.reality import fit_percentile, held_out_profiles, per_user
from personae.simulate.simulator import Habits, Sessions, SimulatorParams, simulate
from personae.simulate.world import Population, World

LIST_DEPTH = 100  # how deep into each model's list the re-ranking looks


def ranked_lists(model: Recommender, user_ids: np.ndarray, depth: int, item_ids: np.ndarray,
                 chunk: int = 256) -> np.ndarray:
    """(U, depth) each user's top items by ``model`` (training items excluded), as indices into ``item_ids``."""
    data = model.fitted_data
    if not np.array_equal(data.item_ids, item_ids):
        raise DataError(f"model '{model.name}' was trained on another catalogue than the simulator's world")
    depth = min(depth, len(item_ids))
    unique, inverse = np.unique(np.asarray(user_ids, dtype=str), return_inverse=True)
    rows = np.asarray([data.user_index(u) for u in unique])
    out = np.zeros((len(unique), depth), dtype=np.int64)
    for s in range(0, len(rows), chunk):
        scores = np.array(model.score(rows[s:s + chunk]), dtype=np.float32, copy=True)
        seen_rows, seen_cols = data.csr[rows[s:s + chunk]].nonzero()
        scores[seen_rows, seen_cols] = -np.inf
        out[s:s + chunk] = top_k(scores, depth)
    return out[inverse]


def draw_users(candidates: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """``size`` distinct users from ``candidates`` (all of them, shuffled, when fewer): never copies."""
    return np.random.default_rng(seed).permutation(candidates)[: min(size, len(candidates))]


def slate_entropy(world: World, shown: np.ndarray) -> np.ndarray:
    """(U, T, k) slates (-1 = none) -> (U, T) Shannon entropy (bits) of each slate's genre distribution."""
    counts = (world.genres[np.maximum(shown, 0)] * (shown >= 0)[..., None]).sum(axis=2)  # (U, T, G)
    p = counts / np.maximum(counts.sum(axis=2, keepdims=True), 1e-12)
    return -(p * np.log2(np.where(p > 0, p, 1.0))).sum(axis=2)


def per_user_outcomes(world: World, sessions: Sessions, fit: np.ndarray) -> dict[str, np.ndarray]:
    """(U,) take rate, mean rating, fit to held-out items, slate genre entropy."""
    picked = sessions.picked
    return {"take_rate": sessions.from_list.sum(axis=1) / np.maximum(picked.sum(axis=1), 1),
            "mean_rating": per_user(np.where(picked, sessions.log.ratings, np.nan)),
            "held_out_fit": per_user(fit),
            "bubble": per_user(np.where(picked, slate_entropy(world, sessions.shown), np.nan))}


def compare_models(world: World, population: Population, models: dict[str, Recommender], params: SimulatorParams,
                   habits: Habits, starts: np.ndarray, seen: sp.csr_matrix, held_out: Interactions, turns: int,
                   slate: int = 20, seed: int = 0) -> dict:
    """Every model in the loop with the same distinct simulated users and seed."""
    from personae.stats import compare_paired

    if len(np.unique(population.user)) != len(population):
        raise ValueError("the loop needs distinct users: draw them without replacement (draw_users)")
    profile, _ = held_out_profiles(world, held_out, population.user)
    reports, users = {}, {}
    item_ids = next(iter(models.values())).fitted_data.item_ids
    for name, model in models.items():
        ranking = ranked_lists(model, population.proxy, LIST_DEPTH, item_ids)
        sessions = simulate(world, population, ranking, params, habits, starts, seen, turns, slate, seed,
                            lengths=np.full(len(population), turns))
        users[name] = per_user_outcomes(world, sessions, fit_percentile(world, profile, sessions.log.items))
        shown = sessions.shown[sessions.shown >= 0]
        reports[name] = {key: float(np.nanmean(v)) for key, v in users[name].items()}
        reports[name]["coverage"] = float(np.unique(shown).size / world.n_items)
    first = next(iter(models))
    for name in models:
        versus = {}
        for key in ("take_rate", "mean_rating", "held_out_fit", "bubble"):
            a, b = users[name][key], users[first][key]
            keep = ~(np.isnan(a) | np.isnan(b))
            versus[key] = compare_paired(a[keep], b[keep], unit="users").to_dict() if name != first else None
        reports[name]["vs_" + first] = versus
    return {"users": len(population), "baseline": first, "models": reports}
