"""MMR re-ranking, persona-proportional lists and FixedLists, on hand-made cases and a small real ampcf."""

from __future__ import annotations

import numpy as np
import pytest

from personae.data.genres import genre_matrix
from personae.evaluate import evaluate
from personae.evaluate.evaluator import seen_items
from personae.evaluate.rerank import (
    FixedLists,
    largest_remainder,
    mmr,
    mmr_lists,
    plain_lists,
    proportional_list,
    proportional_lists,
)
from personae.models.ampcf import AMPCF

# candidates 0, 1: genre A; candidate 2: genre B
SIMILARITY = np.array([[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
RELEVANCE = np.array([[1.0, 0.9, 0.0]])


def test_mmr_with_lambda_one_keeps_the_relevance_order():
    assert mmr(RELEVANCE, SIMILARITY, k=3, lam=1.0).tolist() == [[0, 1, 2]]


def test_mmr_takes_the_other_genre_second_when_diversity_outweighs_relevance():
    # step 2, lam 0.5: item 1 -> 0.5 * 0.9 - 0.5 * 1 = -0.05; item 2 -> 0.5 * 0 - 0.5 * 0 = 0 -> item 2
    assert mmr(RELEVANCE, SIMILARITY, k=2, lam=0.5).tolist() == [[0, 2]]
    # lam 0.6: item 1 -> 0.54 - 0.4 = 0.14 > 0 -> item 1
    assert mmr(RELEVANCE, SIMILARITY, k=2, lam=0.6).tolist() == [[0, 1]]


def test_mmr_lists_never_take_masked_items():
    genres = genre_matrix([frozenset("A"), frozenset("A"), frozenset("B"), frozenset("B")])
    scores = np.array([[3.0, -np.inf, 1.0, -np.inf]])
    assert mmr_lists(scores, genres, k=2, lam=0.0, candidates=4).tolist() == [[0, 2]]


def test_largest_remainder_gives_exact_quotas_unchanged():
    assert largest_remainder(np.array([0.5, 0.3, 0.2]), 10).tolist() == [5, 3, 2]


def test_largest_remainder_gives_leftover_slots_to_the_largest_remainders():
    # quotas 10/3 each -> floors 3, 3, 3; one slot left, remainders tie -> lowest index
    assert largest_remainder(np.ones(3), 10).tolist() == [4, 3, 3]
    # quotas 4.5, 3.6, 1.9 -> floors 4, 3, 1; two left -> remainders 0.9 (third), 0.6 (second)
    assert largest_remainder(np.array([0.45, 0.36, 0.19]), 10).tolist() == [4, 4, 2]


def test_proportional_list_fills_each_persona_slots_without_duplicates():
    # persona 0 ranks items 0 > 1 > 2 > ...; persona 1 ranks 1 > 4 > 5 > ...; two slots each
    own = np.array([[9, 8, 7, 6, 0, 0], [0, 9, 0, 0, 8, 7]], dtype=float)
    rank_by = np.array([6, 5, 4, 3, 2, 1], dtype=float)
    chosen = proportional_list(own, np.array([0.5, 0.5]), rank_by, k=4)
    assert chosen.tolist() == [0, 1, 4, 5]  # persona 1's item 1 was taken: it moves on to 4 and 5


def test_proportional_list_with_one_persona_is_that_persona_top_k():
    own = np.array([[1.0, 5.0, 3.0, 4.0, 2.0]])
    assert proportional_list(own, np.array([1.0]), own[0], k=3).tolist() == [1, 3, 2]


def test_proportional_list_skips_masked_items_and_falls_back_to_the_model_when_a_persona_runs_out():
    own = np.array([[5.0, -np.inf, -np.inf, -np.inf], [-np.inf, 4.0, 3.0, -np.inf]])
    rank_by = np.array([1.0, 2.0, 3.0, 0.5])
    # persona 0 has 2 slots but one allowed item; its empty slot goes to the model's best unlisted item
    chosen = proportional_list(own, np.array([0.6, 0.4]), rank_by, k=3)
    assert sorted(chosen.tolist()) == [0, 1, 2]
    assert chosen.tolist() == [2, 1, 0]  # ordered by the model's score


def test_fixed_lists_are_scored_by_the_evaluator_in_their_order(tiny_split):
    # every evaluated user's test item at rank 2: ndcg@2 = 1 / log2(3); items seen at test time avoided
    lists = np.array([[5, 4], [0, 5], [1, 3], [0, 1]])  # item index = id - 1; user d has no test item
    result = evaluate(FixedLists(lists, tiny_split.train.n_items), tiny_split, ks=(2,), beyond_accuracy=False)
    assert result.metrics["ndcg@2"] == pytest.approx(1 / np.log2(3))
    assert result.metrics["hr@2"] == 1.0


@pytest.fixture(scope="module")
def small_ampcf(planted_split):
    def fit(personas: int) -> AMPCF:
        return AMPCF(personas=personas, dim=8, epochs=3, batch_size=256, progress=False).fit(planted_split.train)
    return fit


def test_proportional_lists_of_a_single_persona_model_are_its_plain_lists(planted_split, small_ampcf):
    model = small_ampcf(1)
    users = np.arange(20)
    seen = seen_items(planted_split, "test")
    assert np.array_equal(proportional_lists(model, users, seen), plain_lists(model, users, seen))


def test_proportional_lists_hold_k_distinct_unseen_items(planted_split, small_ampcf):
    model = small_ampcf(3)
    users = np.arange(30)
    seen = seen_items(planted_split, "test")
    lists = proportional_lists(model, users, seen)
    assert lists.shape == (30, 10)
    assert all(len(set(row)) == 10 for row in lists.tolist())
    assert not np.asarray(seen[users[:, None], lists].todense()).any()
