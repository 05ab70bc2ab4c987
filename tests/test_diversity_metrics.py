"""Per-list diversity metrics on hand-made cases; the arithmetic is written out next to each expectation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from personae.data.genres import genre_matrix
from personae.evaluate.metrics import (
    calibration_distance,
    genre_shares,
    genres_per_list,
    intra_list_distance,
    intra_list_distances,
    persona_share,
)

# items 0..4: {A}, {A, B}, {B}, {C}, no genre
GENRES = genre_matrix([frozenset("A"), frozenset("AB"), frozenset("B"), frozenset("C"), frozenset()])


def test_genres_per_list_counts_distinct_genres():
    lists = np.array([[0, 1, 3], [0, 2, 3]])  # {A, B, C} and {A, B, C}
    assert genres_per_list(lists, GENRES).tolist() == [3, 3]


def test_genres_per_list_is_one_for_a_single_genre_list():
    assert genres_per_list(np.array([[0, 0, 0]]), GENRES).tolist() == [1]


def test_genreless_items_add_no_genre_to_a_list():
    assert genres_per_list(np.array([[4, 4], [4, 3]]), GENRES).tolist() == [0, 1]


def test_intra_list_distances_are_per_list_and_average_to_ild():
    # list [0, 1]: Jaccard({A}, {A, B}) = 1/2 -> distance 0.5; list [0, 3]: disjoint -> 1
    lists = np.array([[0, 1], [0, 3]])
    assert intra_list_distances(lists, GENRES) == pytest.approx([0.5, 1.0])
    assert intra_list_distance(lists, GENRES) == pytest.approx(0.75)


def test_genre_shares_spread_an_item_evenly_over_its_genres():
    assert genre_shares(GENRES).tolist() == [[1, 0, 0], [0.5, 0.5, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]


def test_calibration_is_zero_when_the_list_has_the_history_genre_mix():
    # history {A} + {B} -> (1/2, 1/2, 0); list {A, B} twice -> (1/2, 1/2, 0)
    history = np.array([[1, 0, 1, 0, 0]])
    assert calibration_distance(history, np.array([[1, 1]]), GENRES) == pytest.approx([0.0])


def test_calibration_is_one_when_list_and_history_share_no_genre():
    history = np.array([[1, 0, 0, 0, 0]])  # (1, 0, 0)
    assert calibration_distance(history, np.array([[3, 3]]), GENRES) == pytest.approx([1.0])


def test_calibration_on_a_half_overlap_by_hand():
    # p = {A,B} -> (1/2, 1/2), q = {A} -> (1, 0), m = (3/4, 1/4)
    # KL(p||m) = 1/2 log2(2/3) + 1/2 log2(2) = 0.207519; KL(q||m) = log2(4/3) = 0.415037
    # JS = (0.207519 + 0.415037) / 2 = 0.311278 -> distance sqrt(JS) = 0.557923
    history = sp.csr_matrix(np.array([[0, 1, 0, 0, 0]]))
    expected = math.sqrt((0.5 * math.log2(2 / 3) + 0.5 + math.log2(4 / 3)) / 2)
    assert calibration_distance(history, np.array([[0]]), GENRES) == pytest.approx([expected])
    assert expected == pytest.approx(0.557923, abs=1e-6)


def test_calibration_ignores_genreless_items_and_is_nan_without_genre_mass():
    history = np.array([[1, 0, 0, 0, 1], [0, 0, 0, 0, 1]])
    lists = np.array([[0, 4], [0, 4]])
    distance = calibration_distance(history, lists, GENRES)
    assert distance[0] == pytest.approx(0.0)  # the genreless item 4 on both sides changes nothing
    assert math.isnan(distance[1])  # a history of genreless items only has no distribution


def test_persona_share_counts_kept_personas_that_win_an_item():
    winners = np.array([[0, 2, 2], [1, 1, 1]])
    kept = np.array([[True, True, True, True], [True, True, True, True]])
    assert persona_share(winners, kept).tolist() == [0.5, 0.25]


def test_persona_share_is_over_kept_personas_only():
    # two of four personas were pruned; the list reaches one of the two kept -> 1/2
    winners = np.array([[3, 3]])
    kept = np.array([[False, True, False, True]])
    assert persona_share(winners, kept).tolist() == [0.5]
