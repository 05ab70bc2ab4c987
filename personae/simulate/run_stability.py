"""Stability: is run-to-run variance small beside cross-persona variance? ICC(1) over P personas x R seeds.

Each simulated user runs R sessions of fixed length with different seeds. Outputs per run: the genre
distribution of its picks (one value per genre, pooled as a multivariate ICC), its mean rating and its take
rate (share of picks from the recommender's list). ICC(1) with its F interval and shuffled-label null comes
from ``personae.stats.icc1``.
"""

from __future__ import annotations

import numpy as np

from personae.simulate.anchoring import Panel
from personae.simulate.reality import per_user
from personae.simulate.simulator import SimulatorParams
from personae.stats import icc1


def run_outputs(panel: Panel, params: SimulatorParams, runs: int) -> dict[str, np.ndarray]:
    """Outputs (P * R[, G]) of ``runs`` seeded runs of every user of ``panel``, and (P * R,) persona labels."""
    genre, rating, take = [], [], []
    for r in range(runs):
        s = panel.with_seed(panel.seed + 1000 * r).simulate(params)
        counts = (panel.world.genres[np.maximum(s.log.items, 0)] * s.picked[..., None]).sum(axis=1)
        genre.append(counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12))
        rating.append(per_user(s.log.ratings))
        take.append(s.from_list.mean(axis=1))
    labels = np.tile(np.arange(len(panel.population)), runs)
    return {"genre": np.concatenate(genre), "rating": np.concatenate(rating), "take_rate": np.concatenate(take),
            "persona": labels}


def icc_report(outputs: dict[str, np.ndarray], seed: int = 0) -> dict:
    """ICC(1) of each output over personas, with interval and shuffled-label null."""
    genre = outputs["genre"][:, outputs["genre"].std(axis=0) > 0]  # genres never picked carry no variance
    return {name: icc1(values, outputs["persona"], unit="personas", seed=seed).to_dict()
            for name, values in (("genre", genre), ("rating", outputs["rating"]),
                                 ("take_rate", outputs["take_rate"]))}
