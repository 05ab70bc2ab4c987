import numpy as np
import pytest

from personae.llm.variance import as_observations, icc_over_items, parse_rating, unparsed_by_item
from personae.stats import icc_value


def test_items_are_pooled_as_dimensions_of_one_observation_per_persona_and_run():
    x = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    values, groups = as_observations(x)
    assert values.shape == (6, 4) and groups.tolist() == [0, 0, 0, 1, 1, 1]
    assert icc_over_items(x)["icc1_pooled"] == pytest.approx(icc_value(values, groups))


def test_icc_over_items_skips_items_with_unparsed_answers_and_counts_them():
    x = np.zeros((2, 2, 3))
    x[:, :, 0] = [[1, 2], [3, 4]]
    x[:, :, 1] = [[1, 5], [5, 1]]
    x[0, 0, 2] = np.nan
    res = icc_over_items(x)
    assert res["items_skipped"] == 1
    assert res["icc1_per_item"] == pytest.approx([3.5 / 4.5, -1.0])  # MSB 4, MSW 0.5; then identical means


def test_icc_over_items_with_no_complete_item_says_so_instead_of_nan_warnings():
    x = np.full((2, 2, 2), np.nan)
    assert np.isnan(icc_over_items(x)["icc1_pooled"]) and icc_over_items(x)["items_skipped"] == 2


def test_ratings_are_read_from_digits_and_number_words():
    assert parse_rating("I'd say 4.") == (4.0, None)
    assert parse_rating("Probably four out of five") == (4.0, None)
    assert parse_rating("5/5, love it") == (5.0, None)


def test_unreadable_ratings_say_why():
    assert parse_rating("") == (None, "empty reply")
    assert parse_rating("Arr, I cannot say, matey") == (None, "no number in the reply")
    assert parse_rating("I give it 8") == (None, "first number 8 is not a rating 1-5")


def test_unparsed_answers_are_listed_per_item_with_reasons():
    unparsed = [{"persona": 0, "run": 0, "item": 1, "reply": "", "reason": "empty reply"},
                {"persona": 1, "run": 0, "item": 1, "reply": "no", "reason": "no number in the reply"}]
    rows = unparsed_by_item(unparsed, ["a", "b"])
    assert len(rows) == 1 and rows[0]["item"] == 1 and rows[0]["unparsed"] == 2
    assert rows[0]["reasons"] == {"empty reply": 1, "no number in the reply": 1}
