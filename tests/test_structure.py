"""Structure, not noise: personas across seeds, planted recovery, the space module on a recommender."""

from __future__ import annotations

import numpy as np
import pytest

from personae.data import leave_last_out
from personae.data.synthetic import cluster_of_item, planted_interests
from personae.models.ampcf import AMPCF
from personae.space import (
    dominant_axis,
    fit_cap_bounds,
    fit_pca,
    persona_silhouette,
    planted_recovery,
    seed_stability,
)

FAST = {"epochs": 20, "patience": 20, "lr": 0.02, "batch_size": 256, "loss": "softmax", "negatives": 20, "progress": False}


@pytest.fixture(scope="module")
def planted():
    data = planted_interests(n_users=200, n_clusters=8, items_per_cluster=25, interests_per_user=(1, 3),
                             events_per_user=20, seed=2)
    return data, leave_last_out(data)


@pytest.fixture(scope="module")
def two_seeds(planted):
    _, split = planted
    return [AMPCF(personas=3, dim=8, seed=s, **FAST).fit(split.train, split.valid) for s in (0, 1)]


def test_personas_of_two_seeds_match_better_than_randomly_paired_users(two_seeds):
    result = seed_stability(*two_seeds, users=np.arange(100))
    assert result["matched_cosine"] > result["random_pair_cosine"] + 0.1, result
    assert result["assignment_ari"] > result["shuffled_ari"] + 0.2, result
    assert abs(result["shuffled_ari"]) < 0.1


def test_a_run_compared_with_itself_is_perfectly_stable(two_seeds):
    result = seed_stability(two_seeds[0], two_seeds[0], users=np.arange(50))
    assert result["matched_cosine"] == pytest.approx(1.0) and result["assignment_ari"] == pytest.approx(1.0)


def test_planted_interests_are_recovered_above_the_shuffled_null(planted, two_seeds):
    data, _ = planted
    result = planted_recovery(two_seeds[0], cluster_of_item(data), users=np.arange(200))
    assert result["ari_multi_interest_users"] > result["shuffled_ari_multi_interest_users"] + 0.2, result
    assert abs(result["shuffled_ari_multi_interest_users"]) < 0.1


def test_persona_space_of_a_recommender_groups_personas_by_planted_interest(planted, two_seeds):
    data, _ = planted
    model, clusters = two_seeds[0], cluster_of_item(data)
    vectors, labels = [], []
    for user in data.user_ids[:150]:
        mix = model.user_personas(user)
        for k, persona in enumerate(mix.persona_ids):
            items = [h for h, p in zip(mix.history, mix.history_persona) if p == persona]
            if items:
                vectors.append(mix.vectors[k])
                labels.append(np.bincount(clusters[data.item_index(items)]).argmax())
    result = persona_silhouette(np.asarray(vectors), [str(x) for x in labels])
    assert result["silhouette"] > result["shuffled_silhouette"] + 0.1, result
    pca = fit_pca(np.asarray(vectors))
    assert pca.explained[:2].sum() > 2 / 8  # more than isotropic noise in 8 dimensions would give
    bounds = fit_cap_bounds(np.asarray(vectors), dominant_axis(np.asarray(vectors)))
    assert bounds.low < bounds.high and bounds.max_step > 0
