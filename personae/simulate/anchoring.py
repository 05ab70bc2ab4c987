"""Fitting the simulator on *fit* users (never the users it is reported on).

A derivative-free cross-entropy method (CEM) searches each box. Every candidate is evaluated with the same
seed (common random numbers), so differences between candidates are differences of parameters, not of luck.

- ``fit_realism``: the choice, exposure and persona-dynamics parameters that make the fit users' simulated
  sessions hardest to tell from their real held-out sessions, by a gradient-boosted judge of its own (seeded
  apart from the judge that reports). The anchor stays 0: this is the *free* simulator.
- ``learn_anchoring``: the anchor (pull of the taste back toward the session mix) that maximises consistency
  with the fit users' held-out behaviour (own minus another user's prompt-to-line fit), while the judge's AUC
  stays within ``tolerance`` of the free simulator's. The reward reads reality, not the simulator's own mix, so
  the anchor's effect on drift is not fixed in advance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from personae.data.interactions import Interactions
from personae.simulate.discriminator import judge
from personae.simulate.features import Reference, session_features
from personae.simulate.reality import per_user, reality_scores
from personae.simulate.simulator import Habits, Sessions, SimulatorParams, simulate
from personae.simulate.world import Population, World

REALISM_BOUNDS = {"temperature": (0.2, 3.0), "affinity_weight": (0.0, 3.0), "previous_weight": (0.0, 4.0),
                  "pop_weight": (-3.0, 2.0), "rerank": (0.0, 5.0), "rec_share": (0.05, 1.0),
                  "pop_share": (0.0, 0.6), "new_share": (0.0, 0.4), "stickiness": (0.0, 1.0), "drift": (0.0, 1.0),
                  "rating_sharpness": (0.5, 3.0)}
ANCHOR_BOUNDS = {"anchor": (0.0, 1.0)}
FIT_JUDGE_SEED = 1000  # the fitting judge's seed: the reported judge uses the study seed


@dataclass(frozen=True)
class Arena:
    """Real held-out sessions of some users, and what it takes to simulate one session for each of them."""

    world: World
    reference: Reference
    population: Population  # one row per real session: that session's user
    ranking: np.ndarray  # (S, D) the recommender's list for each session's user
    starts: np.ndarray  # (S,) the real session's start time (the simulated one starts then too)
    seen: sp.csr_matrix  # (n_users, n_items) the world's training events
    habits: Habits
    real: np.ndarray  # (S, F) features of the real sessions
    real_users: np.ndarray  # (S,) user index of each real session
    turns: int
    slate: int = 20
    seed: int = 0

    def simulate(self, params: SimulatorParams, seed: int | None = None) -> Sessions:
        return simulate(self.world, self.population, self.ranking, params, self.habits, self.starts, self.seen,
                        self.turns, self.slate, self.seed + 7 if seed is None else seed)

    def features(self, sessions: Sessions) -> np.ndarray:
        return session_features(self.reference, sessions.log)

    def realism(self, sessions: Sessions, judge_seed: int, interval: bool = True) -> dict:
        """The judge's report on these simulated sessions against the real ones of the same users."""
        return judge(self.real, self.features(sessions), self.real_users, sessions.log.owner, seed=judge_seed,
                     interval=interval)

    def realism_auc(self, params: SimulatorParams) -> float:
        """The fitting judge's AUC (no interval): what ``fit_realism`` minimises."""
        return self.realism(self.simulate(params), FIT_JUDGE_SEED + self.seed, interval=False)["auc"]


@dataclass(frozen=True)
class Panel:
    """Users simulated for a fixed number of turns each, to be judged against their held-out events."""

    world: World
    population: Population  # one row per user
    ranking: np.ndarray
    starts: np.ndarray  # (U,) the user's first held-out event time
    seen: sp.csr_matrix
    habits: Habits
    held_out: Interactions
    turns: int
    slate: int = 20
    seed: int = 0

    def simulate(self, params: SimulatorParams) -> Sessions:
        return simulate(self.world, self.population, self.ranking, params, self.habits, self.starts, self.seen,
                        self.turns, self.slate, self.seed + 11, lengths=np.full(len(self.population), self.turns),
                        probes=True)

    def scores(self, sessions: Sessions) -> dict[str, np.ndarray]:
        return reality_scores(self.world, self.held_out, self.population.user, sessions.log.items, sessions.probes,
                              self.seed)

    def with_seed(self, seed: int) -> Panel:
        return replace(self, seed=seed)

    def reward(self, params: SimulatorParams) -> float:
        """Mean over users of own minus another user's prompt-to-line fit."""
        s = self.scores(self.simulate(params))
        return float(np.nanmean(per_user(s["prompt_to_line"]) - per_user(s["prompt_to_line_other"])))


def cross_entropy_method(objective: Callable[[dict[str, float]], float], bounds: dict[str, tuple[float, float]],
                         start: dict[str, float] | None = None, iterations: int = 6, samples: int = 12,
                         elite: float = 0.25, seed: int = 0) -> tuple[dict[str, float], float, list[float]]:
    """Minimise ``objective`` over a box. Returns (best parameters, best value, best value per iteration)."""
    rng = np.random.default_rng(seed)
    names = list(bounds)
    low, high = np.array([bounds[n][0] for n in names]), np.array([bounds[n][1] for n in names])
    mean = np.clip(np.array([start[n] for n in names]), low, high) if start else (low + high) / 2
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


def fit_realism(arena: Arena, start: SimulatorParams | None = None, iterations: int = 6,
                samples: int = 12) -> tuple[SimulatorParams, dict]:
    """The free simulator: parameters that make sessions hardest to tell from real ones (anchor = 0)."""
    base = (start or SimulatorParams()).with_values(anchor=0.0)
    best, value, history = cross_entropy_method(
        lambda p: arena.realism_auc(base.with_values(**p)), REALISM_BOUNDS,
        {k: getattr(base, k) for k in REALISM_BOUNDS}, iterations, samples, seed=arena.seed)
    return base.with_values(**best), {"fit_auc": value, "auc_per_iteration": history,
                                      "evaluations": 1 + iterations * samples}


def learn_anchoring(arena: Arena, panel: Panel, free: SimulatorParams, tolerance: float = 0.02,
                    iterations: int = 4, samples: int = 8) -> tuple[SimulatorParams, dict]:
    """The anchor that maximises consistency with the fit users' held-out behaviour while the fitting judge's
    AUC stays within ``tolerance`` of the free simulator's."""
    limit = arena.realism_auc(free) + tolerance

    def loss(values: dict[str, float]) -> float:
        params = free.with_values(**values)
        excess = max(0.0, arena.realism_auc(params) - limit)
        return -panel.reward(params) + 10.0 * excess

    best, value, history = cross_entropy_method(loss, ANCHOR_BOUNDS, {"anchor": 0.0}, iterations, samples,
                                                seed=arena.seed + 1)
    anchored = free.with_values(**best)
    return anchored, {"fit_reward": -value, "reward_per_iteration": [-h for h in history],
                      "free_fit_reward": panel.reward(free), "auc_limit": limit,
                      "anchored_fit_auc": arena.realism_auc(anchored)}
