"""Train/validation/test splits. ``leave_last_out`` is the protocol default (see DESIGN.md)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from personae.data.interactions import Interactions
from personae.errors import DataError


@dataclass(frozen=True)
class Split:
    """Three disjoint parts of one dataset; they share id maps and side information."""

    train: Interactions
    valid: Interactions
    test: Interactions
    method: str


def _time_then_row_order(data: Interactions) -> np.ndarray:
    """Event order by time, ties by original row order (events without time: row order)."""
    rows = np.arange(len(data))
    if data.timestamps is None:
        return rows
    return np.lexsort((rows, data.timestamps))


def leave_last_out(data: Interactions) -> Split:
    """Per user by time: last event = test, second to last = validation, the rest = train.

    Ties in time keep the original row order. Users with fewer than 3 events stay in train only.
    """
    data = _without_repeats(data)
    order = np.lexsort((np.arange(len(data)), data.timestamps if data.timestamps is not None
                        else np.zeros(len(data)), data.users))
    sorted_users = data.users[order]
    counts = np.bincount(sorted_users, minlength=data.n_users)
    ends = np.cumsum(counts)  # one past each user's last event in ``order``
    position_from_end = ends[sorted_users] - np.arange(len(order)) - 1  # 0 = user's last event
    eligible = counts[sorted_users] >= 3
    part = np.zeros(len(data), dtype=np.int8)  # 0 train, 1 valid, 2 test
    part[order[eligible & (position_from_end == 0)]] = 2
    part[order[eligible & (position_from_end == 1)]] = 1
    return _split_by_part(data, part, "leave-last-out")


def temporal(data: Interactions, valid_fraction: float = 0.1, test_fraction: float = 0.1) -> Split:
    """A global time cut: the latest ``test_fraction`` of events is test, the ``valid_fraction`` before it valid."""
    if data.timestamps is None:
        raise DataError(f"{data.name}: the temporal split needs a time column (--time-col)")
    _check_fractions(valid_fraction, test_fraction)
    data = _without_repeats(data)
    order = _time_then_row_order(data)
    n = len(data)
    n_test, n_valid = round(n * test_fraction), round(n * valid_fraction)
    part = np.zeros(n, dtype=np.int8)
    part[order[n - n_test:]] = 2
    part[order[n - n_test - n_valid:n - n_test]] = 1
    return _split_by_part(data, part, "temporal")


def random_split(data: Interactions, valid_fraction: float = 0.1, test_fraction: float = 0.1,
                 seed: int = 0) -> Split:
    """Events assigned to parts uniformly at random with a fixed seed."""
    _check_fractions(valid_fraction, test_fraction)
    data = _without_repeats(data)
    order = np.random.default_rng(seed).permutation(len(data))
    n = len(data)
    n_test, n_valid = round(n * test_fraction), round(n * valid_fraction)
    part = np.zeros(n, dtype=np.int8)
    part[order[:n_test]] = 2
    part[order[n_test:n_test + n_valid]] = 1
    return _split_by_part(data, part, "random")


SPLITS = {"leave-last-out": leave_last_out, "temporal": temporal, "random": random_split}


def make_split(data: Interactions, method: str = "leave-last-out", seed: int = 0) -> Split:
    """Split by name: ``leave-last-out`` (default), ``temporal`` or ``random``."""
    if method == "random":
        return random_split(data, seed=seed)
    try:
        return SPLITS[method](data)
    except KeyError:
        raise DataError(f"unknown split '{method}' (known: {', '.join(SPLITS)})") from None


def _without_repeats(data: Interactions) -> Interactions:
    """The readers' policy for data built in memory: the last event of each repeated (user, item) pair."""
    kept, repeats = data.without_repeats()
    if repeats:
        warnings.warn(f"{data.name}: dropped {repeats} repeated (user, item) events before splitting, keeping "
                      f"the last event of each pair", stacklevel=3)
    return kept


def _check_fractions(valid_fraction: float, test_fraction: float) -> None:
    if not (0 <= valid_fraction < 1 and 0 < test_fraction < 1 and valid_fraction + test_fraction < 1):
        raise DataError(f"split fractions must leave some training data: valid={valid_fraction}, test={test_fraction}")


def _split_by_part(data: Interactions, part: np.ndarray, method: str) -> Split:
    return Split(
        train=data.subset(part == 0, name=f"{data.name}/train"),
        valid=data.subset(part == 1, name=f"{data.name}/valid"),
        test=data.subset(part == 2, name=f"{data.name}/test"),
        method=method,
    )


def validation_split(train: Interactions, valid: Interactions) -> Split:
    """A split whose evaluation part is ``valid``: for tuning and early stopping inside ``fit``."""
    return Split(train=train, valid=valid, test=valid.subset(np.zeros(len(valid), dtype=bool)), method="validation")
