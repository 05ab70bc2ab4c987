"""User descriptors for stratified comparisons: history length and genre entropy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personae.data.interactions import Interactions
from personae.evaluate.strata import genre_entropy, history_length

# items a, b: Drama; c: Comedy; d: Drama and Comedy
GENRES = {"a": ["Drama"], "b": ["Drama"], "c": ["Comedy"], "d": ["Drama", "Comedy"]}
EVENTS = [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "c"), ("u3", "d"), ("u3", "a"), ("u3", "c"), ("u3", "b")]


@pytest.fixture
def data() -> Interactions:
    users, items = zip(*EVENTS)
    plain = Interactions.from_ids(list(users), list(items))
    info = pd.DataFrame({"title": list(plain.item_ids), "genres": [GENRES[i] for i in plain.item_ids]})
    return plain.with_side_info(item_info=info)


def test_one_genre_users_have_zero_entropy_and_an_even_two_genre_split_has_one_bit(data):
    entropy = dict(zip(data.user_ids, genre_entropy(data)))
    assert entropy["u1"] == 0.0  # Drama only: no spread
    assert entropy["u2"] == pytest.approx(1.0)  # one Drama, one Comedy
    assert entropy["u3"] == pytest.approx(-(0.6 * np.log2(0.6) + 0.4 * np.log2(0.4)))  # 3 Drama, 2 Comedy


def test_data_without_genres_gives_zero_entropy_for_everyone(data):
    assert not genre_entropy(Interactions.from_ids(data.user_ids[data.users], data.item_ids[data.items])).any()


def test_history_length_counts_distinct_training_items(data):
    assert dict(zip(data.user_ids, history_length(data).tolist())) == {"u1": 2, "u2": 2, "u3": 4}
