"""The simulator's mechanics, on a tiny AMPCF fitted to planted interests and a world built from it.

Each behaviour has a case where its answer is known: the same seed gives the same sessions, nothing seen is
shown again, an unreleased item is never shown, session lengths and gaps follow the fitted habits, and
coverage counts only plausible users.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from personae.models.ampcf import AMPCF
from personae.simulate import coverage as cov
from personae.simulate.anchoring import cross_entropy_method
from personae.simulate.holdout import SessionLog
from personae.simulate.ratings import fit_ordinal
from personae.simulate.recommender_loop import ranked_lists
from personae.simulate.simulator import Habits, SimulatorParams, simulate
from personae.simulate.world import World, persona_arrays, population_from_model

TURNS, SLATE = 8, 6


@pytest.fixture(scope="module")
def model(planted_split):
    return AMPCF(personas=2, dim=8, epochs=15, patience=15, lr=0.02, batch_size=256, progress=False).fit(
        planted_split.train, planted_split.valid)


@pytest.fixture(scope="module")
def world(model):
    data = model.fitted_data
    n = data.n_items
    genres = np.eye(4)[np.arange(n) % 4]
    first_seen = np.where(np.arange(n) == n - 1, 1e9, 0.0)  # the last item appears only at t = 1e9
    network = model.network_
    return World(network.items.weight.detach().numpy().astype(np.float64),
                 network.item_bias.detach().numpy().astype(np.float64), genres, ["a", "b", "c", "d"],
                 data.item_popularity.astype(np.float64), first_seen, np.full(n, 3.5))


@pytest.fixture(scope="module")
def population(model, world):
    return population_from_model(model, model.fitted_data, world)


@pytest.fixture(scope="module")
def habits():
    ratings = fit_ordinal(np.column_stack([np.zeros(50), np.zeros(50), np.linspace(-2, 2, 50)]),
                          np.repeat(np.arange(1, 6), 10).astype(float))
    return Habits(np.array([np.inf]), [np.array([1, 3, TURNS])] * 2, np.log1p(np.array([60.0, 120.0])), ratings)


DEFAULTS = SimulatorParams()


def run(model, world, population, habits, seed=0, lengths=None, params=DEFAULTS):
    ranking = ranked_lists(model, population.proxy, 40, model.fitted_data.item_ids)
    return simulate(world, population, ranking, params, habits, np.zeros(len(population)), model.fitted_data.csr,
                    TURNS, SLATE, seed, lengths=lengths, probes=True)


def test_fast_persona_arrays_match_user_personas(model):
    vectors, weights = persona_arrays(model, np.arange(5))
    for u in range(5):
        mix = model.user_personas(model.fitted_data.user_ids[u])
        np.testing.assert_allclose(vectors[u], mix.vectors, atol=1e-5)
        np.testing.assert_allclose(weights[u], mix.weights, atol=1e-5)


def test_same_seed_same_sessions_and_another_seed_other_sessions(model, world, population, habits):
    a, b = run(model, world, population, habits, 3), run(model, world, population, habits, 3)
    c = run(model, world, population, habits, 4)
    np.testing.assert_array_equal(a.log.items, b.log.items)
    assert (a.log.items != c.log.items).any()


def test_nothing_the_user_had_or_picked_is_shown_again(model, world, population, habits):
    s = run(model, world, population, habits, lengths=np.full(len(population), TURNS))
    seen = model.fitted_data.csr
    items = s.log.items
    assert not np.asarray(seen[np.repeat(population.user, TURNS), items.ravel()]).any()
    assert all(len(set(row)) == len(row) for row in items)


def test_an_item_not_yet_in_the_catalogue_is_never_shown(model, world, population, habits):
    s = run(model, world, population, habits, lengths=np.full(len(population), TURNS))
    assert not (s.shown == world.n_items - 1).any()


def test_session_lengths_follow_the_habits(model, world, population, habits):
    lengths = (run(model, world, population, habits).log.items >= 0).sum(axis=1)
    assert set(np.unique(lengths)) == {1, 3, TURNS}


def test_clock_moves_forward_by_the_habits_gaps(model, world, population, habits):
    s = run(model, world, population, habits, lengths=np.full(len(population), TURNS))
    gaps = np.diff(s.log.times, axis=1)
    assert set(np.unique(np.round(gaps))) <= {60.0, 120.0}


def test_cross_entropy_method_finds_a_quadratic_minimum():
    best, _value, _ = cross_entropy_method(lambda p: (p["x"] - 0.3) ** 2, {"x": (0.0, 1.0)}, iterations=10,
                                          samples=16)
    assert best["x"] == pytest.approx(0.3, abs=0.05)


def test_plausibility_admits_held_out_real_users_and_rejects_far_points():
    rng = np.random.default_rng(0)
    real = np.clip(0.5 + 0.05 * rng.standard_normal((400, 3)), 0, 1)
    plausible = cov.Plausibility(real[:200])
    assert plausible(real[200:]).mean() > 0.85
    assert not plausible(np.array([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])).any()


def test_session_log_keeps_only_the_sessions_of_given_users():
    log = SessionLog(np.zeros((3, 2), int), np.ones((3, 2)), np.zeros((3, 2)), np.array([4, 7, 4]))
    assert list(log.of_users(np.array([4])).owner) == [4, 4]
    assert sp.issparse(sp.csr_matrix(np.eye(2)))  # the simulator takes CSR 'seen' matrices


def test_clock_copies_the_gaps_of_a_real_session_at_least_as_long():
    runs = np.array([[10.0, np.nan, np.nan], [20.0, 30.0, 40.0]])  # a 2-event and a 4-event real session
    habits = Habits(np.array([np.inf]), [np.array([4])], np.zeros(1), None, np.zeros(1), runs)
    clock = habits.draw_clock(np.random.default_rng(0), np.array([4, 4, 2, 2, 2, 2]), 4)
    np.testing.assert_array_equal(clock[:2], [[0, 20, 50, 90]] * 2)  # only the long session is long enough
    assert set(clock[2:, 1]) <= {10.0, 20.0}


def test_rarity_generator_keeps_only_plausible_users_and_overdraws_the_sparse_edge():
    rng = np.random.default_rng(0)
    real = np.clip(np.r_[0.3 + 0.03 * rng.standard_normal((380, 2)), 0.7 + 0.08 * rng.standard_normal((20, 2))],
                   0, 1)
    plausible = cov.Plausibility(real)
    flat = cov.rarity_generator(real, 200, plausible, alpha=0.0, seed=0)
    tilted = cov.rarity_generator(real, 200, plausible, alpha=4.0, seed=0)
    assert plausible(tilted).all()
    assert (tilted[:, 0] > 0.5).mean() > (flat[:, 0] > 0.5).mean() + 0.2
