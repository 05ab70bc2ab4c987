"""The whole study behind ``personae simulate``: fit the simulator to real users, measure it, then put models in
the loop.

Real users are split in half: *tuning* users fit the free simulator (realism) and learn the anchoring;
*held-out* users give every reported realism, consistency, drift and ICC figure. The simulator's world and
personas come from the first model that has item vectors (ampcf preferred); every model given is then run in
the loop against the same simulated users.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from personae.data.interactions import Interactions
from personae.data.sources import DataSource, load_source
from personae.errors import DataError
from personae.models.base import Recommender
from personae.models.persistence import load_model
from personae.simulate import coverage as cov
from personae.simulate.anchoring import Setup, fit_realism, learn_anchoring
from personae.simulate.realism import REALISM_TURN_FACTOR, real_sessions, realism, session_features
from personae.simulate.recommender_loop import compare_models, ranked_lists
from personae.simulate.run_stability import icc_report, run_outputs
from personae.simulate.session_consistency import consistency, drift_reduction, summarize
from personae.simulate.simulator import SimulatorParams, random_sessions, simulate
from personae.simulate.world import Population, World, population_from_model, world_from_model


@dataclass(frozen=True)
class StudyOptions:
    users: int = 1000  # simulated users in the loop (drawn from the real users' personas, with repeats if needed)
    turns: int = 20
    slate: int = 10
    seed: int = 0
    iterations: int = 6  # CEM iterations of each fit
    samples: int = 12  # CEM candidates per iteration
    icc_personas: int = 100
    icc_runs: int = 5
    coverage_size: int = 200  # personas per generator
    generations: int = 300
    world: str | None = None  # name of the model the simulated users are made of (default: see world_model)


def load_models(model_dirs: list[str | Path]) -> dict[str, Recommender]:
    """Saved models by name (a repeated name gets its folder name appended)."""
    models: dict[str, Recommender] = {}
    for folder in model_dirs:
        model = load_model(folder)
        name = model.name if model.name not in models else f"{model.name}:{Path(folder).name}"
        models[name] = model
    return models


def world_model(models: dict[str, Recommender], name: str | None = None) -> Recommender:
    """The model the simulated users are made of: ``name``, else the first multi-persona one, else the first
    with item vectors. Its own recommendations have a home advantage in the loop (users like what it scores)."""
    if name is not None:
        if name not in models:
            raise DataError(f"--world {name}: not among the models given ({', '.join(models)})")
        models = {name: models[name]}
    with_vectors = [m for m in models.values() if getattr(getattr(m, "network_", None), "items", None) is not None]
    if not with_vectors:
        raise DataError(f"none of {', '.join(models)} has item vectors; give at least one ampcf, mf or bpr model")
    multi = [m for m in with_vectors if hasattr(m.network_, "persona_weights")]
    return (multi or with_vectors)[0]


def source_data(model: Recommender) -> Interactions:
    """The real data the model was trained from (with ratings, timestamps, user profiles)."""
    config = getattr(model, "saved_config_", {})
    if "source" not in config:
        return model.fitted_data
    return load_source(DataSource.from_dict(config["source"]))


def decode_traits(traits: np.ndarray, real_traits: np.ndarray, real: Population, world: World,
                  seed: int = 0) -> Population:
    """Simulated users for generated trait vectors.

    One persona each: its direction from a ridge map of traits to the real users' mix vectors, its length the
    real users' median. The identity a recommender serves (and the rating scale) is the nearest real user's; the
    affinity scale comes from a pseudo-history of items the persona itself would pick from the catalogue.
    """
    x = np.column_stack([real_traits, np.ones(len(real_traits))])
    mix = real.mix_vectors()
    weights = np.linalg.solve(x.T @ x + 1e-2 * np.eye(x.shape[1]), x.T @ mix)  # (D + 1, dim)
    taste = np.column_stack([traits, np.ones(len(traits))]) @ weights  # (N, dim)
    taste *= np.median(np.linalg.norm(mix, axis=1)) / np.maximum(np.linalg.norm(taste, axis=1, keepdims=True), 1e-12)
    d2 = (traits ** 2).sum(1)[:, None] + (real_traits ** 2).sum(1)[None] - 2 * traits @ real_traits.T
    nearest = real.take(np.argmin(d2, axis=1))
    affinity = taste @ world.items.T + world.bias  # (N, n_items)
    rng = np.random.default_rng(seed)
    size = int(np.median(real.activity))
    mean, std = np.zeros(len(traits)), np.ones(len(traits))
    for row, values in enumerate(affinity):
        p = np.exp(values - values.max())
        history = rng.choice(len(values), size=min(size, len(values)), replace=False, p=p / p.sum())
        mean[row], std[row] = values[history].mean(), max(values[history].std(), 1e-6)
    return Population(taste[:, None, :], np.ones((len(traits), 1)), nearest.proxy, nearest.rating_mean,
                      nearest.rating_std, mean, std, np.full(len(traits), float(size)), nearest.profile)


def run_study(model_dirs: list[str | Path], options: StudyOptions = StudyOptions(), log=print) -> dict:
    """Everything in one report (the JSON of ``personae simulate --json``)."""
    with single_threaded_blas():
        return _run_study(model_dirs, options, log)


def single_threaded_blas():
    """One BLAS thread: the study multiplies many small matrices, and on a shared machine threaded BLAS makes
    each product ~20x slower. threadpoolctl is used when installed (it comes with scikit-learn)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(1)


def _run_study(model_dirs: list[str | Path], options: StudyOptions, log) -> dict:
    o = options
    models = load_models(model_dirs)
    source_model = world_model(models, o.world)
    data = source_data(source_model)
    world = world_from_model(source_model, data)
    log(f"world: {source_model.name} ({world.n_items} items); building personas of {source_model.fitted_data.n_users} users")
    everyone = population_from_model(source_model, data, world)
    item_ids = source_model.fitted_data.item_ids
    ranking = ranked_lists(source_model, everyone.proxy, REALISM_TURN_FACTOR * o.turns * o.slate, item_ids)
    order = np.random.default_rng(o.seed).permutation(len(everyone))
    tune, held = np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2:])

    def real_features(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features of the real sessions of users ``index``, and the user (into ``everyone``) of each session."""
        chosen, rating, owner = real_sessions(data, list(everyone.proxy[index]), o.turns)
        return session_features(world, chosen, rating), index[owner]

    tune_real, tune_owner = real_features(tune)
    tuning = Setup(world, everyone.take(tune_owner), ranking[tune_owner], tune_real, o.turns, o.slate, o.seed)
    log("fitting the free simulator for realism (tuning users)")
    free, free_fit = fit_realism(tuning, iterations=o.iterations, samples=o.samples)
    log("learning the consistency anchoring under the realism constraint")
    anchored, anchor_fit = learn_anchoring(tuning, free, iterations=o.iterations, samples=o.samples)

    held_pop, held_rank = everyone.take(held), ranking[held]  # consistency: each held-out user once
    held_real, held_owner = real_features(held)  # realism: each user once per real session
    report: dict = {"world_model": source_model.name, "users": o.users, "turns": o.turns, "slate": o.slate,
                    "seed": o.seed, "tuning_users": len(tune), "held_out_users": len(held),
                    "params": {"free": free.to_dict(), "anchored": anchored.to_dict()},
                    "fit": {"free": free_fit, "anchored": anchor_fit}}
    log("realism and consistency on held-out users")
    real_report, scores = {}, {}
    for name, params in (("free", free), ("anchored", anchored)):
        sessions = simulate(world, everyone.take(held_owner), ranking[held_owner], params,
                            REALISM_TURN_FACTOR * o.turns, o.slate, o.seed + 7)
        real_report[name] = realism(world, held_real, sessions, o.turns, o.seed)
        steady = simulate(world, held_pop, held_rank, params, o.turns, o.slate, o.seed + 7, allow_leave=False)
        scores[name] = consistency(world, held_pop, steady, o.seed)
    rand = random_sessions(world, everyone.take(held_owner), ranking[held_owner], REALISM_TURN_FACTOR * o.turns,
                           o.slate, o.seed + 7)
    real_report["random"] = realism(world, held_real, rand, o.turns, o.seed)
    rand = random_sessions(world, held_pop, held_rank, o.turns, o.slate, o.seed + 7)
    scores["random"] = consistency(world, held_pop, rand, o.seed)
    report["realism"] = real_report
    report["realism_auc"] = real_report["free"]["discriminator"]["auc"]
    report["consistency"] = {name: summarize(s) for name, s in scores.items()}
    reduction = drift_reduction(scores["free"], scores["anchored"], seed=o.seed)
    report["drift"] = reduction
    report["drift_reduction"] = reduction["reduction"]

    log("stability (ICC) over seeded runs")
    picked = held[: o.icc_personas]
    icc = {}
    for name, params in (("free", free), ("anchored", anchored)):
        outputs = run_outputs(world, everyone.take(picked), ranking[picked], params, o.turns, o.icc_runs,
                              o.slate, o.seed)
        icc[name] = icc_report(outputs, world.genre_names, o.seed)
    report["stability"] = icc
    report["icc"] = icc["free"]["icc"]

    log("coverage-driven persona generation")
    report["coverage"] = coverage_study(data, everyone, models, world, anchored, o, item_ids)

    log(f"recommenders in the loop: {', '.join(models)}")
    drawn = np.random.default_rng(o.seed + 3).choice(len(everyone), o.users, replace=o.users > len(everyone))
    report["models"] = compare_models(world, everyone.take(drawn), models, anchored, o.turns, o.slate, o.seed,
                                      item_ids)
    report["loop_simulator"] = "anchored"
    return report


def coverage_study(data: Interactions, everyone: Population, models: dict[str, Recommender], world: World,
                   params: SimulatorParams, o: StudyOptions, item_ids: np.ndarray) -> dict:
    """Density vs evolutionary generator at equal size; then the models on the rare personas."""
    rows = np.asarray([data.user_index(u) for u in everyone.proxy])
    all_traits, names = cov.user_traits(data)
    traits = all_traits[rows]
    dim = traits.shape[1]
    fit_points = cov.monte_carlo_points(dim, 4096, o.seed)
    eval_points = cov.monte_carlo_points(dim, 8192, o.seed + 1)  # fresh points: no credit for overfitting
    radius = cov.sobol_radius(dim, o.coverage_size, fit_points, seed=o.seed)
    density = cov.density_generator(traits, o.coverage_size, o.seed)
    evolved, history = cov.evolutionary_generator(traits, o.coverage_size, fit_points, radius, o.generations,
                                                  seed=o.seed)
    sobol = cov.sobol_population(dim, o.coverage_size, o.seed + 1)
    real = traits[np.random.default_rng(o.seed).choice(len(traits), min(o.coverage_size, len(traits)), False)]
    out = {"traits": names, "radius": radius, "mc_points": len(eval_points),
           "density": cov.coverage_report(density, eval_points, radius),
           "evolutionary": {**cov.coverage_report(evolved, eval_points, radius), "per_generation": history[::25]},
           "sobol_reference": cov.coverage_report(sobol, eval_points, radius),
           "real_users": cov.coverage_report(real, eval_points, radius)}
    rare = cov.rare_personas(evolved, density, radius)
    out["rare_personas"] = len(rare)
    if len(rare):
        groups = {"density": decode_traits(density, traits, everyone, world, o.seed),
                  "rare": decode_traits(evolved[rare], traits, everyone, world, o.seed)}
        out["models_on_personas"] = {
            group: {name: {k: v for k, v in entry.items() if k != "bubble_per_turn"}
                    for name, entry in compare_models(world, population, models, params, o.turns, o.slate,
                                                      o.seed, item_ids).items()}
            for group, population in groups.items()}
    return out
