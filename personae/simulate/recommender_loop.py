"""Recommender in the loop: simulated users face each trained model's slates; what happens to them.

A static model pages down its ranked list (turn t shows ranks t*k..(t+1)*k, the user's training items
excluded). Per model: click-through (picks per turn in session), mean rating of rated picks, session length
(turns before leaving), catalogue coverage (share of items shown to anyone), and the filter-bubble measure:
genre entropy (bits) of the slate a user is shown, per turn (lower = narrower). Models are compared on the same
simulated users with the same seed (common random numbers), with paired bootstrap CIs against the first model.
"""

from __future__ import annotations

import numpy as np

from personae.errors import DataError
from personae.evaluate.metrics import top_k
from personae.experiment import paired_bootstrap
from personae.models.base import Recommender
from personae.simulate.simulator import Sessions, SimulatorParams, simulate
from personae.simulate.world import Population, World


def ranked_lists(model: Recommender, user_ids: np.ndarray, depth: int, item_ids: np.ndarray,
                 chunk: int = 256) -> np.ndarray:
    """(U, depth) each user's top items by ``model`` (training items excluded), as indices into ``item_ids``."""
    data = model.fitted_data
    if not np.array_equal(data.item_ids, item_ids):
        raise DataError(f"model '{model.name}' was trained on another catalogue than the simulator's world")
    if depth > len(item_ids):
        raise DataError(f"{depth} recommended items per user are needed (turns x slate, x3 for realism) but the "
                        f"catalogue has {len(item_ids)}: use fewer --turns")
    unique, inverse = np.unique(np.asarray(user_ids, dtype=str), return_inverse=True)
    rows = np.asarray([data.user_index(u) for u in unique])
    out = np.zeros((len(unique), depth), dtype=np.int64)
    for s in range(0, len(rows), chunk):
        scores = np.array(model.score(rows[s:s + chunk]), dtype=np.float32, copy=True)
        seen_rows, seen_cols = data.csr[rows[s:s + chunk]].nonzero()
        scores[seen_rows, seen_cols] = -np.inf
        out[s:s + chunk] = top_k(scores, depth)
    return out[inverse]


def slate_entropy(world: World, shown: np.ndarray) -> np.ndarray:
    """(U, T, k) slates -> (U, T) Shannon entropy (bits) of the genre distribution of each slate."""
    counts = world.genres[shown].sum(axis=2)  # (U, T, G)
    p = counts / np.maximum(counts.sum(axis=2, keepdims=True), 1e-12)
    return -(p * np.log2(np.where(p > 0, p, 1.0))).sum(axis=2)


def per_user(world: World, sessions: Sessions) -> dict[str, np.ndarray]:
    """(U,) click-through, mean rating (NaN if none), session length, mean slate entropy over turns in session."""
    active = sessions.active
    length = active.sum(axis=1)
    rated = ~np.isnan(sessions.rating)
    with np.errstate(invalid="ignore"):
        rating = np.where(rated.any(axis=1), np.nansum(sessions.rating, axis=1) / np.maximum(rated.sum(axis=1), 1),
                          np.nan)
    bubble = (slate_entropy(world, sessions.shown) * active).sum(axis=1) / np.maximum(length, 1)
    return {"ctr": sessions.picked.sum(axis=1) / np.maximum(length, 1), "mean_rating": rating,
            "session_length": length.astype(np.float64), "bubble": bubble}


def loop_report(world: World, sessions: Sessions) -> dict:
    users = per_user(world, sessions)
    entropy = slate_entropy(world, sessions.shown)
    active = sessions.active
    shown = sessions.shown[active]  # (n_active_turns, k)
    return {"ctr": float(users["ctr"].mean()), "mean_rating": float(np.nanmean(users["mean_rating"])),
            "session_length": float(users["session_length"].mean()),
            "coverage": float(np.unique(shown).size / world.n_items),
            "bubble": float(users["bubble"].mean()),
            "bubble_per_turn": [float(entropy[active[:, t], t].mean()) if active[:, t].any() else None
                                for t in range(active.shape[1])]}


def compare_models(world: World, population: Population, models: dict[str, Recommender], params: SimulatorParams,
                   turns: int, slate: int = 10, seed: int = 0, item_ids: np.ndarray | None = None) -> dict:
    """Every model in the loop with the same simulated users and seed; CIs of per-user differences against
    the first model (a CI that includes 0 is no difference)."""
    reports, users = {}, {}
    for name, model in models.items():
        ranking = ranked_lists(model, population.proxy, turns * slate,
                               model.fitted_data.item_ids if item_ids is None else item_ids)
        sessions = simulate(world, population, ranking, params, turns, slate, seed)
        reports[name], users[name] = loop_report(world, sessions), per_user(world, sessions)
    first = next(iter(models))
    for name in models:
        versus = {}
        for key in ("ctr", "session_length", "bubble", "mean_rating"):
            diff = users[name][key] - users[first][key]
            diff = diff[~np.isnan(diff)]
            versus[key] = paired_bootstrap(diff) if len(diff) else None
        reports[name]["vs_" + first] = versus
    return reports
