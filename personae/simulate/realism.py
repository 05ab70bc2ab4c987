"""Realism: are simulated sessions distinguishable from real ones?

Real sessions are runs of a real user's events with no gap over ``gap`` seconds (30 minutes), cut to the first
T events; a simulated session runs for up to ``REALISM_TURN_FACTOR`` x T turns and keeps its first T picks (real
logs hold the items consumed, not the slates passed over). Each session, real or simulated, becomes a feature vector: genre shares of its items, mean and spread
of log popularity, number of items, mean and spread of ratings. Two tests:
- per-feature distances (Kolmogorov-Smirnov statistic and Wasserstein distance) for session length, popularity
  and genre share, each beside the same distance between two random halves of the real sessions (the null);
- a discriminator two-sample test: a logistic regression (linear and squared features) told to separate real
  from simulated sessions, scored by cross-validated AUC with a bootstrap CI. 0.5 = indistinguishable. The
  null: the same test on two halves of the real sessions.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import ks_2samp, rankdata, wasserstein_distance

from personae.data.interactions import Interactions
from personae.simulate.simulator import Sessions
from personae.simulate.world import World

SESSION_GAP = 1800.0  # seconds without an event that end a real session
REALISM_TURN_FACTOR = 3  # simulated turns per real event slot when comparing sessions


def real_sessions(data: Interactions, user_ids: list[str], max_events: int,
                  gap: float = SESSION_GAP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(S, max_events) items (-1 padding) and ratings (NaN padding) of every real session of ``user_ids``, and
    (S,) the position in ``user_ids`` of each session's user (simulate each user once per real session, so both
    sides weigh heavy users alike)."""
    if data.timestamps is None:
        raise ValueError(f"{data.name}: real sessions need timestamps")
    rows = np.asarray([data.user_index(u) for u in user_ids])
    keep = np.isin(data.users, rows)
    users, times, items = data.users[keep], data.timestamps[keep], data.items[keep]
    ratings = data.ratings[keep] if data.ratings is not None else np.full(len(items), np.nan)
    order = np.lexsort((times, users))
    users, times, items, ratings = users[order], times[order], items[order], ratings[order]
    session = np.cumsum(np.r_[True, (users[1:] != users[:-1]) | (np.diff(times) > gap)]) - 1  # (events,)
    position = np.arange(len(session)) - np.flatnonzero(np.r_[True, session[1:] != session[:-1]])[session]
    first = position < max_events
    chosen = np.full((session[-1] + 1 if len(session) else 0, max_events), -1)
    rating = np.full(chosen.shape, np.nan)
    chosen[session[first], position[first]] = items[first]
    rating[session[first], position[first]] = ratings[first]
    owner = np.zeros(len(chosen), dtype=np.int64)
    owner[session] = np.searchsorted(np.sort(rows), users)  # rows sorted; map back to user_ids order below
    return chosen, rating, np.argsort(rows)[owner]


def simulated_sessions(sessions: Sessions, max_items: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(S, max_items) the first ``max_items`` picks and their ratings of each simulated session that picked
    anything (an empty visit leaves no log), as a real session holds its first events."""
    keep = sessions.picked.any(axis=1)
    order = np.argsort(~sessions.picked[keep], axis=1, kind="stable")[:, :max_items]  # picks first, in order
    return (np.take_along_axis(sessions.chosen[keep], order, axis=1),
            np.take_along_axis(sessions.rating[keep], order, axis=1))


def session_features(world: World, chosen: np.ndarray, rating: np.ndarray) -> np.ndarray:
    """(S, T) items (-1 = none) and ratings -> (S, G + 5): genre shares, mean/std log popularity, number of
    items, mean/std rating (0 when unrated)."""
    mask = chosen >= 0  # (S, T)
    count = np.maximum(mask.sum(axis=1), 1)[:, None]
    genre = (world.genres[np.maximum(chosen, 0)] * mask[..., None]).sum(axis=1) / count
    pop = np.log1p(world.popularity)[np.maximum(chosen, 0)] * mask
    pop_mean = pop.sum(axis=1, keepdims=True) / count
    pop_std = np.sqrt(np.maximum(((pop - pop_mean) ** 2 * mask).sum(axis=1, keepdims=True) / count, 0))
    rated = ~np.isnan(rating)
    n_rated = np.maximum(rated.sum(axis=1), 1)[:, None]
    values = np.where(rated, rating, 0.0)
    rating_mean = values.sum(axis=1, keepdims=True) / n_rated
    rating_std = np.sqrt(np.maximum((((values - rating_mean) ** 2) * rated).sum(axis=1, keepdims=True) / n_rated, 0))
    return np.concatenate([genre, pop_mean, pop_std, mask.sum(axis=1, keepdims=True), rating_mean, rating_std],
                          axis=1)


def _expand(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Standardised features (clipped to +-5: a rare genre must not dominate), their squares, an intercept."""
    z = np.clip((x - mean) / scale, -5.0, 5.0)
    return np.concatenate([z, z ** 2, np.ones((len(z), 1))], axis=1)


def _logistic_fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 25) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method (the last column, the intercept, is not shrunk)."""
    penalty = l2 * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = expit(x @ w)
        grad = x.T @ (p - y) + penalty @ w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, grad)
        step *= min(1.0, 5.0 / max(np.abs(step).max(), 1e-12))  # damped: no runaway on separable folds
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula; ties count half."""
    positive = labels == 1
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return 0.5
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def discriminator_auc(real: np.ndarray, simulated: np.ndarray, folds: int = 5, seed: int = 0,
                      resamples: int = 500) -> dict:
    """Cross-validated AUC of a classifier separating ``real`` (n, F) from ``simulated`` (m, F) features.

    The larger set is subsampled to the smaller one's size, so 0.5 is the no-information level. Returns the
    AUC, its bootstrap 95% CI over sessions, and the sizes."""
    rng = np.random.default_rng(seed)
    size = min(len(real), len(simulated))
    if size < folds:
        return {"auc": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "sessions": int(size)}
    x = np.concatenate([real[rng.permutation(len(real))[:size]], simulated[rng.permutation(len(simulated))[:size]]])
    y = np.r_[np.ones(size), np.zeros(size)]
    fold = rng.permutation(len(y)) % folds
    out_of_fold = np.zeros(len(y))
    for f in range(folds):
        train = fold != f
        mean, scale = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
        weights = _logistic_fit(_expand(x[train], mean, scale), y[train])
        out_of_fold[~train] = _expand(x[~train], mean, scale) @ weights
    draws = [rng.integers(0, len(y), len(y)) for _ in range(resamples)]
    boot = [auc(out_of_fold[d], y[d]) for d in draws]
    return {"auc": auc(out_of_fold, y), "ci_low": float(np.percentile(boot, 2.5)),
            "ci_high": float(np.percentile(boot, 97.5)), "sessions": int(size)}


def distribution_distances(real: np.ndarray, simulated: np.ndarray, genres: int) -> dict:
    """KS and Wasserstein distances of session length and mean log popularity; total variation of the overall
    genre distribution."""
    columns = {"session_length": genres + 2, "popularity": genres}
    out = {}
    for name, j in columns.items():
        out[name] = {"ks": float(ks_2samp(real[:, j], simulated[:, j]).statistic),
                     "wasserstein": float(wasserstein_distance(real[:, j], simulated[:, j]))}
    share_real = real[:, :genres].mean(axis=0) / max(real[:, :genres].mean(axis=0).sum(), 1e-12)
    share_sim = simulated[:, :genres].mean(axis=0) / max(simulated[:, :genres].mean(axis=0).sum(), 1e-12)
    out["genre"] = {"total_variation": float(0.5 * np.abs(share_real - share_sim).sum())}
    return out


def realism(world: World, real: np.ndarray, sessions: Sessions, max_items: int, seed: int = 0) -> dict:
    """The realism report of simulated ``sessions`` against real session features ``real`` (n, F)."""
    simulated = session_features(world, *simulated_sessions(sessions, max_items))
    halves = np.random.default_rng(seed).permutation(len(real))
    a, b = real[halves[: len(real) // 2]], real[halves[len(real) // 2:]]
    g = world.genres.shape[1]
    return {"discriminator": discriminator_auc(real, simulated, seed=seed),
            "discriminator_null": discriminator_auc(a, b, seed=seed),
            "distances": distribution_distances(real, simulated, g),
            "distances_null": distribution_distances(a, b, g),
            "empty_sessions": float(1.0 - len(simulated) / max(len(sessions.chosen), 1)),
            "real_sessions": len(real)}
