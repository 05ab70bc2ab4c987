"""User descriptors for stratified comparisons (history length, genre entropy) and the per-stratum comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personae.data.interactions import Interactions
from personae.evaluate.strata import compare_by_stratum, genre_entropy, history_length, terciles

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


def _two_systems(effect_in_first_tercile: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    user = rng.normal(size=900)
    descriptor = rng.normal(size=900)
    stratum, _ = terciles(descriptor)
    a = user + rng.normal(0, 0.5, size=(3, 900)) + effect_in_first_tercile * (stratum == 0)
    b = user + rng.normal(0, 0.5, size=(3, 900))
    strata = {"overall": (np.zeros(900, dtype=int), ["all"]), "descriptor": (stratum, ["low", "mid", "high"])}
    return a, b, strata


def test_terciles_split_units_into_three_equal_groups():
    stratum, cuts = terciles(np.arange(30.0))
    assert np.bincount(stratum).tolist() == [10, 10, 10] and len(cuts) == 2


def test_holm_adjusted_p_values_cover_every_row_of_the_table():
    a, b, strata = _two_systems(0.0)
    table = compare_by_stratum(a, b, strata)
    rows = [row for rows in table.values() for row in rows]
    assert len(rows) == 4 and all(row["p_holm"] >= row["interval"].p_value for row in rows)
    assert rows[1]["interval"].n_units == 300 and rows[1]["interval"].n_seeds == 3


def test_two_systems_with_no_difference_show_no_stratum_after_holm():
    a, b, strata = _two_systems(0.0, seed=1)
    table = compare_by_stratum(a, b, strata)
    assert all(row["p_holm"] >= 0.05 for rows in table.values() for row in rows)


def test_a_difference_planted_in_one_tercile_is_found_there_and_not_in_the_others():
    a, b, strata = _two_systems(0.3, seed=2)
    low, mid, high = compare_by_stratum(a, b, strata)["descriptor"]
    assert low["p_holm"] < 0.05 and low["interval"].estimate > 0
    assert mid["p_holm"] >= 0.05 and high["p_holm"] >= 0.05
