"""Self-agreement: does a simulated user's behaviour agree with the persona mix it was built from?

These are the mechanism's own checks, *not* fidelity: they compare the simulator with its own inputs, so a
simulator scores well on them by construction. Fidelity is judged against held-out reality
(:mod:`personae.simulate.reality`). Kept because a broken mechanism fails them:

- pick-to-mix: for each pick, the share of the slate's other items that the session mix finds less likely (an
  MNL over <p_k, e_j> + b_j mixed over the K personas); 0.5 = a pick that ignores the mix. Beside it, the same
  score under another user's mix.
- probe-to-mix: Kendall concordance of each turn's genre probe answers with the answers the session mix as a
  whole gives (its own, or another user's).
"""

from __future__ import annotations

import numpy as np

from personae.simulate.reality import derangement, per_user
from personae.simulate.simulator import Sessions, genre_probe
from personae.simulate.world import Population, World


def pick_to_mix(world: World, population: Population, sessions: Sessions) -> np.ndarray:
    """(U, T) share of the other slate items the mix finds less likely than the pick (ties half); NaN: no pick."""
    shown = np.maximum(sessions.shown, 0)
    utility = np.einsum("ukd,utsd->utsk", population.personas, world.items[shown]) + world.bias[shown][..., None]
    choice = np.exp(utility - utility.max(axis=2, keepdims=True))
    likelihood = np.einsum("utsk,uk->uts", choice / choice.sum(axis=2, keepdims=True), population.weights)
    picked = np.take_along_axis(likelihood, np.maximum(sessions.slot, 0)[..., None], axis=2)
    below = (likelihood < picked).sum(axis=2) + 0.5 * ((likelihood == picked).sum(axis=2) - 1)
    return np.where(sessions.picked, below / (likelihood.shape[2] - 1), np.nan)


def probe_to_mix(world: World, population: Population, sessions: Sessions) -> np.ndarray:
    """(U, T) Kendall concordance of each turn's probe answers with the session mix's own answers."""
    mix = np.einsum("uk,ukd->ud", population.weights, population.personas)
    target = genre_probe(world, mix)  # (U, G)
    upper = np.triu_indices(target.shape[1], 1)
    want = np.sign(target[:, upper[0]] - target[:, upper[1]])
    said = np.sign(sessions.probes[..., upper[0]] - sessions.probes[..., upper[1]])
    counted = (want != 0)[:, None, :]
    score = ((said == want[:, None, :]) & counted).sum(axis=2) / np.maximum(counted.sum(axis=2), 1)
    return np.where(sessions.picked, score, np.nan)


def self_agreement(world: World, population: Population, sessions: Sessions, seed: int = 0) -> dict:
    """Means over users of both checks, and the same under another user's mix."""
    other = population.take(derangement(len(population), seed))
    out = {}
    for name, check in (("pick_to_mix", pick_to_mix), ("probe_to_mix", probe_to_mix)):
        out[name] = {"own": float(np.nanmean(per_user(check(world, population, sessions)))),
                     "another_users_mix": float(np.nanmean(per_user(check(world, other, sessions))))}
    return out
