"""The one full-ranking evaluator: masking, hand-computed metrics, batching and tie-breaking.

All hand-computed cases use the ``tiny_split`` fixture (item index = item id - 1):
    user a: train {1, 2, 3}, valid 4, test 5
    user b: train {2},       valid 3, test 6
    user c: train {1},       valid 6, test 4
    user d: train {5, 6}     (fewer than 3 events: no target)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from personae.evaluate import evaluate


class FixedScorer:
    """Every user gets the same score per item; records the batch sizes it was asked for."""

    def __init__(self, item_scores):
        self.item_scores = np.asarray(item_scores, dtype=np.float32)
        self.batches: list[int] = []

    def score(self, user_idx, item_idx=None):
        self.batches.append(len(user_idx))
        return np.tile(self.item_scores, (len(user_idx), 1))


class NoisyScorer:
    """Deterministic per-user scores with many ties (values 0..4), independent of how users are batched."""

    def __init__(self, n_items):
        self.n_items = n_items

    def score(self, user_idx, item_idx=None):
        return np.stack([np.random.default_rng(int(u)).integers(0, 5, self.n_items) for u in user_idx]).astype(
            np.float32)


PREFERS_HIGH_IDS = [1, 2, 3, 4, 5, 6]  # item 6 best, item 1 worst
INV_LOG2_3 = 1 / math.log2(3)  # ndcg of a single hit at rank 2


def test_only_users_with_a_target_in_the_part_are_evaluated(tiny_split):
    result = evaluate(FixedScorer(PREFERS_HIGH_IDS), tiny_split)
    assert result.users.tolist() == [0, 1, 2]  # a, b, c; not d
    assert len(result.per_user["ndcg@10"]) == 3


def test_test_metrics_match_the_hand_computed_ranking(tiny_split):
    # training and validation items masked; ranking 6 > 5 > 4 > ... among the rest:
    # a: masked {1,2,3,4} -> [6, 5]: test 5 at rank 2 -> ndcg 1/log2(3), mrr 1/2
    # b: masked {2,3}     -> [6, 5, 4, 1]: test 6 at rank 1 -> ndcg 1, mrr 1
    # c: masked {1,6}     -> [5, 4, 3, 2]: test 4 at rank 2 -> ndcg 1/log2(3), mrr 1/2
    m = evaluate(FixedScorer(PREFERS_HIGH_IDS), tiny_split, ks=(1, 10), beyond_accuracy=False).metrics
    assert m["ndcg@10"] == pytest.approx((2 * INV_LOG2_3 + 1) / 3)
    assert m["hr@10"] == 1.0
    assert m["recall@10"] == 1.0
    assert m["mrr@10"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert m["hr@1"] == pytest.approx(1 / 3)  # only b's first item is its target
    assert m["ndcg@1"] == pytest.approx(1 / 3)


def test_validation_ranking_masks_training_items_only(tiny_split):
    # a: masked {1,2,3} -> [6, 5, 4]: valid 4 at rank 3 -> ndcg 1/log2(4) = 0.5, mrr 1/3
    # b: masked {2}     -> [6, 5, 4, 3]: valid 3 at rank 4 -> ndcg 1/log2(5), mrr 1/4
    # c: masked {1}     -> [6, ...]: valid 6 at rank 1 -> ndcg 1, mrr 1
    result = evaluate(FixedScorer(PREFERS_HIGH_IDS), tiny_split, part="valid", beyond_accuracy=False)
    assert result.per_user["ndcg@10"] == pytest.approx([0.5, 1 / math.log2(5), 1.0])
    assert result.per_user["mrr@10"] == pytest.approx([1 / 3, 1 / 4, 1.0])


def test_training_items_are_never_recommended_even_when_scored_highest(tiny_split):
    # scores prefer item 1 most; a's items 1-4 are seen, so 5 (its test item) comes first
    result = evaluate(FixedScorer([6, 5, 4, 3, 2, 1]), tiny_split, beyond_accuracy=False)
    assert result.per_user["mrr@10"][0] == 1.0


def test_ties_in_score_go_to_the_lower_item_index(tiny_split):
    # all scores equal, so each ranking is the unmasked items in id order:
    # a: [5, 6] -> test 5 at rank 1; b: [1, 4, 5, 6] -> test 6 at rank 4; c: [2, 3, 4, 5] -> test 4 at rank 3
    result = evaluate(FixedScorer([0] * 6), tiny_split, beyond_accuracy=False)
    assert result.per_user["mrr@10"] == pytest.approx([1.0, 1 / 4, 1 / 3])


def test_beyond_accuracy_metrics_match_the_hand_computed_lists(tiny_split):
    # top-2 lists: a [6, 5], b [6, 5], c [5, 4]
    # coverage@2: {4, 5, 6} of 6 items = 0.5
    # novelty@2: training popularity of 4, 5, 6 is 0, 1, 1 of 4 users (0 counts as 1) -> -log2(1/4) = 2 each
    # ild@2: genres 6 {}, 5 {Action, Drama}, 4 {Action}: d(6,5) = 1, d(6,5) = 1, d(5,4) = 1 - 1/2 -> 2.5 / 3
    m = evaluate(FixedScorer(PREFERS_HIGH_IDS), tiny_split, ks=(2,)).metrics
    assert m["coverage@2"] == pytest.approx(0.5)
    assert m["novelty@2"] == pytest.approx(2.0)
    assert m["ild@2"] == pytest.approx(2.5 / 3)


def test_ild_is_left_out_when_the_data_has_no_genres(make_data):
    from personae.data.splits import leave_last_out

    split = leave_last_out(make_data([("u", i, t) for t, i in enumerate("abcd")]))
    m = evaluate(FixedScorer([0] * 4), split, ks=(2,)).metrics
    assert "coverage@2" in m and "novelty@2" in m
    assert "ild@2" not in m


def test_scores_are_requested_in_batches_no_larger_than_batch_size(ml100k_split):
    scorer = FixedScorer(np.arange(ml100k_split.train.n_items))
    evaluate(scorer, ml100k_split, ks=(10,), beyond_accuracy=False, batch_size=100)
    assert max(scorer.batches) == 100
    assert sum(scorer.batches) == 943


def test_without_a_batch_size_the_models_own_ranking_batch_is_used(ml100k_split):
    default, shared = FixedScorer(np.arange(ml100k_split.train.n_items)), FixedScorer(np.arange(ml100k_split.train.n_items))
    shared.ranking_batch_users = 500  # a model whose scoring call shares work across users asks for more
    evaluate(default, ml100k_split, ks=(10,), beyond_accuracy=False)
    evaluate(shared, ml100k_split, ks=(10,), beyond_accuracy=False)
    assert default.batches == [256, 256, 256, 175]
    assert shared.batches == [500, 443]


def test_batch_size_does_not_change_any_result(ml100k_split):
    scorer = NoisyScorer(ml100k_split.train.n_items)
    whole = evaluate(scorer, ml100k_split, batch_size=1024)
    batched = evaluate(scorer, ml100k_split, batch_size=37)
    assert whole.metrics == batched.metrics
    for key, values in whole.per_user.items():
        assert np.array_equal(values, batched.per_user[key]), key


def test_catalogue_smaller_than_k_is_evaluated_on_the_whole_catalogue(tiny_split):
    m = evaluate(FixedScorer(PREFERS_HIGH_IDS), tiny_split, ks=(20,), beyond_accuracy=False).metrics
    assert m["ndcg@20"] == pytest.approx((2 * INV_LOG2_3 + 1) / 3)


def test_unknown_part_is_refused(tiny_split):
    with pytest.raises(ValueError, match="part must be 'valid' or 'test'"):
        evaluate(FixedScorer(PREFERS_HIGH_IDS), tiny_split, part="train")
