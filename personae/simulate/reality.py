"""Consistency against reality: do a simulated user's picks and answers match what the same real user did later?

Each simulated user is judged against its real user's *held-out* events (never seen by the world model), and
against another user's held-out events (the null, a derangement of users). Three lines, after
arXiv:2511.00222's prompt-to-line, line-to-line and Q&A, read against reality:

- **prompt-to-line** (per pick): how well the pick's genres fit the user's held-out items: the percentile of the
  pick's genre cosine to the held-out genre profile among all catalogue items (ties half). A pick that ignores
  the user scores 0.5 against its own user and against another.
- **line-to-line** (per pair of picks s < t): both picks fit the user's held-out behaviour (percentile >= 0.5),
  i.e. the two lines do not contradict the real user. Random picks: 0.25 against anyone.
- **Q&A** (per turn): genre probe answers against the genres the user *liked* in held-out events (share of
  held-out items in the genre rated >= 4): Kendall concordance over genre pairs the real user ordered.
  Random answers: 0.5.

The figure is own minus other, paired over users (``personae.stats.compare_paired``). Drift is the own-minus-
other gap in the first half of the session minus the second half, per user; anchoring's effect on drift is the
paired difference of two simulators' drifts over the same users.
"""

from __future__ import annotations

import warnings

import numpy as np

from personae.data.interactions import Interactions
from personae.simulate.world import World
from personae.stats import compare_paired, mean_interval

LIKED = 4.0
METRICS = ("prompt_to_line", "line_to_line", "qa")


def derangement(n: int, seed: int = 0) -> np.ndarray:
    """A permutation with no fixed point: 'another user' for every user (identity when n < 2)."""
    if n < 2:
        return np.arange(n)
    return (np.arange(n) + np.random.default_rng(seed).integers(1, n)) % n


def held_out_profiles(world: World, held_out: Interactions, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(U, G) genre profile of each user's held-out items and (U, G) the share of them liked in each genre."""
    index = np.full(held_out.n_users, -1)
    index[users] = np.arange(len(users))
    keep = index[held_out.users] >= 0
    owner, items = index[held_out.users[keep]], held_out.items[keep]
    ratings = held_out.ratings[keep] if held_out.ratings is not None else np.full(len(items), LIKED)
    profile, liked = np.zeros((len(users), world.genres.shape[1])), np.zeros((len(users), world.genres.shape[1]))
    np.add.at(profile, owner, world.genres[items])
    np.add.at(liked, owner, world.genres[items] * (ratings >= LIKED)[:, None])
    count = np.maximum(np.bincount(owner, minlength=len(users)), 1)[:, None]
    return profile / count, liked / count


def fit_percentile(world: World, profile: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """(U, G) profiles, (U, T) picks (-1 = none) -> (U, T) percentile of each pick's genre fit among all items."""
    unit = world.genres / np.maximum(np.linalg.norm(world.genres, axis=1, keepdims=True), 1e-12)
    fit = unit @ (profile / np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)).T  # (n_items, U)
    ordered = np.sort(fit, axis=0)
    pick_fit = fit[np.maximum(picks, 0), np.arange(len(picks))[:, None]]  # (U, T)
    below = np.stack([np.searchsorted(ordered[:, u], pick_fit[u], side="left") for u in range(len(picks))])
    upto = np.stack([np.searchsorted(ordered[:, u], pick_fit[u], side="right") for u in range(len(picks))])
    return np.where(picks >= 0, (below + 0.5 * (upto - below)) / len(fit), np.nan)


def both_fit(percentile: np.ndarray) -> np.ndarray:
    """(U, T) -> (U, T): for turn t, the share of earlier picks s < t such that both fit (>= 0.5); NaN at t = 0."""
    fits = percentile >= 0.5
    valid = ~np.isnan(percentile)
    out = np.full(percentile.shape, np.nan)
    for t in range(1, percentile.shape[1]):
        pairs = valid[:, :t] & valid[:, t:t + 1]
        count = pairs.sum(axis=1)
        agree = (fits[:, :t] & fits[:, t:t + 1] & pairs).sum(axis=1)
        out[:, t] = np.where(count > 0, agree / np.maximum(count, 1), np.nan)
    return out


def concordance(answers: np.ndarray, liked: np.ndarray) -> np.ndarray:
    """(U, T, G) probe answers, (U, G) held-out liking -> (U, T) share of the genre pairs the real user ordered
    (unequal liking) that the answers order the same way; NaN where the user ordered none."""
    upper = np.triu_indices(liked.shape[1], 1)
    target = np.sign(liked[:, upper[0]] - liked[:, upper[1]])  # (U, pairs)
    said = np.sign(answers[..., upper[0]] - answers[..., upper[1]])  # (U, T, pairs)
    counted = (target != 0)[:, None, :]
    agree = ((said == target[:, None, :]) & counted).sum(axis=2) + 0.5 * ((said == 0) & counted).sum(axis=2)
    total = counted.sum(axis=2)
    return np.where(total > 0, agree / np.maximum(total, 1), np.nan)


def reality_scores(world: World, held_out: Interactions, users: np.ndarray, picks: np.ndarray,
                   answers: np.ndarray | None, seed: int = 0) -> dict[str, np.ndarray]:
    """Per (user, turn) scores of simulated ``picks`` (U, T) and probe ``answers`` (U, T, G) of users ``users``
    against their own held-out events and, under ``*_other``, against another user's."""
    profile, liked = held_out_profiles(world, held_out, users)
    partner = derangement(len(users), seed)
    out = {}
    for suffix, (p, like) in {"": (profile, liked), "_other": (profile[partner], liked[partner])}.items():
        percentile = fit_percentile(world, p, picks)
        out["prompt_to_line" + suffix] = percentile
        out["line_to_line" + suffix] = both_fit(percentile)
        if answers is not None:
            out["qa" + suffix] = np.where(picks >= 0, concordance(answers, like), np.nan)
    return out


def per_user(scores: np.ndarray, turns: slice = slice(None)) -> np.ndarray:
    """(U, T) -> (U,) mean over the given turns (NaN-aware)."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(scores[:, turns], axis=1)


def summarize(scores: dict[str, np.ndarray]) -> dict:
    """Per metric: own and other means, and own minus other paired over users."""
    report = {}
    for metric in METRICS:
        if metric not in scores:
            continue
        own, other = per_user(scores[metric]), per_user(scores[metric + "_other"])
        keep = ~(np.isnan(own) | np.isnan(other))
        report[metric] = {"own": float(own[keep].mean()), "other": float(other[keep].mean()),
                          "own_minus_other": compare_paired(own[keep], other[keep], unit="users").to_dict()}
    return report


def gap_drift(scores: dict[str, np.ndarray], metric: str = "prompt_to_line") -> np.ndarray:
    """(U,) own-minus-other gap in the session's first half minus its second half (positive = it fades)."""
    half = scores[metric].shape[1] // 2
    gap = scores[metric] - scores[metric + "_other"]
    return per_user(gap, slice(None, half)) - per_user(gap, slice(half, None))


def drift_report(free: dict[str, np.ndarray], anchored: dict[str, np.ndarray], metric: str = "prompt_to_line") -> dict:
    """Drift of each simulator on the reality scale, and anchoring's effect on it (anchored minus free drift,
    paired over the same users; negative = anchoring reduces drift)."""
    a, b = gap_drift(free, metric), gap_drift(anchored, metric)
    keep = ~(np.isnan(a) | np.isnan(b))
    return {"metric": metric, "free": mean_interval(a[keep], unit="users").to_dict(),
            "anchored": mean_interval(b[keep], unit="users").to_dict(),
            "anchoring_effect": compare_paired(b[keep], a[keep], unit="users").to_dict()}
