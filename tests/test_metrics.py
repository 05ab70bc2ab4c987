"""Ranking metrics on hand-computed cases; the arithmetic is written out next to each expectation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from personae.data.genres import genre_matrix
from personae.evaluate.metrics import (
    accuracy_at_k,
    coverage,
    intra_list_distance,
    novelty,
    top_k,
)


def test_top_k_returns_the_best_items_first():
    scores = np.array([[0.1, 0.9, 0.5, 0.7]])
    assert top_k(scores, 3).tolist() == [[1, 3, 2]]


def test_top_k_gives_ties_to_the_lower_item_index():
    scores = np.array([[1.0, 2.0, 2.0, 1.0, 2.0]])
    assert top_k(scores, 5).tolist() == [[1, 2, 4, 0, 3]]


def test_top_k_puts_masked_items_last():
    scores = np.array([[-np.inf, 0.0, -np.inf, -1.0]])
    assert top_k(scores, 4).tolist() == [[1, 3, 0, 2]]


def test_top_k_is_capped_at_the_catalogue_size():
    assert top_k(np.zeros((2, 3)), 10).shape == (2, 3)


def test_top_k_by_partial_sort_equals_the_full_stable_sort_on_data_full_of_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(60, 30)).astype(np.float32)  # 4 values over 30 items: ties everywhere
    scores[rng.random(scores.shape) < 0.2] = -np.inf  # masked items tie too
    scores[0] = 1.0  # a row that is one big tie
    full = np.argsort(-scores, axis=1, kind="stable")
    for k in range(1, 31):  # every k, so the cut-off falls inside runs of ties
        assert np.array_equal(top_k(scores, k), full[:, :k]), k


def test_top_k_with_a_nan_score_still_equals_the_full_stable_sort():
    scores = np.array([[0.5, np.nan, 0.5, 0.9, 0.1]])
    assert top_k(scores, 3).tolist() == np.argsort(-scores, axis=1, kind="stable")[:, :3].tolist()


def test_one_target_hit_at_rank_three():
    # hit at 1-based rank 3: dcg = 1/log2(3+1) = 0.5, idcg = 1/log2(2) = 1 -> ndcg 0.5; mrr = 1/3
    m = accuracy_at_k(np.array([[False, False, True, False]]), np.array([1]), k=4)
    assert m["hr"].tolist() == [1.0]
    assert m["ndcg"] == pytest.approx([0.5])
    assert m["recall"].tolist() == [1.0]
    assert m["mrr"] == pytest.approx([1 / 3])


def test_hit_beyond_k_does_not_count():
    m = accuracy_at_k(np.array([[False, False, True]]), np.array([1]), k=2)
    assert [m[name][0] for name in ("hr", "ndcg", "recall", "mrr")] == [0.0, 0.0, 0.0, 0.0]


def test_two_targets_hit_at_ranks_one_and_three():
    # dcg = 1/log2(2) + 1/log2(4) = 1 + 0.5 = 1.5; idcg (2 targets) = 1 + 1/log2(3) = 1.63093
    # ndcg = 1.5 / 1.63093 = 0.91972; recall = 2/2; mrr = 1/1
    m = accuracy_at_k(np.array([[True, False, True, False]]), np.array([2]), k=4)
    assert m["ndcg"] == pytest.approx([1.5 / (1 + 1 / math.log2(3))])
    assert m["ndcg"][0] == pytest.approx(0.91972, abs=1e-5)
    assert m["recall"].tolist() == [1.0]
    assert m["mrr"].tolist() == [1.0]


def test_recall_divides_by_all_targets_and_ideal_dcg_is_capped_at_k():
    # 3 targets, k = 2, one hit at rank 2: recall = 1/3; idcg = 1 + 1/log2(3) (only 2 slots);
    # dcg = 1/log2(3) -> ndcg = 0.63093 / 1.63093 = 0.38685
    m = accuracy_at_k(np.array([[False, True]]), np.array([3]), k=2)
    assert m["recall"] == pytest.approx([1 / 3])
    assert m["ndcg"] == pytest.approx([(1 / math.log2(3)) / (1 + 1 / math.log2(3))])
    assert m["mrr"] == pytest.approx([0.5])


def test_metrics_are_computed_per_user_row():
    hits = np.array([[True, False], [False, True], [False, False]])
    m = accuracy_at_k(hits, np.array([1, 1, 1]), k=2)
    assert m["hr"].tolist() == [1.0, 1.0, 0.0]
    assert m["mrr"].tolist() == [1.0, 0.5, 0.0]


def test_k_larger_than_the_ranked_list_uses_the_list_it_has():
    # a catalogue of 3 items evaluated at k=10: hit at rank 2 -> ndcg 1/log2(3)
    m = accuracy_at_k(np.array([[False, True, False]]), np.array([1]), k=10)
    assert m["ndcg"] == pytest.approx([1 / math.log2(3)])
    assert m["hr"].tolist() == [1.0]


def test_coverage_is_the_share_of_the_catalogue_recommended_to_anyone():
    # items {0, 1, 2} of 5 appear -> 3/5
    assert coverage(np.array([[0, 1], [1, 2]]), n_items=5) == pytest.approx(0.6)


def test_novelty_is_the_mean_self_information_of_recommended_items():
    # 4 users; popularity [4, 2, 1, 0] -> p = [1, 1/2, 1/4, 1/4 (unseen counts as 1 user)]
    # -log2 p = [0, 1, 2, 2]; lists hold items 0,1 and 2,3 -> mean (0 + 1 + 2 + 2) / 4 = 1.25
    value = novelty(np.array([[0, 1], [2, 3]]), np.array([4, 2, 1, 0]), n_users=4)
    assert value == pytest.approx(1.25)


def test_genre_matrix_has_one_column_per_genre_in_sorted_order():
    matrix = genre_matrix([frozenset({"B", "A"}), frozenset(), frozenset({"C"})])
    assert matrix.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]


def test_intra_list_distance_is_the_mean_pairwise_one_minus_jaccard():
    # items: 0 {A, B}, 1 {B}, 2 {C}; list [0, 1, 2]
    # d(0,1) = 1 - |{B}|/|{A,B}| = 0.5; d(0,2) = 1 - 0 = 1; d(1,2) = 1 -> mean 2.5 / 3
    genres = genre_matrix([frozenset({"A", "B"}), frozenset({"B"}), frozenset({"C"})])
    assert intra_list_distance(np.array([[0, 1, 2]]), genres) == pytest.approx(2.5 / 3)


def test_intra_list_distance_averages_over_lists():
    # list [0, 1]: 0.5; list [1, 2]: 1.0 -> 0.75
    genres = genre_matrix([frozenset({"A", "B"}), frozenset({"B"}), frozenset({"C"})])
    assert intra_list_distance(np.array([[0, 1], [1, 2]]), genres) == pytest.approx(0.75)


def test_two_items_without_genres_are_at_distance_zero():
    genres = genre_matrix([frozenset(), frozenset(), frozenset({"A"})])
    # d(0,1) = 0 (both empty), d(0,2) = 1, d(1,2) = 1 -> 2/3
    assert intra_list_distance(np.array([[0, 1, 2]]), genres) == pytest.approx(2 / 3)
    assert intra_list_distance(np.array([[0, 1]]), genres) == 0.0
