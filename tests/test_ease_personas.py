"""ease-personas: EASE's score split exactly into per-persona parts over Ward clusters of the user's items;
the explaining persona is the largest part. Also ampcf's clusters persona source."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from personae.data.splits import leave_last_out
from personae.data.synthetic import planted_interests
from personae.models.ampcf import AMPCF
from personae.models.ease import EASE
from personae.models.ease_personas import EASEPersonas, part_shares
from personae.models.item_clusters import cluster_items


@pytest.fixture(scope="module")
def split():
    return leave_last_out(planted_interests(n_users=80, n_clusters=6, items_per_cluster=12, events_per_user=20))


@pytest.fixture(scope="module")
def fitted(split):
    return EASEPersonas(l2=50.0, focus=0.0, personas=3).fit(split.train, split.valid)


def test_the_parts_sum_to_eases_score(split, fitted):
    ease = EASE(l2=50.0).fit(split.train)
    users = np.arange(10)
    assert np.allclose(fitted.parts(users).sum(axis=1), ease.score(users), atol=1e-4)


def test_with_no_focus_the_ranking_is_eases(split, fitted):
    ease = EASE(l2=50.0).fit(split.train)
    users = np.arange(10)
    assert np.array_equal(fitted.rank(users, 10).items, ease.rank(users, 10).items)


def test_the_explaining_persona_is_the_largest_part(fitted):
    user = fitted.fitted_data.user_ids[0]
    items = fitted.recommend([user], k=5).item_ids[0]
    parts = fitted.parts(np.array([0]), fitted.fitted_data.item_index(items))[0].T  # (C, K)
    assert [e.persona for e in fitted.explain(user, items)] == parts.argmax(axis=1).tolist()


def test_supporting_items_belong_to_the_explaining_persona(fitted):
    user = fitted.fitted_data.user_ids[0]
    history, owner = fitted.history_owner(0)
    owner_of = dict(zip(fitted.fitted_data.item_ids[history], owner))
    for why in fitted.explain(user, fitted.recommend([user], k=5).item_ids[0]):
        assert all(owner_of[i] == why.persona for i in why.supporting_items)


def test_focus_is_chosen_on_validation_when_unset(split):
    model = EASEPersonas(l2=50.0, personas=3).fit(split.train, split.valid)
    assert set(model.focus_tuning_) == {0.0, 0.25, 0.5} and model.focus_ in model.focus_tuning_


def test_part_shares_sum_to_one_and_fall_back_to_the_largest_part():
    shares = part_shares(np.array([[2.0, 1.0, -1.0], [-1.0, -0.5, -2.0]]))
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert shares[1].tolist() == [0.0, 1.0, 0.0]


def test_save_and_load_give_the_same_scores(tmp_path, fitted):
    fitted.save(str(tmp_path / "m"))
    loaded = EASEPersonas.load(str(tmp_path / "m"))
    assert np.allclose(loaded.score(np.arange(5)), fitted.score(np.arange(5)))


def test_ward_clusters_separate_two_far_groups_and_number_them_by_size():
    vectors = np.array([[1, 0], [0.99, 0.1], [0.98, 0.05], [0, 1], [0.1, 0.99]], dtype=np.float32)
    assert cluster_items(vectors, 2).tolist() == [0, 0, 0, 1, 1]


def test_a_user_with_fewer_items_than_k_gets_one_cluster_per_item():
    assert cluster_items(np.eye(2, dtype=np.float32), 4).tolist() == [0, 1]


def test_ampcf_cluster_personas_are_the_means_of_their_items(split):
    model = AMPCF(persona_source="clusters", personas=3, epochs=1, progress=False).fit(split.train)
    network = model.network_
    network.eval()
    with torch.no_grad():
        personas = network.personas(torch.tensor([0]))[0]  # (K, dim)
        row, clusters = network.history[0], network.history_clusters[0]
        for k in range(3):
            mine = row[(clusters == k) & (row >= 0)]
            if len(mine):
                assert torch.allclose(personas[k], network.history_items(mine).mean(dim=0), atol=1e-5)
            assert bool(network.persona_mask[0, k]) == bool(len(mine))


def test_genre_weight_makes_clusters_follow_genres(split):
    from personae.models.item_clusters import item_embedding, with_genres

    plain = item_embedding(split.train)
    assert with_genres(split.train, plain, 0.0) is plain
    assert with_genres(split.train, plain, 1.0).shape[1] == plain.shape[1] + len(split.train.genre_onehot[1])
