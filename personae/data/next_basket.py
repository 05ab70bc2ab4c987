"""The next-basket protocol for grocery data: a time cut, and each household's next basket after it as the target.

Leave-last-out masks everything a user already has, but most of a grocery basket is bought again, so under it
every model ranks near popularity. Here (the protocol of the next-basket literature, e.g. TIFU-KNN):

- events are purchases with repeats kept, one per (user, basket, item); a basket is a user's events at one time;
- ``cut`` is the time before which ``1 - test_fraction`` of all events fall;
- test: each user's first basket at or after the cut (its distinct items are the target set);
- valid: each user's last basket before the cut, when the user has at least two baskets before it;
- train: every other event before the cut (repeats kept: frequency is what the repeat baselines learn from).

Variant ``new_only``: the test target keeps only items the user never had in train or valid (users left with
none drop out), and rankings mask what the user has; the default (repeat) variant ranks the whole catalogue
without masking (``personae.evaluate.evaluate(..., exclude_seen=False)``).
"""

from __future__ import annotations

import numpy as np

from personae.data.interactions import Interactions
from personae.data.splits import Split
from personae.errors import DataError

TEST_FRACTION = 0.1  # share of events after the cut (for complete-journey: about the last five weeks)


def basket_ids(data: Interactions) -> np.ndarray:
    """(n_events,) a dense id per (user, timestamp): the basket each event belongs to."""
    if data.timestamps is None:
        raise DataError(f"{data.name}: the next-basket split needs a time column (--time-col)")
    keys = np.stack([data.users.astype(np.float64), data.timestamps])
    _, basket = np.unique(keys, axis=1, return_inverse=True)
    return basket.ravel()


def next_basket(data: Interactions, test_fraction: float = TEST_FRACTION, new_only: bool = False) -> Split:
    """Split purchases (repeats kept) at a global time cut; see the module docstring for the parts."""
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    basket = basket_ids(data)
    times = data.timestamps
    cut = float(np.quantile(times, 1 - test_fraction))
    after = times >= cut
    # test: each user's first basket at or after the cut
    first_after = np.full(data.n_users, np.inf)
    np.minimum.at(first_after, data.users[after], times[after])
    is_test = after & (times == first_after[data.users])
    # valid: each user's last basket before the cut, when the user has another basket before it
    before = ~after
    last_before = np.full(data.n_users, -np.inf)
    np.maximum.at(last_before, data.users[before], times[before])
    distinct = np.unique(np.stack([data.users[before], basket[before]]), axis=1)[0]
    baskets_before = np.bincount(distinct, minlength=data.n_users)
    is_valid = before & (times == last_before[data.users]) & (baskets_before[data.users] >= 2)
    is_train = before & ~is_valid
    has_train = np.bincount(data.users[is_train], minlength=data.n_users) > 0
    is_test &= has_train[data.users]  # a user with nothing to learn from is not tested
    train = data.subset(is_train, name=f"{data.name}/train")
    valid = _distinct_pairs(data.subset(is_valid, name=f"{data.name}/valid"))
    test = _distinct_pairs(data.subset(is_test, name=f"{data.name}/test"))
    if new_only:
        test = _new_items_only(test, train, valid)
    return Split(train=train, valid=valid, test=test, method="next-basket-new" if new_only else "next-basket")


def _distinct_pairs(part: Interactions) -> Interactions:
    """One event per (user, item): a basket's target set (a product twice in one basket counts once)."""
    pairs = part.users * part.n_items + part.items
    _, first = np.unique(pairs, return_index=True)
    keep = np.zeros(len(part), dtype=bool)
    keep[first] = True
    return part.subset(keep)


def _new_items_only(test: Interactions, train: Interactions, valid: Interactions) -> Interactions:
    """The test events whose item the user never had in train or valid."""
    had = (train.csr + valid.csr).tocsr()
    seen = np.asarray(had[test.users, test.items]).ravel() > 0
    return test.subset(~seen)


def make_next_basket(data: Interactions, variant: str = "repeat") -> Split:
    """``variant``: ``repeat`` (the whole next basket, nothing masked) or ``new`` (new products only)."""
    if variant not in ("repeat", "new"):
        raise DataError(f"unknown next-basket variant '{variant}' (known: repeat, new)")
    return next_basket(data, new_only=variant == "new")
