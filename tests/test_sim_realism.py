"""The realism judge on real MovieLens-100K held-out sessions: a copy of reality scores 0.5, noise scores ~1.

Every case is built so its answer is known: sessions copied from real ones cannot be told apart, two halves of
real users cannot be told apart, and a simulator that picks uniformly at random is caught.
"""

from __future__ import annotations

import numpy as np
import pytest

from personae.simulate.discriminator import auc, judge, real_vs_real
from personae.simulate.features import build_reference, session_features
from personae.simulate.holdout import per_user_holdout, real_sessions
from personae.simulate.ratings import fit_ordinal
from personae.simulate.simulator import fit_habits, random_sessions
from personae.simulate.world import Population, World

TURNS = 20


@pytest.fixture(scope="module")
def holdout(ml100k):
    return per_user_holdout(ml100k, 0.2, seed=0)


@pytest.fixture(scope="module")
def reference(holdout, ml100k):
    return build_reference(holdout.train, ml100k.genre_onehot[0].astype(np.float64))


@pytest.fixture(scope="module")
def test_log(holdout):
    return real_sessions(holdout.held_out, TURNS).of_users(holdout.test_users)


def test_holdout_keeps_held_out_events_out_of_the_world_and_splits_users_apart(holdout, ml100k):
    assert len(holdout.train) + len(holdout.held_out) == len(ml100k)
    last_train = np.full(ml100k.n_users, -np.inf)
    np.maximum.at(last_train, holdout.train.users, holdout.train.timestamps)
    first_held = np.full(ml100k.n_users, np.inf)
    np.minimum.at(first_held, holdout.held_out.users, holdout.held_out.timestamps)
    assert (first_held >= last_train).all()  # held out = each user's latest events
    assert not set(holdout.fit_users) & set(holdout.test_users)


def test_sessions_copied_from_real_ones_score_realism_near_half(reference, test_log):
    real = session_features(reference, test_log)
    result = judge(real, real.copy(), test_log.owner, test_log.owner.copy(), seed=0)
    assert abs(result["auc"] - 0.5) < 0.02
    assert result["interval"]["low"] <= 0.5 <= result["interval"]["high"]


def test_real_against_real_users_sits_at_half_within_its_interval(reference, test_log):
    result = real_vs_real(session_features(reference, test_log), test_log.owner, seed=0, halvings=6)
    assert abs(result["auc"] - 0.5) < 0.04
    assert result["interval"]["low"] <= 0.5 <= result["interval"]["high"]
    assert len(result["halving_aucs"]) == 6


def test_a_random_simulator_scores_realism_near_one(holdout, reference, test_log):
    n = len(test_log)
    world = World(np.zeros((reference.n_items, 1)), np.zeros(reference.n_items), reference.genres, [],
                  reference.popularity, reference.first_seen, reference.item_rating)
    population = Population(np.zeros((n, 1, 1)), np.ones((n, 1)), test_log.owner.astype(str), test_log.owner,
                            np.full(n, 3.5), np.ones(n), np.zeros(n), np.ones(n), np.full(n, 50.0))
    activity = np.bincount(holdout.train.users, minlength=holdout.train.n_users).astype(float)
    habits = fit_habits(test_log, activity, fit_ordinal(np.zeros((10, 1)), np.arange(10) % 5 + 1.0))
    sessions = random_sessions(world, population, habits, test_log.times[:, 0], TURNS, seed=0)
    result = judge(session_features(reference, test_log), session_features(reference, sessions.log),
                   test_log.owner, sessions.log.owner, seed=0)
    assert result["auc"] > 0.9
    assert result["interval"]["low"] > 0.5


def test_auc_of_perfect_and_reversed_scores():
    labels = np.array([1, 1, 0, 0])
    assert auc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 1.0
    assert auc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 0.0
