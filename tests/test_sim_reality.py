"""Consistency against reality reads the picks: a user's own held-out items beat another user's, random picks
score at the other-user null; the loop draws distinct users; ratings follow the ordinal model, not position."""

from __future__ import annotations

import numpy as np
import pytest

from personae.simulate.holdout import per_user_holdout
from personae.simulate.ratings import fit_ordinal
from personae.simulate.reality import concordance, reality_scores, summarize
from personae.simulate.recommender_loop import draw_users
from personae.simulate.world import World

TURNS = 10


@pytest.fixture(scope="module")
def setting(ml100k):
    holdout = per_user_holdout(ml100k, 0.2, seed=0)
    genres = ml100k.genre_onehot[0].astype(np.float64)
    n = ml100k.n_items
    world = World(np.zeros((n, 1)), np.zeros(n), genres, [], np.ones(n), np.zeros(n), np.full(n, 3.5))
    return holdout, world


def own_held_out_picks(holdout, users: np.ndarray) -> np.ndarray:
    picks = np.full((len(users), TURNS), -1)
    for row, u in enumerate(users):
        items = holdout.held_out.items[holdout.held_out.users == u][:TURNS]
        picks[row, :len(items)] = items
    return picks


def test_picks_a_user_really_made_later_fit_that_user_better_than_another(setting):
    holdout, world = setting
    users = holdout.test_users
    report = summarize(reality_scores(world, holdout.held_out, users, own_held_out_picks(holdout, users), None))
    assert report["prompt_to_line"]["own_minus_other"]["low"] > 0
    assert report["line_to_line"]["own_minus_other"]["low"] > 0


def test_random_picks_score_at_the_other_user_null(setting):
    holdout, world = setting
    users = holdout.test_users
    picks = np.random.default_rng(0).integers(0, world.n_items, (len(users), TURNS))
    answers = np.random.default_rng(1).random((len(users), TURNS, world.genres.shape[1]))
    report = summarize(reality_scores(world, holdout.held_out, users, picks, answers))
    for metric in ("prompt_to_line", "line_to_line", "qa"):
        interval = report[metric]["own_minus_other"]
        assert interval["low"] <= 0 <= interval["high"], metric
        assert abs(interval["estimate"]) < 0.02


def test_answers_ordered_like_the_held_out_liking_are_fully_concordant():
    liked = np.array([[0.5, 0.1, 0.3]])
    assert concordance(liked[:, None, :], liked)[0, 0] == 1.0
    assert concordance(-liked[:, None, :], liked)[0, 0] == 0.0


def test_loop_users_are_drawn_without_replacement():
    drawn = draw_users(np.arange(50), 80, seed=0)
    assert len(drawn) == 50 and len(np.unique(drawn)) == 50
    assert len(np.unique(draw_users(np.arange(500), 100, seed=1))) == 100


def test_ordinal_ratings_rise_with_affinity_and_recover_its_direction():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 2))
    latent = 1.5 * x[:, 0] + rng.logistic(size=4000)  # the second predictor plays no part
    ratings = 1.0 + np.searchsorted(np.array([-2.0, -0.7, 0.7, 2.0]), latent)
    model = fit_ordinal(x, ratings)
    assert model.beta[0] == pytest.approx(1.5, abs=0.15)
    assert abs(model.beta[1]) < 0.15
    assert model.expected(np.array([[2.0, 0.0]]))[0] > model.expected(np.array([[-2.0, 0.0]]))[0] + 2
