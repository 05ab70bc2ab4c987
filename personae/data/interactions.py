"""The Interactions container: id maps, event arrays, CSR access and side information."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personae.data.genres import genre_matrix
from personae.errors import UnknownIdError


def sorted_ids(values: np.ndarray) -> np.ndarray:
    """Unique external ids as strings, in numeric order when every id is an integer, else lexicographic.

    Numeric order makes item index order match the ids a user sees (1, 2, ..., 10), which also makes
    tie-breaking by item index predictable.
    """
    unique = pd.unique(pd.Series(values, dtype="string").to_numpy(dtype=object))
    as_numbers = pd.to_numeric(pd.Series(unique), errors="coerce")
    if not as_numbers.isna().any():
        order = np.argsort(as_numbers.to_numpy(), kind="stable")
    else:
        order = np.argsort(unique.astype(str), kind="stable")
    return unique[order].astype(str)


@dataclass(frozen=True, eq=False)
class Interactions:
    """Implicit-feedback events with the maps between external ids and dense indices.

    All splits of one dataset share the same id maps, so index ``i`` means the same item everywhere.

    Attributes:
        user_ids: (n_users,) external user id of each user index.
        item_ids: (n_items,) external item id of each item index.
        users, items: (n_events,) int64 indices of each event.
        timestamps: (n_events,) float64 event times, or None when the data has no time column.
        ratings: (n_events,) float32 explicit ratings where present (kept for reference; every event counts
            as a positive).
        item_info: per item index, optional columns ``title`` (str) and ``genres`` (list of str).
        user_info: per user index, optional columns such as ``age``, ``gender``, ``occupation``.
        name: a label for messages and reports.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray | None = None
    ratings: np.ndarray | None = None
    item_info: pd.DataFrame | None = None
    user_info: pd.DataFrame | None = None
    name: str = "data"
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)

    @classmethod
    def from_ids(
        cls,
        user_ids: np.ndarray | list,
        item_ids: np.ndarray | list,
        timestamps: np.ndarray | list | None = None,
        ratings: np.ndarray | list | None = None,
        name: str = "data",
    ) -> Interactions:
        """Build from parallel arrays of external ids (any type; stored as strings)."""
        raw_users = pd.Series(user_ids, dtype="string").to_numpy(dtype=object).astype(str)
        raw_items = pd.Series(item_ids, dtype="string").to_numpy(dtype=object).astype(str)
        user_map = sorted_ids(raw_users)
        item_map = sorted_ids(raw_items)
        users = pd.Index(user_map).get_indexer(raw_users).astype(np.int64)
        items = pd.Index(item_map).get_indexer(raw_items).astype(np.int64)
        return cls(
            user_ids=user_map,
            item_ids=item_map,
            users=users,
            items=items,
            timestamps=None if timestamps is None else np.asarray(timestamps, dtype=np.float64),
            ratings=None if ratings is None else np.asarray(ratings, dtype=np.float32),
            name=name,
        )

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.users)

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """(n_users, n_items) binary matrix; repeated (user, item) events count once."""
        matrix = sp.csr_matrix(
            (np.ones(len(self.users), dtype=np.float32), (self.users, self.items)),
            shape=(self.n_users, self.n_items),
        )
        matrix.data[:] = 1.0
        return matrix

    @cached_property
    def history_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(order, indptr): event rows sorted by user, then timestamp, then file row; user u's events are
        ``order[indptr[u]:indptr[u + 1]]``, oldest first. Without timestamps, file row order is time order."""
        rows = np.arange(len(self.users))
        times = self.timestamps if self.timestamps is not None else np.zeros(len(self.users))
        order = np.lexsort((rows, times, self.users))
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.users, minlength=self.n_users), out=indptr[1:])
        return order, indptr

    def without_repeats(self) -> tuple[Interactions, int]:
        """(these events keeping only the last of each repeated (user, item) pair, the number dropped).

        Last means latest in time, ties going to the later file row, as in :attr:`history_index`; kept events
        stay in file row order. A repeat left in place could be a user's test target while an earlier copy
        sits in train and masks it as seen, so that user could never score.
        """
        order, _ = self.history_index
        pairs = self.users[order] * self.n_items + self.items[order]  # in (user, time, row) order
        by_pair = np.argsort(pairs, kind="stable")  # keeps time order within a pair
        grouped = pairs[by_pair]
        is_last = np.append(grouped[1:] != grouped[:-1], True)
        keep = np.zeros(len(self), dtype=bool)
        keep[order[by_pair[is_last]]] = True
        dropped = int(len(self) - keep.sum())
        return (self.subset(keep) if dropped else self), dropped

    def user_history(self, user: int) -> np.ndarray:
        """Item indices of user index ``user``'s events, oldest first (ties in time keep file row order)."""
        order, indptr = self.history_index
        return self.items[order[indptr[user]:indptr[user + 1]]]

    @cached_property
    def genre_onehot(self) -> tuple[np.ndarray, list[str]] | None:
        """((n_items, n_genres) 0/1 float32 matrix, genre names), or None when the data has no genres."""
        genres = self.item_genres()
        if genres is None:
            return None
        return genre_matrix(genres), sorted(set().union(*genres))

    @cached_property
    def item_popularity(self) -> np.ndarray:
        """(n_items,) number of distinct users who interacted with each item."""
        return np.asarray(self.csr.sum(axis=0)).ravel()

    def user_index(self, user_id: object) -> int:
        """Index of an external user id; raises UnknownIdError (a KeyError) naming the id when unknown."""
        if not self._user_index:
            self._user_index.update({uid: i for i, uid in enumerate(self.user_ids)})
        try:
            return self._user_index[str(user_id)]
        except KeyError:
            raise UnknownIdError(f"unknown user id '{user_id}'") from None

    def item_index(self, item_ids: list | np.ndarray) -> np.ndarray:
        """Indices of external item ids; raises UnknownIdError (a KeyError) naming the first unknown id."""
        wanted = np.asarray([str(i) for i in item_ids], dtype=object)
        found = pd.Index(self.item_ids).get_indexer(wanted)
        if (found < 0).any():
            raise UnknownIdError(f"unknown item id '{wanted[np.argmax(found < 0)]}'")
        return found.astype(np.int64)

    def subset(self, mask: np.ndarray, name: str | None = None) -> Interactions:
        """The events where ``mask`` is true, with the same id maps and side information."""
        return replace(
            self,
            users=self.users[mask],
            items=self.items[mask],
            timestamps=None if self.timestamps is None else self.timestamps[mask],
            ratings=None if self.ratings is None else self.ratings[mask],
            name=name or self.name,
            _user_index=self._user_index,
        )

    def with_side_info(
        self, item_info: pd.DataFrame | None = None, user_info: pd.DataFrame | None = None
    ) -> Interactions:
        """A copy with side information aligned to the item and user indices."""
        return replace(
            self,
            item_info=item_info if item_info is not None else self.item_info,
            user_info=user_info if user_info is not None else self.user_info,
        )

    def item_titles(self, item_idx: np.ndarray) -> list[str]:
        """Titles of items where known, else their external ids."""
        if self.item_info is None or "title" not in self.item_info:
            return [str(self.item_ids[i]) for i in item_idx]
        return [self._titles[i] for i in item_idx]

    @cached_property
    def _titles(self) -> list[str]:
        """Every item's title as str, built once: the service names items on every request."""
        return [str(t) for t in self.item_info["title"]]

    def item_genres(self) -> list[frozenset[str]] | None:
        """Genre set per item index, or None when the data has no genres."""
        if self.item_info is None or "genres" not in self.item_info:
            return None
        return [frozenset(g) if isinstance(g, (list, tuple, frozenset, set)) else frozenset()
                for g in self.item_info["genres"]]

    def describe(self) -> str:
        return f"{self.name}: {self.n_users} users, {self.n_items} items, {len(self)} events"
