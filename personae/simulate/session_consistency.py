"""Behavioural consistency of simulated users (the three metrics of arXiv:2511.00222, on vectors) and drift.

- prompt-to-line: how well each pick fits the assigned persona mix: the share of the slate's other items that
  the mix finds less likely than the pick (an MNL over <p_k, e_j> + b_j, mixed over the K personas). Chance =
  0.5: a pick that ignores the persona. Beside it, the same score under another user's mix.
- line-to-line: share of turn pairs without contradiction: a genre *loved* (probe answer >= 4) in one turn and
  *rejected* (<= 2) in the other. Null: the same pairs taken across two different users.
- Q&A: each turn's genre probe answers against the profile (the answers its session mix gives): share of
  genre pairs put in the same order (Kendall concordance). Null: against another user's profile.
Drift is the fall of each metric from the first half of the turns to the second half, per user, with a
bootstrap CI over users. Every metric has its null beside it; a metric that does not beat its null measures
nothing.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np

from personae.experiment import paired_bootstrap
from personae.simulate.simulator import Sessions, genre_profile
from personae.simulate.world import Population, World

METRICS = ("prompt_to_line", "line_to_line", "qa")
LOVE, REJECT = 4, 2


def derangement(n: int, seed: int = 0) -> np.ndarray:
    """A permutation with no fixed point: 'another user' for every user (identity when n < 2)."""
    if n < 2:
        return np.arange(n)
    return (np.arange(n) + np.random.default_rng(seed).integers(1, n)) % n


def slate_likelihood(world: World, population: Population, sessions: Sessions) -> np.ndarray:
    """(U, T, k) probability of each slate item under the mix: an MNL over <p_k, e_j> + b_j, mixed over K."""
    utility = np.einsum("ukd,utsd->utsk", population.personas, world.items[sessions.shown])
    utility = utility + world.bias[sessions.shown][..., None]  # (U, T, k, K)
    choice = np.exp(utility - utility.max(axis=2, keepdims=True))
    choice = choice / choice.sum(axis=2, keepdims=True)
    return np.einsum("utsk,uk->uts", choice, population.weights)


def prompt_to_line(world: World, population: Population, sessions: Sessions) -> np.ndarray:
    """(U, T) for each pick, the share of the other slate items its assigned mix finds less likely (ties half);
    NaN where there is no pick. A pick that ignores the persona scores 0.5 on average."""
    likelihood = slate_likelihood(world, population, sessions)  # (U, T, k)
    rank = np.maximum(sessions.rank, 0)
    picked = np.take_along_axis(likelihood, rank[..., None], axis=2)  # (U, T, 1)
    below = (likelihood < picked).sum(axis=2) + 0.5 * ((likelihood == picked).sum(axis=2) - 1)
    return np.where(sessions.picked, below / (likelihood.shape[2] - 1), np.nan)


def contradicts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., G) stances -> (...) a genre is loved in one and rejected in the other."""
    return (((a >= LOVE) & (b <= REJECT)) | ((a <= REJECT) & (b >= LOVE))).any(axis=-1)


def line_to_line(sessions: Sessions, partner: np.ndarray | None = None) -> np.ndarray:
    """(U, T): for turn t, the share of earlier turns s < t (both in session) without contradiction; NaN at t=0.

    ``partner`` (U,) compares each user's turn t with *another* user's earlier turns: the null.
    """
    stance = sessions.stance
    earlier = stance if partner is None else stance[partner]
    active = sessions.active if partner is None else sessions.active & sessions.active[partner]
    n, turns = stance.shape[:2]
    out = np.full((n, turns), np.nan)
    for t in range(1, turns):
        fine = ~contradicts(stance[:, t:t + 1], earlier[:, :t])  # (U, t)
        valid = active[:, :t] & active[:, t:t + 1]
        count = valid.sum(axis=1)
        out[:, t] = np.where(count > 0, (fine & valid).sum(axis=1) / np.maximum(count, 1), np.nan)
    return out


def qa(world: World, population: Population, sessions: Sessions, partner: np.ndarray | None = None) -> np.ndarray:
    """(U, T) Kendall concordance of the turn's probe answers with the profile (its own, or ``partner``'s)."""
    profile = genre_profile(world, population)
    if partner is not None:
        profile = profile[partner]
    upper = np.triu_indices(profile.shape[1], 1)
    target = np.sign(profile[:, upper[0]] - profile[:, upper[1]])  # (U, pairs)
    answered = np.sign(sessions.probes[..., upper[0]] - sessions.probes[..., upper[1]])  # (U, T, pairs)
    score = (answered == target[:, None, :]).mean(axis=2)
    return np.where(sessions.active, score, np.nan)


def consistency(world: World, population: Population, sessions: Sessions, seed: int = 0) -> dict[str, np.ndarray]:
    """The three metrics per (user, turn), and their nulls."""
    partner = derangement(len(population), seed)
    return {"prompt_to_line": prompt_to_line(world, population, sessions),
            "prompt_to_line_other": prompt_to_line(world, population.take(partner), sessions),
            "line_to_line": line_to_line(sessions),
            "qa": qa(world, population, sessions),
            "line_to_line_null": line_to_line(sessions, partner),
            "qa_null": qa(world, population, sessions, partner)}


def per_user_drift(scores: np.ndarray) -> np.ndarray:
    """(U, T) -> (U,) mean over the first half of the turns minus mean over the second half (NaN-aware)."""
    half = scores.shape[1] // 2
    with _quiet():
        return np.nanmean(scores[:, :half], axis=1) - np.nanmean(scores[:, half:], axis=1)


def summarize(scores: dict[str, np.ndarray]) -> dict:
    """Overall mean, per-turn curve, drift with CI, and null for each metric."""
    report = {}
    with _quiet():
        for name in METRICS:
            values = scores[name]
            drift = per_user_drift(values)
            drift = drift[~np.isnan(drift)]
            entry = {"mean": float(np.nanmean(values)), "per_turn": np.nanmean(values, axis=0).tolist(),
                     "drift": paired_bootstrap(drift) if len(drift) else None}
            entry["null"] = 0.5 if name == "prompt_to_line" else float(np.nanmean(scores[f"{name}_null"]))
            if name == "prompt_to_line":  # how much of the fit is generic taste that any user's mix shares
                entry["other_mix"] = float(np.nanmean(scores["prompt_to_line_other"]))
            report[name] = entry
    return report


def drift_reduction(free: dict[str, np.ndarray], anchored: dict[str, np.ndarray], resamples: int = 2000,
                    seed: int = 0) -> dict:
    """1 - (drift of anchored) / (drift of free), drift summed over the three metrics, with a bootstrap CI over
    users (both simulators ran the same users). Reported as no reduction when the free drift's CI includes 0."""
    a = np.nan_to_num(np.stack([per_user_drift(free[m]) for m in METRICS]).sum(axis=0))
    b = np.nan_to_num(np.stack([per_user_drift(anchored[m]) for m in METRICS]).sum(axis=0))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(a), size=(resamples, len(a)))
    free_means, anchored_means = a[draws].mean(axis=1), b[draws].mean(axis=1)
    ratio = 1.0 - anchored_means / np.where(np.abs(free_means) > 1e-12, free_means, np.nan)
    free_ci = (float(np.percentile(free_means, 2.5)), float(np.percentile(free_means, 97.5)))
    return {"reduction": float(1.0 - b.mean() / a.mean()) if abs(a.mean()) > 1e-12 else 0.0,
            "ci_low": float(np.nanpercentile(ratio, 2.5)), "ci_high": float(np.nanpercentile(ratio, 97.5)),
            "free_drift": float(a.mean()), "free_drift_ci": list(free_ci), "anchored_drift": float(b.mean()),
            "free_drifts": bool(free_ci[0] > 0)}


@contextmanager
def _quiet():
    """Silence 'mean of empty slice' for users without picks in a half (their value is NaN, by design)."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
