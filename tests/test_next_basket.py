"""The next-basket split: a global time cut, each user's next basket after it as the test set, the last basket
before it as validation, repeats kept in train; the new-products variant keeps only never-bought items."""

from __future__ import annotations

import numpy as np
import pytest

from personae.data.next_basket import basket_ids, next_basket
from personae.errors import DataError
from personae.evaluate.evaluator import evaluate
from personae.models.tifu_knn import TIFUKNN, decayed_user_vectors
from personae.models.top_frequency import TopFrequency
from tests.conftest import make_interactions

# user a: baskets at t=1 {1, 2}, t=2 {1, 3}, t=3 {1, 2}, t=10 {1, 4}, t=11 {5}
# user b: baskets at t=1 {2}, t=9 {2, 3}, t=12 {6}
# user c: basket at t=12 {1}: nothing before the cut, so never tested
EVENTS = [("a", "1", 1), ("a", "2", 1), ("a", "1", 2), ("a", "3", 2), ("a", "1", 3), ("a", "2", 3),
          ("a", "1", 10), ("a", "4", 10), ("a", "5", 11), ("b", "2", 1), ("b", "2", 9), ("b", "3", 9),
          ("b", "6", 12), ("c", "1", 12)]


def _ids(part, data, user):
    u = data.user_index(user)
    return sorted(data.item_ids[part.items[part.users == u]].tolist())


@pytest.fixture
def data():
    return make_interactions(EVENTS)


def test_test_is_each_users_first_basket_after_the_cut(data):
    split = next_basket(data, test_fraction=0.3)  # cut at t=10: events at t >= 10 are after it
    assert _ids(split.test, data, "a") == ["1", "4"]
    assert _ids(split.test, data, "b") == ["6"]


def test_a_user_with_nothing_before_the_cut_is_not_tested(data):
    split = next_basket(data, test_fraction=0.3)
    assert _ids(split.test, data, "c") == []


def test_validation_is_the_last_basket_before_the_cut(data):
    split = next_basket(data, test_fraction=0.3)
    assert _ids(split.valid, data, "a") == ["1", "2"]
    assert _ids(split.valid, data, "b") == ["2", "3"]


def test_train_keeps_repeat_purchases(data):
    split = next_basket(data, test_fraction=0.3)
    assert _ids(split.train, data, "a") == ["1", "1", "2", "3"]


def test_new_products_variant_keeps_only_items_never_bought_before(data):
    split = next_basket(data, test_fraction=0.3, new_only=True)
    assert _ids(split.test, data, "a") == ["4"]
    assert _ids(split.test, data, "b") == ["6"]


def test_baskets_are_a_users_events_at_one_time(data):
    baskets = basket_ids(data)
    assert len(np.unique(baskets)) == 9


def test_the_split_needs_timestamps():
    with pytest.raises(DataError, match="time column"):
        next_basket(make_interactions([("a", "1"), ("a", "2")]))


def test_top_frequency_ranks_the_most_bought_item_first(data):
    split = next_basket(data, test_fraction=0.3)
    model = TopFrequency().fit(split.train)
    assert data.item_ids[model.rank(np.array([data.user_index("a")]), 1).items[0, 0]] == "1"


def test_the_repeat_protocol_scores_a_rebought_item_that_masking_would_hide():
    # a buys 1 three times, then only 1 again after the cut; 2 is the only other item
    data = make_interactions([("a", "1", 1), ("a", "1", 2), ("a", "1", 3), ("b", "2", 1), ("a", "1", 10)])
    split = next_basket(data, test_fraction=0.2)
    model = TopFrequency().fit(split.train)
    repeat = evaluate(model, split, ks=(1,), beyond_accuracy=False, exclude_seen=False)
    masked = evaluate(model, split, ks=(1,), beyond_accuracy=False)
    assert repeat.per_user["hr@1"].tolist() == [1.0] and masked.per_user["hr@1"].tolist() == [0.0]


def test_tifu_user_vectors_weigh_newer_baskets_more(data):
    split = next_basket(data, test_fraction=0.3)
    vectors = decayed_user_vectors(split.train, decay=0.5).toarray()
    a = data.user_index("a")
    # a's training baskets: t=1 {1, 2} (weight 0.5), t=2 {1, 3} (weight 1); normalised by 1.5
    assert vectors[a, data.item_index(["2"])[0]] == pytest.approx(0.5 / 1.5)
    assert vectors[a, data.item_index(["3"])[0]] == pytest.approx(1.0 / 1.5)
    assert vectors[a, data.item_index(["1"])[0]] == pytest.approx(1.0)


def test_tifu_with_alpha_one_is_the_users_own_vector(data):
    split = next_basket(data, test_fraction=0.3)
    model = TIFUKNN(alpha=1.0, neighbours=1).fit(split.train)
    a = data.user_index("a")
    assert np.allclose(model.score(np.array([a]))[0], model.vectors_[a].toarray()[0])
