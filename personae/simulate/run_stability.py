"""Stability: is run-to-run variance small beside cross-persona variance? ICC(1) over P personas x R seeds.

Each simulated persona (one user's mix) runs R times with different seeds. Outputs per run: the genre
distribution of the items it chose (one output per genre), its mean rating, its click-through and its session
length. ICC(1) comes from the LLM lab's one-way ANOVA (``personae.llm.variance.icc1``, the one copy). The null
shuffles which persona each run belongs to (within each run index), which leaves no persona signal: ICC ~ 0.
"""

from __future__ import annotations

import numpy as np

from personae.llm.variance import icc1, icc_over_items
from personae.simulate.simulator import SimulatorParams, simulate
from personae.simulate.world import Population, World


def run_outputs(world: World, population: Population, ranking: np.ndarray, params: SimulatorParams, turns: int,
                runs: int, slate: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """Outputs (P, R[, G]) of ``runs`` seeded runs of every persona. Leaving is off, so every run has T turns;
    a run without a rated pick takes the persona's mean rating over its other runs (else the grand mean)."""
    genre, rating, ctr = [], [], []
    for r in range(runs):
        s = simulate(world, population, ranking, params, turns, slate, seed + 1000 * r, allow_leave=False)
        chosen = world.genres[np.maximum(s.chosen, 0)] * s.picked[..., None]  # (P, T, G)
        counts = chosen.sum(axis=1)
        genre.append(counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12))
        with np.errstate(invalid="ignore"):
            rated = np.nansum(s.rating, axis=1) / np.maximum((~np.isnan(s.rating)).sum(axis=1), 1)
        rating.append(np.where((~np.isnan(s.rating)).any(axis=1), rated, np.nan))
        ctr.append(s.picked.mean(axis=1))
    rating_matrix = np.stack(rating, axis=1)  # (P, R)
    fill = np.nanmean(rating_matrix, axis=1, keepdims=True) if np.isfinite(rating_matrix).any() else 0.0
    fill = np.where(np.isnan(fill), np.nanmean(rating_matrix), fill)
    return {"genre": np.stack(genre, axis=1), "rating": np.where(np.isnan(rating_matrix), fill, rating_matrix),
            "ctr": np.stack(ctr, axis=1)}


def shuffled(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """The null: each run's column permuted over personas independently, so runs no longer share a persona."""
    rng = np.random.default_rng(seed)
    out = x.copy()
    for r in range(x.shape[1]):
        out[:, r] = x[rng.permutation(len(x)), r]
    return out


def icc_report(outputs: dict[str, np.ndarray], genre_names: list[str], seed: int = 0) -> dict:
    """ICC(1) per output with its null: ``genre`` pooled over genres plus one figure per genre."""
    genre = outputs["genre"]
    keep = genre.reshape(-1, genre.shape[2]).std(axis=0) > 0  # genres never chosen carry no variance
    pooled = icc_over_items(genre[:, :, keep])
    report = {"genre": {"icc1": pooled["icc1_pooled"], "null": icc_over_items(shuffled(genre, seed)[:, :, keep])[
        "icc1_pooled"], "per_genre": dict(zip([g for g, k in zip(genre_names, keep) if k], pooled["icc1_per_item"]))}}
    for name in ("rating", "ctr"):
        value = icc1(outputs[name])["icc1"]
        report[name] = {"icc1": float(value), "null": float(icc1(shuffled(outputs[name], seed))["icc1"])}
    report["icc"] = float(np.nanmean([report[k]["icc1"] for k in ("genre", "rating", "ctr")]))
    report["personas"], report["runs"] = int(genre.shape[0]), int(genre.shape[1])
    return report
