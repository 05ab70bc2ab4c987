"""The user simulator and its instruments, on a tiny AMPCF fitted to planted interests.

Every instrument has a case built to show no effect beside a case built to show one: a random simulator scores
chance, two halves of one sample cannot be told apart, shuffled runs have no ICC, no random walk means no drift.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from personae.cli import main
from personae.models.ampcf import AMPCF
from personae.models.pop import Popularity
from personae.simulate import (
    SimulatorParams,
    population_from_model,
    random_sessions,
    simulate,
    world_from_model,
)
from personae.simulate import coverage as cov
from personae.simulate.anchoring import cross_entropy_method
from personae.simulate.realism import discriminator_auc
from personae.simulate.recommender_loop import loop_report, ranked_lists
from personae.simulate.run_stability import icc_report, shuffled
from personae.simulate.session_consistency import consistency, drift_reduction, line_to_line, summarize
from personae.simulate.world import persona_arrays

TURNS, SLATE = 8, 5


@pytest.fixture(scope="module")
def planted(planted_split):
    return planted_split  # the suite's shared planted-interests split


@pytest.fixture(scope="module")
def model(planted):
    return AMPCF(personas=2, dim=8, epochs=15, patience=15, lr=0.02, batch_size=256, progress=False).fit(
        planted.train, planted.valid)


@pytest.fixture(scope="module")
def world(model):
    return world_from_model(model, model.fitted_data)


@pytest.fixture(scope="module")
def population(model, world):
    return population_from_model(model, model.fitted_data, world)


@pytest.fixture(scope="module")
def ranking(model, population):
    return ranked_lists(model, population.proxy, TURNS * SLATE, model.fitted_data.item_ids)


def run(world, population, ranking, seed=0, leave=False, **params):
    return simulate(world, population, ranking, SimulatorParams(**params), TURNS, SLATE, seed, allow_leave=leave)


def test_fast_persona_arrays_match_user_personas(model, population):
    vectors, weights = persona_arrays(model, np.arange(5))
    for u in range(5):
        mix = model.user_personas(model.fitted_data.user_ids[u])
        np.testing.assert_allclose(vectors[u], mix.vectors, atol=1e-5)
        np.testing.assert_allclose(weights[u], mix.weights, atol=1e-5)


def test_same_seed_same_sessions_and_another_seed_other_sessions(world, population, ranking):
    a, b = run(world, population, ranking, seed=3, leave=True), run(world, population, ranking, seed=3, leave=True)
    c = run(world, population, ranking, seed=4, leave=True)
    np.testing.assert_array_equal(a.chosen, b.chosen)
    assert (a.chosen != c.chosen).any()


def test_users_who_leave_stay_gone(world, population, ranking):
    s = run(world, population, ranking, leave=True, base_leave=0.3)
    gone = ~s.active
    assert gone.any()
    assert (gone[:, 1:] >= gone[:, :-1]).all()
    assert (s.chosen[gone] == -1).all()


def test_stickiness_one_scores_perfect_line_to_line_consistency(world, population, ranking):
    s = run(world, population, ranking, stickiness=1.0, drift=1.0)
    assert np.nanmean(line_to_line(s)) == 1.0


def test_random_simulator_scores_chance_on_every_metric(world, population, ranking):
    scores = summarize(consistency(world, population, random_sessions(world, population, ranking, TURNS, SLATE)))
    assert abs(scores["prompt_to_line"]["mean"] - 0.5) < 0.05
    assert abs(scores["qa"]["mean"] - scores["qa"]["null"]) < 0.03
    assert abs(scores["line_to_line"]["mean"] - scores["line_to_line"]["null"]) < 0.05


def test_persona_driven_picks_beat_chance_and_beat_another_users_mix(world, population, ranking):
    scores = summarize(consistency(world, population, run(world, population, ranking, temperature=0.3)))
    assert scores["prompt_to_line"]["mean"] > 0.6
    assert scores["prompt_to_line"]["mean"] > scores["prompt_to_line"]["other_mix"]
    assert scores["qa"]["mean"] > scores["qa"]["null"] + 0.1


def test_anchoring_cuts_the_drift_of_a_random_walk(world, population, ranking):
    free = consistency(world, population, run(world, population, ranking, stickiness=0.0, drift=0.8))
    anchored = consistency(world, population, run(world, population, ranking, stickiness=0.0, drift=0.8, anchor=1.0))
    result = drift_reduction(free, anchored)
    assert result["free_drifts"] and result["ci_low"] > 0


def test_no_random_walk_means_no_drift_to_reduce(world, population, ranking):
    free = consistency(world, population, run(world, population, ranking, stickiness=0.0, drift=0.0))
    anchored = consistency(world, population, run(world, population, ranking, stickiness=0.0, drift=0.0, anchor=1.0))
    result = drift_reduction(free, anchored)
    assert not result["free_drifts"]
    assert result["free_drift"] == pytest.approx(result["anchored_drift"])


def test_discriminator_cannot_tell_two_halves_of_one_sample_apart():
    x = np.random.default_rng(0).normal(size=(600, 5))
    assert abs(discriminator_auc(x[:300], x[300:], resamples=50)["auc"] - 0.5) < 0.07


def test_discriminator_separates_samples_that_differ_in_spread():
    rng = np.random.default_rng(0)
    result = discriminator_auc(rng.normal(size=(300, 5)), 2.0 * rng.normal(size=(300, 5)), resamples=50)
    assert result["auc"] > 0.75 and result["ci_low"] > 0.5


def test_icc_is_high_for_distinct_personas_and_vanishes_when_runs_are_shuffled():
    rng = np.random.default_rng(0)
    persona = rng.normal(size=(200, 1, 3))
    outputs = {"genre": np.abs(persona + 0.2 * rng.normal(size=(200, 5, 3))), "rating": persona[:, :, 0] + 0.2 *
               rng.normal(size=(200, 5)), "ctr": persona[:, :, 1] + 0.2 * rng.normal(size=(200, 5))}
    report = icc_report(outputs, ["a", "b", "c"])
    assert report["rating"]["icc1"] > 0.8 and report["genre"]["icc1"] > 0.5
    assert abs(report["rating"]["null"]) < 0.1
    assert abs(icc_report({k: shuffled(v) for k, v in outputs.items()}, ["a", "b", "c"])["ctr"]["icc1"]) < 0.1


def test_sobol_radius_is_calibrated_to_cover_99_percent():
    points = cov.monte_carlo_points(4, 2000, seed=0)
    radius = cov.sobol_radius(4, 64, points, seed=0)
    assert cov.support_coverage(cov.sobol_population(4, 64, seed=0), points, radius) == pytest.approx(0.99, abs=0.002)


def test_evolution_covers_more_than_density_matching_and_zero_generations_change_nothing():
    traits = np.clip(np.random.default_rng(0).normal(0.3, 0.05, size=(200, 4)), 0, 1)
    points = cov.monte_carlo_points(4, 2000, seed=0)
    radius = cov.sobol_radius(4, 32, points, seed=0)
    density = cov.density_generator(traits, 32, seed=0)
    unchanged, _ = cov.evolutionary_generator(traits, 32, points, radius, generations=0, seed=0)
    evolved, history = cov.evolutionary_generator(traits, 32, points, radius, generations=60, seed=0)
    np.testing.assert_array_equal(unchanged, density)
    assert cov.support_coverage(evolved, points, radius) > cov.support_coverage(density, points, radius) + 0.2
    assert history == sorted(history)  # a swap is only accepted when coverage rises


def test_cross_entropy_method_finds_the_minimum_of_a_bowl():
    best, value, _ = cross_entropy_method(lambda p: (p["x"] - 0.3) ** 2 + (p["y"] + 1) ** 2,
                                          {"x": (-2, 2), "y": (-2, 2)}, iterations=15, samples=20)
    assert abs(best["x"] - 0.3) < 0.05 and abs(best["y"] + 1) < 0.05 and value < 0.01


def test_popularity_shows_everyone_the_same_pages(model, world, population, planted):
    pop = Popularity().fit(planted.train)
    ranking = ranked_lists(pop, population.proxy, TURNS * SLATE, model.fitted_data.item_ids)
    report = loop_report(world, run(world, population, ranking, leave=False))
    assert report["coverage"] <= (TURNS * SLATE + planted.train.csr.sum(axis=1).max()) / world.n_items


def test_cli_simulate_writes_the_contract_keys(tmp_path, model, planted, capsys):
    model.save(str(tmp_path / "ampcf"))
    Popularity().fit(planted.train).save(str(tmp_path / "pop"))
    out = tmp_path / "sim.json"
    status = main(["simulate", str(tmp_path / "ampcf"), str(tmp_path / "pop"), "--users", "40", "--turns", "2",
                   "--iterations", "1", "--json", str(out)])
    assert status == 0
    report = json.loads(out.read_text())
    assert {"realism_auc", "drift_reduction", "icc"} <= set(report)
    assert {"density", "evolutionary"} <= set(report["coverage"])
    for name in ("ampcf", "pop"):
        assert {"ctr", "mean_rating", "session_length", "coverage", "bubble"} <= set(report["models"][name])
    assert "realism AUC" in capsys.readouterr().out


def test_cli_refuses_models_without_item_vectors_in_one_line(tmp_path, planted, capsys):
    Popularity().fit(planted.train).save(str(tmp_path / "pop"))
    assert main(["simulate", str(tmp_path / "pop"), "--users", "5", "--turns", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "item vectors" in err[0]

