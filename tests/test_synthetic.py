"""Planted multi-interest data: the shape and the truth it promises."""

import numpy as np
import pytest

from personae.data.synthetic import cluster_of_item, planted_interests


def test_planted_interests_has_the_requested_shape_and_side_info():
    data = planted_interests(n_users=50, n_clusters=6, items_per_cluster=10, interests_per_user=2,
                             events_per_user=12, seed=1)
    assert data.n_users == 50
    assert len(data) == 50 * 12
    assert data.n_items <= 6 * 10
    assert len(data.item_info) == data.n_items and list(data.item_info.columns) == ["title", "genres"]
    assert len(data.user_info) == data.n_users
    assert cluster_of_item(data).shape == (data.n_items,)


def test_cluster_of_item_matches_the_integer_item_ids():
    data = planted_interests(n_users=40, n_clusters=5, items_per_cluster=8, events_per_user=10)
    np.testing.assert_array_equal(cluster_of_item(data), data.item_ids.astype(int) // 8)


def test_every_user_draws_from_exactly_their_own_interests():
    data = planted_interests(n_users=80, n_clusters=8, items_per_cluster=10, interests_per_user=3,
                             events_per_user=15, seed=3)
    clusters = cluster_of_item(data)
    for user in range(data.n_users):
        seen = set(clusters[data.items[data.users == user]].tolist())
        assert seen == set(data.user_info["interests"].iat[user])


def test_no_user_repeats_an_item_and_time_increases_per_user():
    data = planted_interests(n_users=30, events_per_user=20, seed=2)
    for user in range(data.n_users):
        rows = np.flatnonzero(data.users == user)
        assert len(np.unique(data.items[rows])) == len(rows)
        assert np.all(np.diff(data.timestamps[rows]) > 0)


def test_popular_items_within_a_cluster_are_drawn_more_often():
    data = planted_interests(n_users=300, seed=0)
    rank = data.item_ids.astype(int) % 20
    counts = np.bincount(data.items, minlength=data.n_items)
    assert counts[rank == 0].mean() > 2 * counts[rank == 19].mean()


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not():
    a, b, c = planted_interests(seed=7), planted_interests(seed=7), planted_interests(seed=8)
    np.testing.assert_array_equal(a.items, b.items)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    assert not np.array_equal(a.items, c.items)


def test_impossible_sizes_are_refused_with_the_argument_named():
    with pytest.raises(ValueError, match="events_per_user"):
        planted_interests(items_per_cluster=5, interests_per_user=2, events_per_user=11)
    with pytest.raises(ValueError, match="interests_per_user"):
        planted_interests(n_clusters=3, interests_per_user=4)
