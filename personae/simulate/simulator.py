"""The persona-conditioned user simulator: a session-level persona mix, a turn-level latent, a choice model.

Each simulated user keeps, for the whole session, its persona mix (K vectors + prior weights). Each turn it has
an *active persona* z_t and a *taste deviation* d_t; its taste is v_t = p_{z_t} + d_t. With probability
``stickiness`` the turn-level latent stays as it was; otherwise the active persona is redrawn from the mix and
the deviation takes a random step, d <- (1 - anchor) d + noise. ``anchor`` is the pull back toward the session
mix (0 = free: the deviation is a random walk and the persona drifts; 1 = fully anchored).

Shown a slate of k items, the user picks by a multinomial logit over
    u_j = z_j / temperature - position_bias * log(1 + rank_j),   u_none = no_choice / temperature
where z_j = (<v_t, e_j> + pop_weight * b_j - m_u) / s_u is the affinity standardised on the user's own history
items (m_u, s_u), so ``no_choice = 0`` means "take nothing unless it beats my typical past item"
(intent browse = the no-choice option, click/rate = a pick), rates the pick on its own 1-5 scale, answers a
genre probe (its rating of each genre's centroid item), and leaves with hazard
base_leave * (activity / median activity) ** -activity_power + fatigue * (turns so far without a pick). Everything is vectorised over users and seeded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from personae.simulate.world import Population, World

BROWSE, CLICK, RATE, LEAVE, GONE = 0, 1, 2, 3, 4  # turn intents (GONE: after leaving)


@dataclass(frozen=True)
class SimulatorParams:
    """The simulator's knobs. Defaults are neutral starting points; fit them with ``anchoring.fit_realism``."""

    stickiness: float = 0.8  # P(turn-level latent unchanged between turns)
    anchor: float = 0.0  # pull of the deviation back to the session mix per switch (0 = free simulator)
    drift: float = 0.3  # size of a deviation step, in units of the user's mean persona norm
    temperature: float = 1.0  # logit temperature of the choice model
    pop_weight: float = 1.0  # weight of the item bias (popularity) in the utility
    position_bias: float = 0.5  # utility lost per log(1 + rank) in the slate
    no_choice: float = 0.0  # standardised affinity the slate must beat to be picked from (see module docstring)
    base_leave: float = 0.02  # leave hazard per turn
    fatigue: float = 0.1  # extra leave hazard per turn without a pick
    activity_power: float = 0.0  # base hazard scales as (activity / median activity) ** -activity_power
    rate_prob: float = 1.0  # P(a pick is rated)
    rating_shift: float = 0.0  # added to every rating before rounding (picks are better than the history mean)
    rating_spread: float = 1.0  # multiplies the user's rating spread

    def to_dict(self) -> dict:
        return asdict(self)

    def with_values(self, **values: float) -> SimulatorParams:
        return replace(self, **{k: float(v) for k, v in values.items()})


@dataclass
class Sessions:
    """What U simulated users did over T turns (slates of k items)."""

    shown: np.ndarray  # (U, T, k) item indices shown
    chosen: np.ndarray  # (U, T) picked item index, -1 for none (browse, or gone)
    rank: np.ndarray  # (U, T) slate position of the pick, -1 for none
    rating: np.ndarray  # (U, T) 1-5 rating of the pick, NaN when unrated
    intent: np.ndarray  # (U, T) BROWSE / CLICK / RATE / LEAVE / GONE
    persona: np.ndarray  # (U, T) active persona slot
    probes: np.ndarray  # (U, T, G) affinity the user's current taste gives each genre (the probe answers)
    stance: np.ndarray  # (U, T, G) those answers on the user's 1-5 rating scale

    @property
    def active(self) -> np.ndarray:
        """(U, T) the user was in session this turn (the leave turn counts)."""
        return self.intent != GONE

    @property
    def length(self) -> np.ndarray:
        """(U,) turns spent in session."""
        return self.active.sum(axis=1)

    @property
    def picked(self) -> np.ndarray:
        return self.chosen >= 0


def to_scale(affinity: np.ndarray, population: Population, mean: np.ndarray | None = None,
             std: np.ndarray | None = None) -> np.ndarray:
    """Affinities (U, ...) -> ratings 1-5: standardised by (U,) ``mean`` and ``std`` (default: the affinities of
    the user's own history), then put on the user's real rating scale."""
    mean = population.affinity_mean if mean is None else mean
    std = population.affinity_std if std is None else std
    extra = (slice(None),) + (None,) * (affinity.ndim - 1)
    z = (affinity - mean[extra]) / std[extra]
    return np.clip(np.rint(population.rating_mean[extra] + population.rating_std[extra] * z), 1, 5)


def genre_profile(world: World, population: Population) -> np.ndarray:
    """(U, G) the genre probe answers of each user's session mix as a whole (no active persona, no drift)."""
    centroids, bias = world.centroids
    per_persona = np.einsum("ukd,gd->ukg", population.personas, centroids) + bias  # (U, K, G)
    return np.einsum("uk,ukg->ug", population.weights, per_persona)


def simulate(world: World, population: Population, ranking: np.ndarray, params: SimulatorParams, turns: int,
             slate: int = 10, seed: int = 0, allow_leave: bool = True) -> Sessions:
    """Run U users for ``turns`` turns. ``ranking`` (U, >= turns * slate): each user's recommended items in
    order; turn t shows positions [t * slate, (t + 1) * slate) (a static recommender paging down its list)."""
    if ranking.shape[1] < turns * slate:
        raise ValueError(f"ranking has {ranking.shape[1]} items per user; {turns} turns of {slate} need "
                         f"{turns * slate}")
    rng = np.random.default_rng(seed)
    n, g = len(population), world.genres.shape[1]
    users = np.arange(n)
    centroids, centroid_bias = world.centroids  # (G, dim), (G,)
    profile = genre_profile(world, population)  # (U, G): a genre probe is rated relative to the user's genres
    probe_mean, probe_std = profile.mean(axis=1), np.maximum(profile.std(axis=1), 1e-6)
    step = params.drift * _mean_norm(population) / np.sqrt(world.items.shape[1])  # (U,) per coordinate
    z = _draw(rng, population.weights)  # (U,)
    deviation = np.zeros((n, world.items.shape[1]))
    in_session = np.ones(n, dtype=bool)
    misses = np.zeros(n)
    activity = np.maximum(population.activity, 1.0)
    base_hazard = params.base_leave * (activity / np.median(activity)) ** -params.activity_power  # (U,)
    out = Sessions(np.asarray([ranking[:, t * slate:(t + 1) * slate] for t in range(turns)]).transpose(1, 0, 2),
                   np.full((n, turns), -1), np.full((n, turns), -1), np.full((n, turns), np.nan),
                   np.full((n, turns), GONE), np.zeros((n, turns), dtype=np.int64), np.zeros((n, turns, g)),
                   np.zeros((n, turns, g)))
    position_cost = params.position_bias * np.log1p(np.arange(slate))  # (k,)
    for t in range(turns):
        if t > 0:
            move = rng.random(n) >= params.stickiness  # (U,) the turn-level latent changes
            z = np.where(move, _draw(rng, population.weights), z)
            noise = rng.standard_normal(deviation.shape) * step[:, None]
            deviation = np.where(move[:, None], (1.0 - params.anchor) * deviation + noise, deviation)
        taste = population.personas[users, z] + deviation  # (U, dim)
        items = out.shown[:, t]  # (U, k)
        affinity = np.einsum("ud,ukd->uk", taste, world.items[items]) + world.bias[items]  # (U, k)
        standard = (affinity + (params.pop_weight - 1.0) * world.bias[items] - population.affinity_mean[:, None]) \
            / population.affinity_std[:, None]  # (U, k)
        logits = np.concatenate([standard, np.full((n, 1), params.no_choice)], axis=1) / params.temperature
        logits[:, :slate] -= position_cost  # (U, k + 1)
        pick = _draw(rng, _softmax(logits))  # (U,) k = no choice
        probes = taste @ centroids.T + centroid_bias  # (U, G)
        out.probes[:, t] = probes
        out.stance[:, t] = to_scale(probes, population, probe_mean, probe_std)
        out.persona[:, t] = z
        picked = in_session & (pick < slate)
        rated = picked & (rng.random(n) < params.rate_prob)
        safe = np.minimum(pick, slate - 1)
        out.chosen[:, t] = np.where(picked, items[users, safe], -1)
        out.rank[:, t] = np.where(picked, safe, -1)
        ratings = np.clip(np.rint(params.rating_shift + population.rating_mean + params.rating_spread
                                  * population.rating_std * _standard(affinity[users, safe], population)), 1, 5)
        out.rating[:, t] = np.where(rated, ratings, np.nan)
        intent = np.where(rated, RATE, np.where(picked, CLICK, BROWSE))
        misses = np.where(picked, 0.0, misses + 1.0)
        if allow_leave:
            hazard = np.clip(base_hazard + params.fatigue * misses, 0.0, 1.0)
            leaving = in_session & (rng.random(n) < hazard)
            intent = np.where(leaving, LEAVE, intent)
        else:
            leaving = np.zeros(n, dtype=bool)
        out.intent[:, t] = np.where(in_session, intent, GONE)
        in_session = in_session & ~leaving
    return out


def random_sessions(world: World, population: Population, ranking: np.ndarray, turns: int, slate: int = 10,
                    seed: int = 0) -> Sessions:
    """The null simulator: uniform picks among the slate and 'none', probe answers drawn at random.

    It has no persona at all, so every consistency metric should score at its chance level on it.
    """
    rng = np.random.default_rng(seed)
    n, g = len(population), world.genres.shape[1]
    shown = np.asarray([ranking[:, t * slate:(t + 1) * slate] for t in range(turns)]).transpose(1, 0, 2)
    pick = rng.integers(0, slate + 1, size=(n, turns))
    picked = pick < slate
    safe = np.minimum(pick, slate - 1)
    chosen = np.where(picked, np.take_along_axis(shown, safe[..., None], axis=2)[..., 0], -1)
    stance = rng.integers(1, 6, size=(n, turns, g)).astype(np.float64)
    return Sessions(shown, chosen, np.where(picked, safe, -1),
                    np.where(picked, rng.integers(1, 6, size=(n, turns)), np.nan),
                    np.where(picked, RATE, BROWSE), rng.integers(0, population.weights.shape[1], size=(n, turns)),
                    stance + rng.random((n, turns, g)) * 0.01, stance)


def _standard(affinity: np.ndarray, population: Population) -> np.ndarray:
    """(U,) affinities standardised on the affinities of each user's own history."""
    return (affinity - population.affinity_mean) / population.affinity_std


def _mean_norm(population: Population) -> np.ndarray:
    """(U,) prior-weighted mean norm of each user's personas: the unit of a deviation step."""
    return np.einsum("uk,uk->u", population.weights, np.linalg.norm(population.personas, axis=2))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _draw(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """(U, C) rows of probabilities -> (U,) one index per row by inverse CDF."""
    cumulative = np.cumsum(probabilities, axis=1)
    u = rng.random((len(probabilities), 1)) * cumulative[:, -1:]
    return np.minimum((u > cumulative).sum(axis=1), probabilities.shape[1] - 1)
