"""AMPCF: the candidate-conditional multi-persona model, on planted multi-interest data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from personae.data import leave_last_out
from personae.data.synthetic import cluster_of_item, planted_interests
from personae.evaluate import evaluate
from personae.models.ampcf import AMPCF, persona_cosine
from personae.models.bpr import BPR
from personae.models.options import parse_params
from personae.models.persistence import load_model

FAST = {"epochs": 25, "patience": 25, "lr": 0.02, "batch_size": 256, "loss": "softmax", "negatives": 20, "progress": False}


@pytest.fixture(scope="module")
def planted():
    data = planted_interests(n_users=240, n_clusters=12, items_per_cluster=15, interests_per_user=3,
                             events_per_user=24, seed=0)
    return data, leave_last_out(data)


@pytest.fixture(scope="module")
def fitted(planted):
    _, split = planted
    return AMPCF(personas=3, dim=4, **FAST).fit(split.train, split.valid)


def test_personas_beat_a_single_vector_of_the_same_size_on_planted_interests(planted, fitted):
    # Three disjoint interests per user in 4 dimensions: one vector must average them, while three
    # personas weighed against the candidate can each serve one interest.
    _, split = planted
    single = AMPCF(personas=1, dim=4, **FAST).fit(split.train, split.valid)
    multi_hr = evaluate(fitted, split).metrics["hr@10"]
    single_hr = evaluate(single, split).metrics["hr@10"]
    assert multi_hr > single_hr + 0.05, (multi_hr, single_hr)


def test_candidate_blind_bpr_loses_on_planted_interests(planted, fitted):
    _, split = planted
    bpr = BPR(dim=4, **FAST).fit(split.train, split.valid)
    assert evaluate(fitted, split).metrics["ndcg@10"] > evaluate(bpr, split).metrics["ndcg@10"]


def test_score_all_matches_scoring_the_same_items_one_by_one(fitted):
    users = np.arange(5)
    items = np.array([0, 7, 33, 100])
    assert np.allclose(fitted.score(users)[:, items], fitted.score(users, items), atol=1e-5)


def test_explanation_weights_sum_to_one_and_name_the_argmax_persona(planted, fitted):
    data, _ = planted
    user = data.user_ids[0]
    items = fitted.recommend([user], k=5).item_ids[0]
    history = {str(data.item_ids[i]) for i in fitted.user_history(user)}
    for why in fitted.explain(user, items):
        assert len(why.persona_weights) == 3
        assert abs(sum(why.persona_weights) - 1) < 1e-5
        assert why.persona == int(np.argmax(why.persona_weights))
        assert set(why.supporting_items) <= history


def test_explaining_persona_is_labelled_with_the_candidates_planted_interest(planted, fitted):
    data, _ = planted
    clusters = cluster_of_item(data)
    agree, total = 0, 0
    for user in data.user_ids[:60]:
        for why in fitted.explain(user, fitted.recommend([user], k=3).item_ids[0]):
            cluster = f"cluster{clusters[data.item_index([why.item_id])[0]]}"
            agree += cluster in why.label.split(" / ")[:1]
            total += 1
    assert agree / total > 0.6, agree / total


def test_user_personas_report_prior_weights_and_one_label_per_persona(planted, fitted):
    data, _ = planted
    mix = fitted.user_personas(data.user_ids[3])
    assert mix.vectors.shape == (3, 4)
    assert mix.weights.shape == (3,) and abs(mix.weights.sum() - 1) < 1e-5
    assert len(mix.labels) == 3


def test_memory_per_user_is_k_persona_vectors(fitted):
    assert fitted.bytes_per_user() == 3 * 4 * 4


def test_collapse_is_measured_as_mean_pairwise_cosine():
    same = torch.ones(2, 3, 4)
    orthogonal = torch.eye(3, 4).expand(2, 3, 4)
    assert persona_cosine(same).item() == pytest.approx(1.0)
    assert persona_cosine(orthogonal).item() == pytest.approx(0.0)


def test_save_and_load_give_identical_scores(tmp_path, fitted):
    fitted.save(str(tmp_path / "m"))
    loaded = load_model(tmp_path / "m")
    users = np.arange(10)
    assert np.allclose(loaded.score(users), fitted.score(users), atol=1e-6)


def test_auto_k_prunes_personas_per_user_and_survives_saving(tmp_path, planted):
    _, split = planted
    model = AMPCF(personas="auto", dim=4, **{**FAST, "epochs": 10}).fit(split.train, split.valid)
    kept = model.personas_per_user()
    assert kept.min() >= 1 and kept.max() <= 8
    assert kept.mean() < 8  # something was pruned
    user = split.train.user_ids[0]
    assert len(model.user_personas(user).labels) == kept[0]
    model.save(str(tmp_path / "auto"))
    assert np.array_equal(load_model(tmp_path / "auto").personas_per_user(), kept)


def test_history_personas_serve_a_new_history_without_retraining(planted):
    data, split = planted
    model = AMPCF(personas=3, dim=8, persona_source="history", **FAST).fit(split.train, split.valid)
    assert model.bytes_per_user() == 0  # nothing stored per user
    clusters = cluster_of_item(data)
    fresh = [str(data.item_ids[i]) for i in np.flatnonzero(clusters == 5)[:6]]
    scores = model.score_history(fresh)
    top = np.argsort(-scores)[:10]
    assert np.mean(clusters[top] == 5) >= 0.5  # a new user who watched cluster 5 gets cluster 5


def test_score_history_refuses_embedding_personas(fitted):
    with pytest.raises(ValueError, match="persona_source='history'"):
        fitted.score_history(["1"])


def test_personas_option_accepts_auto_or_a_positive_integer():
    assert parse_params("ampcf", ["personas=auto"]) == {"personas": "auto"}
    assert parse_params("ampcf", ["personas=3"]) == {"personas": 3}
    with pytest.raises(ValueError, match="personas must be a positive integer or 'auto'"):
        AMPCF(personas="many").build_network(planted_interests(n_users=5, n_clusters=3, items_per_cluster=5,
                                                               events_per_user=4))
