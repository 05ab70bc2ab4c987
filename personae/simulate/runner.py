"""The whole study behind ``personae simulate``: an honest holdout, a simulator fitted on some users and judged
on others, consistency against reality, recommenders in the loop, and coverage of plausible users.

1. Each user's latest 20% of events are held out (:mod:`personae.simulate.holdout`); every model given is
   retrained, with its saved options, on the earlier events only. The world (what simulated users are made
   of) is the multi-persona model (ampcf) unless ``world`` names another.
2. Users split in two: *fit* users fit the simulator (realism CEM against a judge of its own, the rating model,
   session habits, the anchor); *test* users give every figure, judged by a fresh classifier instance.
3. Realism on test users: the judge's AUC with its interval over users, beside the real-vs-real null and a
   random simulator. Consistency: simulated picks and probe answers against the same user's held-out events,
   beside another user's; drift and anchoring's effect on it. The loop: every model on distinct test users,
   then again in a world made of a second model. Coverage: generators judged on plausible users only.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from personae.data.interactions import Interactions
from personae.data.sources import DataSource, load_source
from personae.data.splits import leave_last_out
from personae.errors import DataError
from personae.models.base import Recommender
from personae.models.persistence import load_model, save_model
from personae.simulate import coverage as cov
from personae.simulate.anchoring import Arena, Panel, fit_realism, learn_anchoring
from personae.simulate.discriminator import real_vs_real
from personae.simulate.features import build_reference, feature_names, session_features
from personae.simulate.holdout import Holdout, SessionLog, per_user_holdout, real_sessions
from personae.simulate.ratings import fit_ordinal
from personae.simulate.reality import (
    drift_report,
    reality_scores,
    summarize,
)
from personae.simulate.recommender_loop import LIST_DEPTH, compare_models, draw_users, ranked_lists
from personae.simulate.run_stability import icc_report, run_outputs
from personae.simulate.session_consistency import self_agreement
from personae.simulate.simulator import (
    Habits,
    fit_habits,
    random_sessions,
    rating_predictors,
)
from personae.simulate.world import (
    Population,
    World,
    has_item_vectors,
    is_multi_persona,
    population_from_model,
    world_from_model,
)

VECTOR_MODELS = ("ampcf", "mf", "bpr")  # kinds whose networks have item vectors (a world can be made of them)


@dataclass(frozen=True)
class StudyOptions:
    users: int = 1000  # simulated users in the loop (distinct test users; fewer if there are fewer)
    turns: int = 20  # events per session (real sessions are cut there)
    slate: int = 20
    seed: int = 0
    holdout: float = 0.2  # share of each user's latest events held out from the world model
    iterations: int = 5  # CEM iterations of the realism fit
    samples: int = 10  # CEM candidates per iteration
    anchor_iterations: int = 4  # CEM iterations of the anchor fit (8 candidates each)
    icc_personas: int = 100
    icc_runs: int = 5
    coverage_size: int = 200  # personas per generator
    generations: int = 300
    world: str | None = None  # name of the model the simulated users are made of (default: see world_model)
    control_world: str | None = None  # a second world for the loop's verdict check (default: mf, else bpr)
    model_cache: Path | None = None  # folder to keep the retrained models in between runs


def load_models(model_dirs: list[str | Path]) -> dict[str, Recommender]:
    """Saved models by name (a repeated name gets its folder name appended)."""
    models: dict[str, Recommender] = {}
    for folder in model_dirs:
        model = load_model(folder)
        name = model.name if model.name not in models else f"{model.name}:{Path(folder).name}"
        models[name] = model
    return models


def world_model(models: dict[str, Recommender], name: str | None = None) -> str:
    """The name of the model the simulated users are made of: ``name``, else the first multi-persona one, else
    the first with item vectors (ampcf, mf, bpr)."""
    if name is not None:
        if name not in models:
            raise DataError(f"--world {name}: not among the models given ({', '.join(models)})")
        return name
    with_vectors = [n for n, m in models.items() if n.split(":")[0] in VECTOR_MODELS or has_item_vectors(m)]
    if not with_vectors:
        raise DataError(f"none of {', '.join(models)} has item vectors; give at least one ampcf, mf or bpr model")
    multi = [n for n in with_vectors if n.split(":")[0] == "ampcf" or is_multi_persona(models[n])]
    return (multi or with_vectors)[0]


def source_data(model: Recommender) -> Interactions:
    """The real data the model was trained from (with ratings, timestamps, user profiles)."""
    config = getattr(model, "saved_config_", {})
    if "source" not in config:
        return model.fitted_data
    return load_source(DataSource.from_dict(config["source"]))


def retrain(model: Recommender, train: Interactions, cache: Path | None = None) -> Recommender:
    """A fresh model of the same kind and options, fitted on ``train`` (its last two events per user validate).

    With ``cache``, a model saved there by an earlier run on the same events is loaded instead of retrained."""
    options = replace(model.options, progress=False) if hasattr(model.options, "progress") else model.options
    split = leave_last_out(train)
    if cache is not None and (cache / "config.json").exists():
        cached = load_model(cache)
        if cached.options == options and len(cached.fitted_data) == len(split.train):
            return cached
    fresh = type(model)(options=options)
    fresh.fit(split.train, split.valid)
    if cache is not None:
        save_model(fresh, cache)
    return fresh


def single_threaded_blas():
    """One BLAS thread: the study multiplies many small matrices, and on a shared machine threaded BLAS makes
    each product ~20x slower. threadpoolctl comes with scikit-learn."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(1)


@dataclass(frozen=True)
class Stage:
    """One world: its model, item side, every user's persona mix, each user's list and the held-out data."""

    world: World
    everyone: Population  # row r = user index r
    ranking: np.ndarray  # (n_users, LIST_DEPTH)
    holdout: Holdout

    def users(self, users: np.ndarray) -> Population:
        return self.everyone.take(users)


def build_stage(model: Recommender, holdout: Holdout, genres: np.ndarray, genre_names: list[str]) -> Stage:
    reference = build_reference(holdout.train, genres)
    world = world_from_model(model, reference, genre_names)
    everyone = population_from_model(model, holdout.train, world)
    ranking = ranked_lists(model, everyone.proxy, LIST_DEPTH, model.fitted_data.item_ids)
    return Stage(world, everyone, ranking, holdout)


def fit_rating_model(stage: Stage, users: np.ndarray):
    """The ordinal rating model, on the real ratings ``users`` gave in held-out events (unseen by the world)."""
    held = stage.holdout.held_out
    keep = np.isin(held.users, users) & (~np.isnan(held.ratings) if held.ratings is not None else False)
    if not np.any(keep):
        raise DataError(f"{held.name}: the rating model needs explicit ratings in the held-out events")
    u, i = held.users[keep], held.items[keep]
    p = stage.everyone
    affinity = np.einsum("ekd,ed->ek", p.personas[u], stage.world.items[i]) + stage.world.bias[i, None]
    best = np.where(p.weights[u] > 0, affinity, -np.inf).max(axis=1)
    standard = (best - p.affinity_mean[u]) / p.affinity_std[u]
    return fit_ordinal(rating_predictors(p, stage.world, u, i, standard), held.ratings[keep])


def arena(stage: Stage, log: SessionLog, habits: Habits, turns: int, slate: int, seed: int) -> Arena:
    reference = build_reference(stage.holdout.train, stage.world.genres)
    return Arena(stage.world, reference, stage.users(log.owner), stage.ranking[log.owner],
                 np.nan_to_num(log.times[:, 0]), stage.holdout.train.csr, habits,
                 session_features(reference, log), log.owner, turns, slate, seed)


def panel(stage: Stage, users: np.ndarray, habits: Habits, turns: int, slate: int, seed: int) -> Panel:
    held = stage.holdout.held_out
    first = np.full(held.n_users, np.inf)
    np.minimum.at(first, held.users, held.timestamps)
    return Panel(stage.world, stage.users(users), stage.ranking[users], first[users], stage.holdout.train.csr,
                 habits, held, turns, slate, seed)


def run_study(model_dirs: list[str | Path], options: StudyOptions = StudyOptions(), log=print) -> dict:
    """Everything in one report (the JSON of ``personae simulate --json``)."""
    models = load_models(model_dirs)
    data = source_data(models[world_model(models, options.world)])
    with single_threaded_blas():
        return study(data, models, options, log)


def study(data: Interactions, models: dict[str, Recommender], o: StudyOptions = StudyOptions(), log=print) -> dict:
    """The study on ``data`` with fresh copies of ``models`` (fitted or not: only their kind and options are
    used) trained on the holdout's earlier events."""
    world_name = world_model(models, o.world)
    if data.genre_onehot is None:
        raise DataError(f"{data.name}: the simulator needs item genres")
    genres, genre_names = data.genre_onehot
    genres = genres.astype(np.float64)
    holdout = per_user_holdout(data, o.holdout, o.seed)
    log(f"holdout: {len(holdout.held_out)} of {len(data)} events held out; {len(holdout.fit_users)} fit users, "
        f"{len(holdout.test_users)} test users; retraining {', '.join(models)} on the rest")
    cache = (lambda n: None) if o.model_cache is None else (
        lambda n: Path(o.model_cache) / f"{data.name}-holdout{o.holdout}-seed{o.seed}" / n.replace(":", "-"))
    trained = {name: retrain(model, holdout.train, cache(name)) for name, model in models.items()}
    stage = build_stage(trained[world_name], holdout, genres, genre_names)
    sessions = real_sessions(holdout.held_out, o.turns)
    fit_log, test_log = sessions.of_users(holdout.fit_users), sessions.of_users(holdout.test_users)
    activity = np.bincount(holdout.train.users, minlength=data.n_users).astype(np.float64)
    habits = fit_habits(fit_log, activity, fit_rating_model(stage, holdout.fit_users))
    fit_arena = arena(stage, fit_log, habits, o.turns, o.slate, o.seed)
    test_arena = arena(stage, test_log, habits, o.turns, o.slate, o.seed + 1)
    fit_panel = panel(stage, holdout.fit_users, habits, o.turns, o.slate, o.seed)
    test_panel = panel(stage, holdout.test_users, habits, o.turns, o.slate, o.seed + 1)

    log(f"fitting the free simulator for realism on {len(fit_log)} sessions of fit users")
    free, free_fit = fit_realism(fit_arena, iterations=o.iterations, samples=o.samples)
    log("learning the anchor against the fit users' held-out behaviour")
    anchored, anchor_fit = learn_anchoring(fit_arena, fit_panel, free, iterations=o.anchor_iterations)
    report: dict = {"dataset": data.name, "world_model": world_name, "turns": o.turns, "slate": o.slate,
                    "seed": o.seed, "holdout_fraction": o.holdout, "fit_users": len(holdout.fit_users),
                    "test_users": len(holdout.test_users), "features": feature_names(genre_names),
                    "params": {"free": free.to_dict(), "anchored": anchored.to_dict()},
                    "fit": {"free": free_fit, "anchored": anchor_fit},
                    "rating_model": {"beta": habits.ratings.beta.tolist(),
                                     "thresholds": habits.ratings.thresholds.tolist()}}

    log(f"realism on {len(test_log)} held-out sessions of test users (a fresh judge)")
    judge_seed = o.seed
    report["realism"] = {name: test_arena.realism(test_arena.simulate(p), judge_seed)
                         for name, p in (("free", free), ("anchored", anchored))}
    report["realism"]["random"] = test_arena.realism(
        random_sessions(stage.world, test_arena.population, habits, test_arena.starts, o.turns, o.seed + 7),
        judge_seed)
    report["realism"]["real_vs_real"] = real_vs_real(test_arena.real, test_arena.real_users, seed=judge_seed)
    report["realism"]["session_types"] = session_type_shares(test_log, test_arena.simulate(free).log)
    report["realism_auc"] = report["realism"]["free"]["auc"]
    log("realism AUC: " + ", ".join(f"{k} {v['auc']:.3f}" for k, v in report["realism"].items() if "auc" in v))

    log("consistency against the test users' held-out behaviour")
    panel_sessions = {name: test_panel.simulate(p) for name, p in (("free", free), ("anchored", anchored))}
    scores = {name: test_panel.scores(s) for name, s in panel_sessions.items()}
    rand = random_sessions(stage.world, test_panel.population, habits, test_panel.starts, o.turns, o.seed + 7)
    scores["random"] = test_panel.scores(rand)
    report["consistency"] = {name: summarize(s) for name, s in scores.items()}
    report["consistency"]["real_users"] = summarize(real_reference(stage, holdout.test_users, o.turns, o.seed + 1))
    report["drift"] = drift_report(scores["free"], scores["anchored"])
    report["self_agreement"] = {name: self_agreement(stage.world, test_panel.population, s, o.seed)
                                for name, s in panel_sessions.items()}
    log("stability (ICC) over seeded runs")
    icc_panel = panel(stage, holdout.test_users[: o.icc_personas], habits, o.turns, o.slate, o.seed)
    report["stability"] = icc_report(run_outputs(icc_panel, free, o.icc_runs), o.seed)

    log(f"recommenders in the loop: {', '.join(trained)}")
    drawn = draw_users(holdout.test_users, o.users, o.seed + 3)
    loop_panel = panel(stage, drawn, habits, o.turns, o.slate, o.seed)
    report["loop"] = compare_models(stage.world, loop_panel.population, trained, anchored, habits,
                                    loop_panel.starts, holdout.train.csr, holdout.held_out, o.turns, o.slate, o.seed)
    control = o.control_world or next((n for n in ("mf", "bpr") if n in trained and n != world_name), None)
    if control is not None:
        other = build_stage(trained[control], holdout, genres, genre_names)
        other_panel = panel(other, drawn, habits, o.turns, o.slate, o.seed)
        report["loop_control"] = {"world_model": control, **compare_models(
            other.world, other_panel.population, trained, anchored, habits, other_panel.starts, holdout.train.csr,
            holdout.held_out, o.turns, o.slate, o.seed)}

    log("coverage of plausible users")
    report["coverage"] = coverage_study(holdout, genre_names, o)
    return report


def real_reference(stage: Stage, users: np.ndarray, turns: int, seed: int) -> dict[str, np.ndarray]:
    """The ceiling: real users' own last ``turns`` training events, scored like simulated picks against their
    held-out events (no probes: Q&A has no real counterpart)."""
    train = stage.holdout.train
    picks = np.full((len(users), turns), -1)
    for row, u in enumerate(users):
        history = train.user_history(u)[-turns:]
        picks[row, :len(history)] = history
    return reality_scores(stage.world, stage.holdout.held_out, users, picks, None, seed)


def session_type_shares(real: SessionLog, simulated: SessionLog) -> dict:
    """Share of one-event, short (2-4), run (5 to T-1) and full-length (T) sessions, real and simulated."""
    turns = real.items.shape[1]

    def shares(lengths: np.ndarray) -> dict:
        bins = {"one_off": lengths == 1, "short": (lengths >= 2) & (lengths <= 4),
                "run": (lengths >= 5) & (lengths < turns), "full": lengths >= turns}
        return {k: float(v.mean()) for k, v in bins.items()}

    return {"real": shares(real.length), "simulated": shares(simulated.length)}


def coverage_study(holdout: Holdout, genre_names: list[str], o: StudyOptions) -> dict:
    """Density matching against the rarity-weighted generator (its exponent chosen on fit users alone) and the
    evolutionary ones, over the plausible region; coverage of rare-but-real test users."""
    from personae.stats import compare_paired

    all_traits, names = cov.user_traits(holdout.train, genre_names)
    fit, test = all_traits[holdout.fit_users], all_traits[holdout.test_users]
    plausible = cov.Plausibility(fit)
    test_distance = plausible.distance(test)
    rare_real = test[test_distance >= np.quantile(test_distance, 0.8)]  # the low-density fifth of test users
    dim = fit.shape[1]
    region = cov.plausible_points(fit, plausible, 4096, seed=o.seed)
    radius = float(np.median(cov.knn_distance(region, fit, 1)))  # how far plausible points sit from real users
    density = cov.density_generator(fit, o.coverage_size, o.seed)
    box, _ = cov.evolutionary_generator(fit, o.coverage_size, cov.monte_carlo_points(dim, 4096, o.seed),
                                        radius, o.generations, seed=o.seed)
    evolved, _ = cov.evolutionary_generator(fit, o.coverage_size, region, radius, o.generations, seed=o.seed)
    alpha, alpha_scores = cov.choose_rarity(fit, o.coverage_size, radius, seed=o.seed)
    rarity = cov.rarity_generator(fit, o.coverage_size, plausible, alpha, o.seed)
    fresh_region = cov.plausible_points(fit, plausible, 4096, seed=o.seed + 1)
    out = {"traits": names, "radius": radius, "plausibility": {
        "k": plausible.k, "threshold": plausible.threshold, "quantile_of_fit_users": plausible.quantile,
        "held_out_users_inside": float(plausible(test).mean()), "held_out_users": len(test)},
        "rare_real_users": len(rare_real),
        "rarity_alpha": {"chosen": alpha, "fit_half_scores": {str(k): v for k, v in alpha_scores.items()}}}
    density_hits = cov.covered(rare_real, density, radius)
    for name, personas in (("density", density), ("rarity", rarity), ("evolutionary_plausible", evolved),
                           ("evolutionary_box", box)):
        rare = cov.rare_personas(personas, density, radius) if name != "density" else np.zeros(0, dtype=int)
        hits = cov.covered(rare_real, personas, radius)
        out[name] = {"plausible_share": float(plausible(personas).mean()),
                     "plausible_region_coverage": float(cov.covered(fresh_region, personas, radius).mean()),
                     "rare_real_covered": float(hits.mean()),
                     "rare_personas": len(rare),
                     "rare_personas_plausible": int(plausible(personas[rare]).sum()) if len(rare) else 0}
        if name != "density":
            out[name]["rare_real_vs_density"] = compare_paired(hits, density_hits, unit="rare-but-real users").to_dict()
    return out
