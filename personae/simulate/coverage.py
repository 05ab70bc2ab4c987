"""Coverage-driven persona generation (after arXiv:2602.03545): cover the trait space, rare corners included.

Trait space [0, 1]^D: per genre, the share of a user's items carrying it; activity (log event count, min-max
scaled over real users); diversity (genre entropy over its maximum). Two generators of N personas:
- density matching: draw real users' traits and add Gaussian noise of Scott's bandwidth (a kernel density
  sample), clipped to the box;
- evolutionary: start from the density sample and evolve it to maximise support coverage (mutants replace the
  member whose loss costs least coverage, when the swap gains coverage).
Measures at equal N: support coverage (share of uniform Monte-Carlo points within radius r of some persona, r
calibrated so a Sobol population of size N covers 99%), minimum pairwise distance, and dispersion (largest
distance from a Monte-Carlo point to its nearest persona). Real users (N drawn) are the reference.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import qmc

from personae.data.interactions import Interactions


def user_traits(data: Interactions, genre_names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """(n_users, D) traits in [0, 1] and their names (genre shares, activity, diversity)."""
    matrix, names = data.genre_onehot
    keep = [j for j, n in enumerate(names) if n != "unknown" and (genre_names is None or n in genre_names)]
    counts = np.zeros((data.n_users, len(keep)))
    np.add.at(counts, data.users, matrix[data.items][:, keep])
    events = np.bincount(data.users, minlength=data.n_users).astype(np.float64)
    share = counts / np.maximum(events, 1)[:, None]
    log_events = np.log1p(events)
    activity = (log_events - log_events.min()) / max(np.ptp(log_events), 1e-12)
    p = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)
    entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1) / np.log(len(keep))
    return np.column_stack([share, activity, entropy]), [names[j] for j in keep] + ["activity", "diversity"]


def _nearest(points: np.ndarray, personas: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """(M,) distance from each point to its nearest persona."""
    sq = (personas ** 2).sum(axis=1)
    out = []
    for s in range(0, len(points), chunk):
        x = points[s:s + chunk]
        d2 = (x ** 2).sum(axis=1)[:, None] + sq[None, :] - 2 * x @ personas.T
        out.append(np.sqrt(np.maximum(d2.min(axis=1), 0.0)))
    return np.concatenate(out)


def monte_carlo_points(dim: int, n: int = 4096, seed: int = 0) -> np.ndarray:
    """(n, dim) uniform points in the unit box."""
    return np.random.default_rng(seed).random((n, dim))


def sobol_radius(dim: int, size: int, points: np.ndarray, target: float = 0.99, seed: int = 0) -> float:
    """The radius at which a scrambled Sobol population of ``size`` covers ``target`` of ``points``."""
    return float(np.quantile(_nearest(points, sobol_population(dim, size, seed)), target))


def sobol_population(dim: int, size: int, seed: int = 0) -> np.ndarray:
    """(size, dim) scrambled Sobol points (any size: the power-of-two balance warning does not apply here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return qmc.Sobol(dim, scramble=True, seed=seed).random(size)


def support_coverage(personas: np.ndarray, points: np.ndarray, radius: float) -> float:
    return float((_nearest(points, personas) <= radius).mean())


def min_pairwise_distance(personas: np.ndarray) -> float:
    sq = (personas ** 2).sum(axis=1)
    d2 = sq[:, None] + sq[None, :] - 2 * personas @ personas.T
    np.fill_diagonal(d2, np.inf)
    return float(np.sqrt(max(d2.min(), 0.0)))


def dispersion(personas: np.ndarray, points: np.ndarray) -> float:
    return float(_nearest(points, personas).max())


def coverage_report(personas: np.ndarray, points: np.ndarray, radius: float) -> dict:
    return {"support_coverage": support_coverage(personas, points, radius),
            "min_pairwise_distance": min_pairwise_distance(personas), "dispersion": dispersion(personas, points),
            "size": len(personas)}


def density_generator(traits: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """(size, D) kernel-density samples of the real users' traits (Scott's bandwidth), clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    n, dim = traits.shape
    bandwidth = traits.std(axis=0) * n ** (-1.0 / (dim + 4))
    drawn = traits[rng.integers(0, n, size)]
    return np.clip(drawn + rng.standard_normal((size, dim)) * bandwidth, 0.0, 1.0)


def evolutionary_generator(traits: np.ndarray, size: int, points: np.ndarray, radius: float,
                           generations: int = 300, offspring: int = 16, mutation: float = 0.15,
                           seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """(size, D) personas evolved for support coverage, and the coverage after each generation."""
    rng = np.random.default_rng(seed)
    population = density_generator(traits, size, seed)
    sq_points = (points ** 2).sum(axis=1)

    def covers(x: np.ndarray) -> np.ndarray:  # (m, D) -> (m, M) bool
        d2 = (x ** 2).sum(axis=1)[:, None] + sq_points[None, :] - 2 * x @ points.T
        return d2 <= radius ** 2

    cover = covers(population)  # (N, M)
    count = cover.sum(axis=0)  # (M,) personas covering each point
    history = []
    for _ in range(generations):
        parents = population[rng.integers(0, size, offspring)]
        children = np.clip(parents + mutation * rng.standard_normal(parents.shape), 0.0, 1.0)
        for child, child_cover in zip(children, covers(children)):
            alone = (cover & (count == 1)[None, :]).sum(axis=1)  # (N,) points only this persona covers
            weakest = int(np.argmin(alone))
            gain = (child_cover & ((count - cover[weakest]) == 0)).sum()
            if gain > alone[weakest]:
                count += child_cover.astype(count.dtype) - cover[weakest]
                cover[weakest], population[weakest] = child_cover, child
        history.append(float((count > 0).mean()))
    return population, history


def rare_personas(generated: np.ndarray, reference: np.ndarray, radius: float) -> np.ndarray:
    """Indices of generated personas farther than ``radius`` from every reference persona."""
    return np.flatnonzero(_nearest(generated, reference) > radius)


def knn_distance(points: np.ndarray, reference: np.ndarray, k: int = 5, exclude_self: bool = False) -> np.ndarray:
    """(M,) distance from each point to its k-th nearest reference point (skipping itself when the points are
    the reference)."""
    sq = (reference ** 2).sum(axis=1)
    out = []
    for s in range(0, len(points), 1024):
        x = points[s:s + 1024]
        d2 = np.maximum((x ** 2).sum(axis=1)[:, None] + sq[None, :] - 2 * x @ reference.T, 0.0)
        out.append(np.sqrt(np.sort(d2, axis=1)[:, k if exclude_self else k - 1]))
    return np.concatenate(out)


class Plausibility:
    """Where real users can be: within the k-th-neighbour distance of the fit users' traits that ``quantile``
    of the fit users themselves reach (leave-one-out). Validated by the share of held-out users inside."""

    def __init__(self, reference: np.ndarray, k: int = 5, quantile: float = 0.95):
        self.reference, self.k, self.quantile = reference, k, quantile
        self.threshold = float(np.quantile(knn_distance(reference, reference, k, exclude_self=True), quantile))

    def distance(self, points: np.ndarray) -> np.ndarray:
        return knn_distance(points, self.reference, self.k)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        return self.distance(points) <= self.threshold


def plausible_points(traits: np.ndarray, plausible: Plausibility, n: int = 4096, widen: float = 2.0,
                     seed: int = 0) -> np.ndarray:
    """Points spread over the plausible region: real traits plus noise of ``widen`` x Scott's bandwidth, kept
    where plausible."""
    rng = np.random.default_rng(seed)
    n_users, dim = traits.shape
    bandwidth = widen * traits.std(axis=0) * n_users ** (-1.0 / (dim + 4))
    drawn = np.clip(traits[rng.integers(0, n_users, 4 * n)] + rng.standard_normal((4 * n, dim)) * bandwidth, 0, 1)
    return drawn[plausible(drawn)][:n]


def covered(targets: np.ndarray, personas: np.ndarray, radius: float) -> np.ndarray:
    """(M,) 1.0 where a target lies within ``radius`` of some persona."""
    return (_nearest(targets, personas) <= radius).astype(np.float64)


def rarity_generator(traits: np.ndarray, size: int, plausible: Plausibility, alpha: float,
                     seed: int = 0) -> np.ndarray:
    """(<= size, D) kernel-density samples that over-draw rare real users: a user is drawn with weight
    (k-th-neighbour distance) ** ``alpha`` (0 = density matching), noise of Scott's bandwidth is added, and only
    plausible samples are kept. Aimed at the sparse edge of where real users are, not at empty space."""
    rng = np.random.default_rng(seed)
    n, dim = traits.shape
    weight = knn_distance(traits, traits, plausible.k, exclude_self=True) ** alpha
    bandwidth = traits.std(axis=0) * n ** (-1.0 / (dim + 4))
    drawn = traits[rng.choice(n, 20 * size, p=weight / weight.sum())]
    candidates = np.clip(drawn + rng.standard_normal(drawn.shape) * bandwidth, 0.0, 1.0)
    return candidates[plausible(candidates)][:size]


def rare_fifth(points: np.ndarray, plausible: Plausibility, share: float = 0.2) -> np.ndarray:
    """The ``share`` of ``points`` farthest (k-th neighbour) from the plausibility model's reference users."""
    distance = plausible.distance(points)
    return points[distance >= np.quantile(distance, 1.0 - share)]


def choose_rarity(traits: np.ndarray, size: int, radius: float, alphas: tuple[float, ...] = (0.0, 2.0, 4.0),
                  seed: int = 0) -> tuple[float, dict[float, float]]:
    """The over-draw exponent, chosen on ``traits`` alone: half of the users are the reference, the rare fifth
    of the other half are the targets; the alpha covering most targets wins (ties: the smallest)."""
    order = np.random.default_rng(seed).permutation(len(traits))
    reference, targets = traits[order[: len(order) // 2]], traits[order[len(order) // 2:]]
    plausible = Plausibility(reference)
    rare = rare_fifth(targets, plausible)
    scores = {a: float(covered(rare, rarity_generator(reference, size, plausible, a, seed), radius).mean())
              for a in alphas}
    return max(alphas, key=lambda a: (scores[a], -a)), scores
