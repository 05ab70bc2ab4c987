"""Fitting the simulator: first for realism (the free simulator), then the learned consistency anchoring.

Both fits use one black-box optimiser, the cross-entropy method (CEM): sample parameter vectors from a Gaussian
inside bounds, keep the best fifth, refit the Gaussian, repeat. Every evaluation reuses the same seed (common
random numbers), so differences between candidates are differences of parameters, not of luck.

- ``fit_realism``: choice-model and session parameters that minimise the discriminator AUC (part 2) on the
  tuning users. The anchor stays 0: this is the *free* simulator. ``no_choice`` is not fitted: logs of rated
  items say nothing about slates a user passed over, so it stays at its meaning "beat my typical past item".
- ``learn_anchoring``: the inversion of arXiv:2511.00222 on vectors: the reward is the mean of the three
  consistency metrics; the optimiser moves the anchor (pull of the taste back toward the session mix; the
  realism-fitted stickiness stays, else freezing the persona would be a trivial answer), under the constraint that the realism AUC does not rise above the free simulator's by more than
  ``tolerance`` (the constraint enters as a penalty).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from personae.simulate.realism import (
    REALISM_TURN_FACTOR,
    discriminator_auc,
    session_features,
    simulated_sessions,
)
from personae.simulate.session_consistency import METRICS, consistency
from personae.simulate.simulator import SimulatorParams, simulate
from personae.simulate.world import Population, World

REALISM_BOUNDS = {"temperature": (0.1, 3.0), "pop_weight": (0.0, 3.0), "position_bias": (0.0, 2.0),
                  "base_leave": (0.0, 0.6), "fatigue": (0.0, 0.5),
                  "stickiness": (0.0, 1.0), "drift": (0.0, 1.0), "activity_power": (0.0, 2.0), "rating_shift": (-1.5, 1.5),
                  "rating_spread": (0.2, 1.5)}
ANCHOR_BOUNDS = {"anchor": (0.0, 1.0)}


@dataclass(frozen=True)
class Setup:
    """The fixed inputs every evaluation shares: world, users, their ranked lists, real session features."""

    world: World
    population: Population
    ranking: np.ndarray  # (U, >= REALISM_TURN_FACTOR * turns * slate)
    real: np.ndarray  # (S, F) features of real sessions of held-out users
    turns: int
    slate: int = 10
    seed: int = 0

    def realism_auc(self, params: SimulatorParams) -> float:
        sessions = simulate(self.world, self.population, self.ranking, params, REALISM_TURN_FACTOR * self.turns,
                            self.slate, self.seed)
        features = session_features(self.world, *simulated_sessions(sessions, self.turns))
        result = discriminator_auc(self.real, features, seed=self.seed, resamples=1)["auc"]  # the reported test
        return 1.0 if np.isnan(result) else result

    def consistency_reward(self, params: SimulatorParams) -> float:
        sessions = simulate(self.world, self.population, self.ranking, params, self.turns, self.slate,
                            self.seed, allow_leave=False)
        scores = consistency(self.world, self.population, sessions, self.seed)
        return float(np.mean([np.nanmean(scores[m]) for m in METRICS]))


def cross_entropy_method(objective: Callable[[dict[str, float]], float], bounds: dict[str, tuple[float, float]],
                         start: dict[str, float] | None = None, iterations: int = 6, samples: int = 12,
                         elite: float = 0.25, seed: int = 0) -> tuple[dict[str, float], float, list[float]]:
    """Minimise ``objective`` over a box. Returns (best parameters, best value, best value per iteration)."""
    rng = np.random.default_rng(seed)
    names = list(bounds)
    low, high = np.array([bounds[n][0] for n in names]), np.array([bounds[n][1] for n in names])
    mean = np.array([start[n] for n in names]) if start else (low + high) / 2
    spread = (high - low) / 2
    best, best_value, history = dict(zip(names, mean)), objective(dict(zip(names, mean))), []
    n_elite = max(2, round(elite * samples))
    for _ in range(iterations):
        candidates = np.clip(mean + spread * rng.standard_normal((samples, len(names))), low, high)
        values = np.array([objective(dict(zip(names, c))) for c in candidates])
        order = np.argsort(values)
        if values[order[0]] < best_value:
            best, best_value = dict(zip(names, candidates[order[0]])), float(values[order[0]])
        top = candidates[order[:n_elite]]
        mean, spread = top.mean(axis=0), np.maximum(top.std(axis=0), 0.02 * (high - low))
        history.append(best_value)
    return {k: float(v) for k, v in best.items()}, float(best_value), history


def fit_realism(setup: Setup, start: SimulatorParams | None = None, iterations: int = 6,
                samples: int = 12) -> tuple[SimulatorParams, dict]:
    """The free simulator: parameters that make sessions hardest to tell from real ones (anchor = 0)."""
    base = (start or SimulatorParams()).with_values(anchor=0.0)
    best, value, history = cross_entropy_method(
        lambda p: setup.realism_auc(base.with_values(**p)), REALISM_BOUNDS,
        {k: getattr(base, k) for k in REALISM_BOUNDS}, iterations, samples, seed=setup.seed)
    return base.with_values(**best), {"tuning_auc": value, "auc_per_iteration": history,
                                      "evaluations": 1 + iterations * samples}


def learn_anchoring(setup: Setup, free: SimulatorParams, tolerance: float = 0.01, iterations: int = 6,
                    samples: int = 12) -> tuple[SimulatorParams, dict]:
    """The anchor that maximises consistency while the realism AUC stays within ``tolerance`` of the
    free simulator's (on the tuning users)."""
    limit = setup.realism_auc(free) + tolerance

    def loss(values: dict[str, float]) -> float:
        params = free.with_values(**values)
        excess = max(0.0, setup.realism_auc(params) - limit)
        return -setup.consistency_reward(params) + 10.0 * excess

    best, value, history = cross_entropy_method(loss, ANCHOR_BOUNDS, {k: getattr(free, k) for k in ANCHOR_BOUNDS},
                                                iterations, samples, seed=setup.seed + 1)
    anchored = free.with_values(**best)
    return anchored, {"tuning_reward": -value, "reward_per_iteration": [-h for h in history],
                      "free_tuning_reward": setup.consistency_reward(free), "auc_limit": limit,
                      "anchored_tuning_auc": setup.realism_auc(anchored)}
