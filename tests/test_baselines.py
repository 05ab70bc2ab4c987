"""Baselines pop, itemknn, ease and bpr on tiny data, and the peer check on real MovieLens-100K."""

from __future__ import annotations

import math

import numpy as np
import pytest

from personae.evaluate import evaluate
from personae.models import MODELS, model_class
from personae.models.bpr import BPR
from personae.models.ease import EASE, L2_GRID
from personae.models.itemknn import ItemKNN
from personae.models.pop import Popularity


def test_every_baseline_is_registered_by_its_command_line_name():
    assert {"pop", "itemknn", "ease", "bpr"} <= set(MODELS)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        model_class("nope")


# --- pop -------------------------------------------------------------------------------------------
def test_pop_scores_each_item_by_its_number_of_distinct_training_users(make_data):
    # item x: users 1, 2 (user 1 twice) -> 2; item y: user 3 -> 1; item z: users 1, 2, 3 -> 3
    data = make_data([(1, "x"), (1, "x"), (2, "x"), (3, "y"), (1, "z"), (2, "z"), (3, "z")])
    model = Popularity().fit(data)
    assert model.score(np.array([0, 2])).tolist() == [[2, 1, 3], [2, 1, 3]]
    assert model.score(np.array([0]), np.array([2, 0])).tolist() == [[3, 2]]


def test_pop_recommends_unseen_items_most_popular_first_ties_to_lower_index(make_data):
    # popularity: a 2, b 1, c 1, d 2; user 3 has seen a -> d (2), then b and c tie at 1 -> b first
    data = make_data([(1, "a"), (2, "a"), (1, "b"), (2, "c"), (1, "d"), (2, "d"), (3, "a")])
    recs = Popularity().fit(data).recommend(["3"], k=3)
    assert recs.item_ids == [["d", "b", "c"]]
    assert recs.scores == [[2.0, 1.0, 1.0]]


def test_recommend_can_include_seen_items(make_data):
    data = make_data([(1, "a"), (2, "a"), (2, "b")])
    assert Popularity().fit(data).recommend(["1"], k=1, exclude_seen=False).item_ids == [["a"]]


def test_recommendations_carry_titles_where_known(tiny_split):
    recs = Popularity().fit(tiny_split.train).recommend(["d"], k=2)
    # popularity in train: 1 -> 2 users, 2 -> 2 users; titles given for items 1 and 2
    assert recs.item_ids == [["1", "2"]]
    assert recs.titles == [["One", "Two"]]


def test_single_vector_models_explain_with_one_persona_of_weight_one(tiny_split):
    explanation = Popularity().fit(tiny_split.train).explain("a", ["5"])[0]
    assert explanation.persona == 0 and explanation.persona_weights == [1.0]
    # a's training items 1 {Drama}, 2 {Drama, Comedy}, 3 {Comedy}: Drama 2, Comedy 2 of 3; but the catalogue has
    # Drama on 3 of 6 items and Comedy on 2 of 6, so by lift Comedy is the more over-represented
    assert explanation.label == "Comedy / Drama"
    assert explanation.supporting_items == ["3", "2", "1"]


# --- itemknn ---------------------------------------------------------------------------------------
def test_itemknn_similarity_is_cosine_with_shrinkage(make_data):
    # users: 1 {x, y}, 2 {x, y}, 3 {x, z}
    # |x| = sqrt(3), |y| = sqrt(2), co-occurrence(x, y) = 2 -> sim = 2 / (sqrt(6) + shrink)
    data = make_data([(1, "x"), (1, "y"), (2, "x"), (2, "y"), (3, "x"), (3, "z")])
    plain = ItemKNN(shrink=0.0).fit(data).similarity_
    shrunk = ItemKNN(shrink=10.0).fit(data).similarity_
    assert plain[0, 1] == pytest.approx(2 / math.sqrt(6))
    assert plain[0, 2] == pytest.approx(1 / math.sqrt(3))
    assert shrunk[0, 1] == pytest.approx(2 / (math.sqrt(6) + 10))
    assert np.diag(plain).tolist() == [0.0, 0.0, 0.0]


def test_itemknn_scores_sum_the_similarities_of_the_users_items(make_data):
    data = make_data([(1, "x"), (1, "y"), (2, "x"), (2, "y"), (3, "x"), (3, "z")])
    model = ItemKNN(shrink=0.0).fit(data)
    # user 3 had x and z: score(y) = sim(x, y) + sim(z, y) = 2/sqrt(6) + 0
    assert model.score(np.array([2]))[0, 1] == pytest.approx(2 / math.sqrt(6))


def test_itemknn_keeps_only_the_nearest_neighbours_of_each_item(make_data):
    data = make_data([(1, "x"), (1, "y"), (2, "x"), (2, "y"), (3, "x"), (3, "z")])
    sim = ItemKNN(shrink=0.0, neighbours=1).fit(data).similarity_
    # column x: neighbours y (0.816) and z (0.577) -> only y kept
    assert sim[1, 0] > 0 and sim[2, 0] == 0
    assert (sim > 0).sum(axis=0).tolist() == [1, 1, 1]


# --- ease ------------------------------------------------------------------------------------------
def test_ease_weights_are_the_closed_form_with_a_zero_diagonal(tiny_split):
    train = tiny_split.train
    model = EASE(l2=2.0).fit(train)
    x = train.csr.toarray().astype(np.float64)
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(train.n_items))
    expected = np.eye(train.n_items) - p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    assert np.allclose(model.weights_, expected, atol=1e-6)
    assert model.score(np.array([0])) == pytest.approx(x[:1] @ expected, abs=1e-5)


def test_ease_with_l2_given_does_not_tune(tiny_split):
    model = EASE(l2=250).fit(tiny_split.train, tiny_split.valid)
    assert model.l2_ == 250.0
    assert not hasattr(model, "tuning_")


def test_ease_without_l2_tunes_it_on_validation_ndcg(clustered):
    from personae.data.splits import leave_last_out

    split = leave_last_out(clustered)
    model = EASE().fit(split.train, split.valid)
    assert list(model.tuning_) == list(L2_GRID)
    assert model.l2_ == max(model.tuning_, key=lambda l2: (model.tuning_[l2], -l2))


# --- bpr -------------------------------------------------------------------------------------------
def _bpr(seed=0):
    return BPR(dim=8, epochs=20, lr=0.05, batch_size=32, seed=seed, progress=False)


def test_bpr_learns_to_prefer_the_users_own_taste_cluster(clustered):
    model = _bpr().fit(clustered)
    scores = model.score(np.arange(clustered.n_users))
    own = np.where(np.arange(20)[:, None] < 10, np.arange(10) < 5, np.arange(10) >= 5)
    assert scores[own].reshape(20, 5).mean(axis=1).min() > scores[~own].reshape(20, 5).mean(axis=1).max()


def test_bpr_with_the_same_seed_gives_the_same_scores(clustered):
    first = BPR(dim=8, epochs=2, seed=3, progress=False).fit(clustered).score(np.arange(4))
    again = BPR(dim=8, epochs=2, seed=3, progress=False).fit(clustered).score(np.arange(4))
    other = BPR(dim=8, epochs=2, seed=4, progress=False).fit(clustered).score(np.arange(4))
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)


def test_bpr_scores_given_items_like_the_full_catalogue(clustered):
    model = BPR(dim=8, epochs=1, progress=False).fit(clustered)
    users, items = np.array([0, 5, 12]), np.array([7, 1, 3])
    assert model.score(users, items) == pytest.approx(model.score(users)[:, items], abs=1e-6)
    assert model.bytes_per_user() == 8 * 4  # one float32 vector of dim 8 per user


# --- peer check on real ml-100k -------------------------------------------------------------------
def test_ease_matches_recbole_on_ml100k_leave_last_out(ml100k_split):
    # RecBole 1.2.1, EASE reg_weight=250: NDCG@10 0.0706, HR@10 0.1347
    m = evaluate(EASE(l2=250).fit(ml100k_split.train), ml100k_split, beyond_accuracy=False).metrics
    assert m["ndcg@10"] == pytest.approx(0.0706, abs=0.0015)
    assert m["hr@10"] == pytest.approx(0.1347, abs=0.002)


def test_popularity_on_ml100k_gives_the_known_floor(ml100k_split):
    # counting true interactions (ml-100k has no repeated user-item pairs, so distinct users = events)
    assert ml100k_split.train.csr.nnz == len(ml100k_split.train)
    m = evaluate(Popularity().fit(ml100k_split.train), ml100k_split, beyond_accuracy=False).metrics
    assert m["ndcg@10"] == pytest.approx(0.0449, abs=0.001)
    assert m["hr@10"] == pytest.approx(0.0859, abs=0.0015)
