"""MIND (ComiRec-SA): shapes, consistency of the two scoring paths, persistence, and that interests matter."""

import numpy as np
import pytest

from personae.data.synthetic import cluster_of_item
from personae.evaluate import evaluate
from personae.models import MODELS
from personae.models.mind import MIND
from personae.models.persistence import load_model
from personae.models.pop import Popularity

FAST = {"dim": 16, "attention_hidden": 32, "max_history": 20, "interests": 3, "negatives": 30, "epochs": 20, "lr": 0.01,
            "batch_size": 256, "patience": 5, "progress": False}


@pytest.fixture(scope="module")
def split(planted_split):
    return planted_split


@pytest.fixture(scope="module")
def fitted(split):
    return MIND(**FAST).fit(split.train, split.valid)


def test_defaults_train_with_sampled_softmax_and_the_tuned_two_interests():
    options = MIND.Options()  # interests=2 is the best validation trial of bench/tune.py
    assert (options.loss, options.negatives, options.interests) == ("softmax", 20, 2)


def test_scores_have_one_column_per_candidate_or_per_item(fitted, split):
    users = np.array([0, 1, 2])
    assert fitted.score(users).shape == (3, split.train.n_items)
    assert fitted.score(users, np.array([4, 5])).shape == (3, 2)


def test_score_all_equals_forward_on_the_same_items(fitted, split):
    users = np.arange(12)
    np.testing.assert_allclose(fitted.score(users), fitted.score(users, np.arange(split.train.n_items)),
                               rtol=1e-5, atol=1e-5)


def test_an_item_in_the_history_is_scored_as_if_it_were_not_there(fitted):
    network = fitted.network_
    user, own = 0, network.history[0, -1].item()
    before = fitted.score(np.array([user]), np.array([own, own + 1]))
    saved = network.history.clone()
    try:
        network.history[user, -1] = network.n_items  # drop the item from the history: padding
        after = fitted.score(np.array([user]), np.array([own, own + 1]))
    finally:
        network.history.copy_(saved)
    assert after[0, 0] == pytest.approx(before[0, 0], abs=1e-5)
    assert after[0, 1] != pytest.approx(before[0, 1], abs=1e-5)


def test_save_and_load_give_identical_scores(fitted, tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "mind", MIND)
    fitted.save(str(tmp_path / "mind"))
    loaded = load_model(str(tmp_path / "mind"))
    users = np.arange(20)
    np.testing.assert_array_equal(fitted.score(users), loaded.score(users))


def test_interests_beat_popularity_on_planted_interests(fitted, split):
    mind = evaluate(fitted, split).metrics
    pop = evaluate(Popularity().fit(split.train), split).metrics
    assert mind["ndcg@10"] > 1.5 * pop["ndcg@10"]
    assert mind["hr@10"] > pop["hr@10"] + 0.1


def test_user_personas_give_k_vectors_with_weights_summing_to_one(fitted, split):
    mix = fitted.user_personas(split.train.user_ids[0])
    assert mix.vectors.shape == (3, 16)
    assert mix.weights.sum() == pytest.approx(1.0)
    assert len(mix.labels) == 3


def test_top_items_come_from_the_users_own_clusters(fitted, split):
    clusters = cluster_of_item(split.train)
    users = np.arange(split.train.n_users)
    recs = fitted.recommend(split.train.user_ids[users], k=5)
    own = [set(split.train.user_info["interests"].iat[u]) for u in users]
    hits = [np.mean([clusters[split.train.item_index([i])[0]] in own[u] for i in recs.item_ids[u]]) for u in users]
    assert np.mean(hits) > 0.8  # popularity alone would get 3 / 8 of its picks from a user's clusters
