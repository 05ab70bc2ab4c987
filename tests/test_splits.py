"""Splits: leave-last-out (the protocol default, exactly as DESIGN.md says), temporal and random."""

from __future__ import annotations

import numpy as np
import pytest

from personae.data import DataError, Interactions
from personae.data.splits import leave_last_out, make_split, random_split, temporal


def _events(part: Interactions) -> list[tuple[str, str]]:
    return sorted((str(part.user_ids[u]), str(part.item_ids[i])) for u, i in zip(part.users, part.items))


def test_leave_last_out_puts_the_latest_event_in_test_and_the_one_before_in_valid(make_data):
    # rows are not in time order: the split must sort by timestamp
    split = leave_last_out(make_data([("u", "c", 30), ("u", "a", 10), ("u", "d", 40), ("u", "b", 20)]))
    assert _events(split.test) == [("u", "d")]
    assert _events(split.valid) == [("u", "c")]
    assert _events(split.train) == [("u", "a"), ("u", "b")]
    assert split.method == "leave-last-out"


def test_leave_last_out_breaks_time_ties_by_original_row_order(make_data):
    # x, y, z share the last timestamp: the later row is the later event
    split = leave_last_out(make_data([("u", "w", 1), ("u", "x", 5), ("u", "y", 5), ("u", "z", 5)]))
    assert _events(split.test) == [("u", "z")]
    assert _events(split.valid) == [("u", "y")]
    assert _events(split.train) == [("u", "w"), ("u", "x")]


def test_leave_last_out_keeps_users_with_fewer_than_three_events_in_train(make_data):
    split = leave_last_out(make_data([("one", "a", 1), ("two", "a", 1), ("two", "b", 2),
                                      ("three", "a", 1), ("three", "b", 2), ("three", "c", 3)]))
    assert _events(split.train) == [("one", "a"), ("three", "a"), ("two", "a"), ("two", "b")]
    assert _events(split.valid) == [("three", "b")]
    assert _events(split.test) == [("three", "c")]


def test_leave_last_out_without_timestamps_uses_row_order(make_data):
    split = leave_last_out(make_data([("u", "b"), ("u", "a"), ("u", "c")]))
    assert _events(split.test) == [("u", "c")]
    assert _events(split.valid) == [("u", "a")]


def test_split_parts_share_the_id_maps_of_the_whole_data(tiny_split):
    for part in (tiny_split.train, tiny_split.valid, tiny_split.test):
        assert part.item_ids.tolist() == ["1", "2", "3", "4", "5", "6"]
        assert part.user_ids.tolist() == ["a", "b", "c", "d"]
        assert part.item_info is not None


def test_leave_last_out_on_ml100k_gives_every_user_one_test_and_one_valid_event(ml100k_split):
    assert len(ml100k_split.test) == len(ml100k_split.valid) == 943
    assert np.bincount(ml100k_split.test.users, minlength=943).tolist() == [1] * 943
    assert len(ml100k_split.train) == 100_000 - 2 * 943


def test_leave_last_out_test_event_is_no_earlier_than_any_training_event_of_its_user(ml100k_split):
    train, test = ml100k_split.train, ml100k_split.test
    last_train = np.full(train.n_users, -np.inf)
    np.maximum.at(last_train, train.users, train.timestamps)
    assert (test.timestamps >= last_train[test.users]).all()


def test_temporal_split_cuts_all_events_at_one_global_time(make_data):
    # 10 events at times 0..9 over two users: the latest 10% (time 9) is test, the 10% before it valid
    data = make_data([(f"u{t % 2}", f"i{t}", t) for t in range(10)])
    split = temporal(data, valid_fraction=0.1, test_fraction=0.1)
    assert split.test.timestamps.tolist() == [9.0]
    assert split.valid.timestamps.tolist() == [8.0]
    assert sorted(split.train.timestamps.tolist()) == list(map(float, range(8)))
    assert split.method == "temporal"


def test_temporal_split_breaks_time_ties_by_row_order(make_data):
    data = make_data([("u", "a", 1), ("u", "b", 2), ("v", "c", 2), ("v", "d", 2)])
    split = temporal(data, valid_fraction=0.25, test_fraction=0.25)
    assert _events(split.test) == [("v", "d")]
    assert _events(split.valid) == [("v", "c")]


def test_temporal_split_needs_timestamps(make_data):
    with pytest.raises(DataError, match="the temporal split needs a time column"):
        temporal(make_data([("u", "a"), ("u", "b")]))


def test_random_split_is_reproducible_with_the_same_seed_and_differs_across_seeds(make_data):
    data = make_data([(f"u{n % 7}", f"i{n}", n) for n in range(200)])
    first, again, other = random_split(data, seed=3), random_split(data, seed=3), random_split(data, seed=4)
    assert np.array_equal(first.test.timestamps, again.test.timestamps)
    assert not np.array_equal(np.sort(first.test.timestamps), np.sort(other.test.timestamps))


def test_random_split_sizes_follow_the_fractions_and_the_parts_cover_every_event_once(make_data):
    data = make_data([(f"u{n % 7}", f"i{n}", n) for n in range(200)])
    split = random_split(data, valid_fraction=0.15, test_fraction=0.2, seed=0)
    assert (len(split.train), len(split.valid), len(split.test)) == (130, 30, 40)
    times = np.concatenate([split.train.timestamps, split.valid.timestamps, split.test.timestamps])
    assert sorted(times.tolist()) == list(map(float, range(200)))


def test_make_split_passes_the_seed_to_the_random_split(make_data):
    data = make_data([(f"u{n % 7}", f"i{n}", n) for n in range(200)])
    assert np.array_equal(make_split(data, "random", seed=5).test.timestamps,
                          random_split(data, seed=5).test.timestamps)


def test_make_split_refuses_an_unknown_method_naming_the_known_ones(make_data):
    with pytest.raises(DataError, match=r"unknown split 'kfold' \(known: leave-last-out, temporal, random\)"):
        make_split(make_data([("u", "a", 1)]), "kfold")


@pytest.mark.parametrize("valid, test", [(0.5, 0.5), (0.1, 0.0), (-0.1, 0.1)])
def test_split_fractions_that_leave_no_training_data_are_refused(make_data, valid, test):
    with pytest.raises(DataError, match="split fractions must leave some training data"):
        random_split(make_data([("u", "a", 1)]), valid_fraction=valid, test_fraction=test)


def test_every_split_keeps_the_last_of_repeated_user_item_events_with_a_warning(make_data):
    # user u had item a at t=1 and again at t=4: a repeat that could be both test target and seen in train
    data = make_data([("u", "a", 1), ("u", "b", 2), ("u", "c", 3), ("u", "a", 4)])
    with pytest.warns(UserWarning, match=r"tiny: dropped 1 repeated \(user, item\) events before splitting"):
        split = leave_last_out(data)
    assert split.test.timestamps.tolist() == [4.0]
    assert "a" not in set(split.train.item_ids[split.train.items])
