"""The Interactions container: id maps, CSR view, popularity, lookups and side information."""

from __future__ import annotations

import numpy as np
import pytest

from personae.data.interactions import Interactions


def test_integer_ids_are_indexed_in_numeric_order_not_string_order():
    data = Interactions.from_ids(["10", "2", "1"], [30, 4, 100])
    assert data.user_ids.tolist() == ["1", "2", "10"]
    assert data.item_ids.tolist() == ["4", "30", "100"]


def test_non_numeric_ids_are_indexed_in_lexicographic_order():
    data = Interactions.from_ids(["bob", "alice", "carol"], ["x", "z", "y"])
    assert data.user_ids.tolist() == ["alice", "bob", "carol"]
    assert data.item_ids.tolist() == ["x", "y", "z"]


def test_event_indices_point_back_to_the_external_ids():
    users, items = ["7", "3", "7"], ["b", "a", "c"]
    data = Interactions.from_ids(users, items)
    assert [data.user_ids[u] for u in data.users] == users
    assert [data.item_ids[i] for i in data.items] == items


def test_counts_describe_users_items_and_events():
    data = Interactions.from_ids([1, 1, 2], [1, 2, 2])
    assert (data.n_users, data.n_items, len(data)) == (2, 2, 3)
    assert data.describe() == "data: 2 users, 2 items, 3 events"


def test_csr_counts_a_repeated_user_item_event_once():
    data = Interactions.from_ids([1, 1, 1], [5, 5, 6])
    assert data.csr.toarray().tolist() == [[1.0, 1.0]]


def test_item_popularity_counts_distinct_users():
    # item 5: users 1 and 2 (user 1 twice) -> 2; item 6: user 1 -> 1
    data = Interactions.from_ids([1, 1, 2, 1], [5, 5, 5, 6])
    assert data.item_popularity.tolist() == [2.0, 1.0]


def test_user_index_of_unknown_user_names_the_id():
    data = Interactions.from_ids([1], [1])
    assert data.user_index(1) == 0
    with pytest.raises(KeyError, match="unknown user id '99'"):
        data.user_index(99)


def test_item_index_names_the_first_unknown_item():
    data = Interactions.from_ids([1, 1], [1, 2])
    assert data.item_index([2, 1]).tolist() == [1, 0]
    with pytest.raises(KeyError, match="unknown item id 'nope'"):
        data.item_index([1, "nope", "other"])


def test_subset_keeps_the_id_maps_and_timestamps_of_the_kept_events():
    data = Interactions.from_ids([1, 2, 3], [1, 2, 3], timestamps=[10, 20, 30])
    part = data.subset(np.array([False, True, False]), name="part")
    assert part.user_ids.tolist() == ["1", "2", "3"]
    assert part.n_items == 3
    assert part.timestamps.tolist() == [20.0]
    assert part.csr.shape == (3, 3)
    assert part.name == "part"


def test_item_titles_fall_back_to_ids_without_item_info():
    data = Interactions.from_ids([1, 1], [7, 8])
    assert data.item_titles(np.array([1, 0])) == ["8", "7"]


def test_item_genres_are_none_without_a_genres_column(make_data):
    assert make_data([("u", "i")]).item_genres() is None
    with_genres = make_data([("u", "i"), ("u", "j")], genres={"i": ["Drama"]})
    assert with_genres.item_genres() == [frozenset({"Drama"}), frozenset()]
