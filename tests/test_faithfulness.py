"""Faithfulness: removing what an explanation names must make the recommendation fall more than a control."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from personae.data import leave_last_out
from personae.data.synthetic import planted_interests
from personae.explain.faithfulness import (
    compare_explainers,
    fold_in_faithfulness,
    history_faithfulness,
    persona_faithfulness,
    unseen_rank,
)
from personae.models.ampcf import AMPCF
from personae.models.bpr import BPR

FAST = {"epochs": 20, "patience": 20, "lr": 0.02, "batch_size": 256, "loss": "softmax", "negatives": 20, "progress": False}
USERS = np.arange(40)


@pytest.fixture(scope="module")
def split():
    return leave_last_out(planted_interests(n_users=200, n_clusters=10, items_per_cluster=15, interests_per_user=3,
                                            events_per_user=24, seed=1))


@pytest.fixture(scope="module")
def learned(split):
    return AMPCF(personas=3, dim=8, **FAST).fit(split.train, split.valid)


def test_unseen_rank_skips_seen_items_and_breaks_ties_by_index():
    scores = np.array([[5.0, 3.0, 3.0, 9.0, 1.0]])
    assert unseen_rank(scores, 2, seen=np.array([3])).tolist() == [2]  # item 0, then item 1 (tie, lower index)


def test_masking_the_winning_persona_drops_the_item_more_than_a_random_persona(learned):
    summary = persona_faithfulness(learned, USERS).summary()
    assert summary["cases"] == 400
    assert summary["share_ci"][0] > 0.6, summary  # planted interests: each persona serves one interest
    assert summary["pos@k_explained"] < summary["pos@k_control"]


def test_identical_personas_make_the_explanation_no_better_than_the_control(split):
    collapsed = AMPCF(personas=3, dim=8, **{**FAST, "epochs": 2}).fit(split.train, split.valid)
    with torch.no_grad():  # every persona a copy of the first: which one is masked cannot matter
        collapsed.network_.user_personas[:] = collapsed.network_.user_personas[:, :1]
    summary = persona_faithfulness(collapsed, USERS).summary()
    assert summary["share_beats_control"] == 0.5 and summary["share_ci"] == [0.5, 0.5]
    assert summary["pos@k_explained"] == summary["pos@k_control"]


def test_removing_supporting_history_items_beats_random_items_and_the_other_persona(split):
    model = AMPCF(personas=3, dim=8, persona_source="history", **FAST).fit(split.train, split.valid)
    summary = history_faithfulness(model, USERS[:20]).summary()
    assert summary["share_ci"][0] > 0.6, summary
    assert summary["share_beats_other_persona"] > 0.5
    assert 0.0 <= summary["del"] <= summary["ins"] <= 1.0


def test_a_random_explainer_is_no_better_than_its_random_control(split):
    model = BPR(dim=8, epochs=5, progress=False).fit(split.train, split.valid)
    summary = fold_in_faithfulness(model, USERS, explainer="random").summary()
    assert summary["share_ci"][0] < 0.5 < summary["share_ci"][1], summary
    similar = fold_in_faithfulness(model, USERS, explainer="similar").summary()
    assert similar["share_ci"][0] > summary["share_ci"][1]


@pytest.fixture(scope="module")
def bpr(split):
    return BPR(dim=8, epochs=5, progress=False).fit(split.train, split.valid)


def test_two_random_explainers_of_the_same_recommendations_do_not_differ(bpr):
    first = fold_in_faithfulness(bpr, USERS, explainer="random", seed=0)
    second = fold_in_faithfulness(bpr, USERS, explainer="random", seed=1)
    assert np.array_equal(first.items, second.items)  # the same recommendations, case by case
    result = compare_explainers(first, second)
    assert not result.effect and result.unit == "users" and result.n_units == len(np.unique(first.users))


def test_similar_items_explain_better_than_random_items_paired_over_users(bpr):
    similar = fold_in_faithfulness(bpr, USERS, explainer="similar")
    random = fold_in_faithfulness(bpr, USERS, explainer="random")
    assert compare_explainers(similar, random).low > 0


def test_explainers_of_different_users_are_not_compared(bpr):
    first = fold_in_faithfulness(bpr, USERS[:20], explainer="random")
    second = fold_in_faithfulness(bpr, USERS[20:], explainer="random")
    with pytest.raises(ValueError, match="same recommendations"):
        compare_explainers(first, second)
