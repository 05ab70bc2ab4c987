"""What the simulator may learn from and what judges it: a per-user temporal holdout and two disjoint user groups.

Every user's latest ``fraction`` of events (by time) is *held out*: the world model (the recommender whose
personas and item vectors the simulated users are made of) is trained on the earlier events only, so no figure
is computed on events the world has seen. Users are split at random into *fit* users, whose held-out events
fit the simulator's parameters, rating model and session habits, and *test* users, whose held-out events give
every reported figure. Real sessions are runs of one user's events with no gap over ``SESSION_GAP`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from personae.data.interactions import Interactions
from personae.errors import DataError

SESSION_GAP = 1800.0  # seconds without an event that end a real session
HOLDOUT_FRACTION = 0.2


@dataclass(frozen=True)
class Holdout:
    """The world's training events, everyone's held-out events, and the two user groups (user indices)."""

    train: Interactions
    held_out: Interactions
    fit_users: np.ndarray  # (n_fit,) user indices whose held-out events fit the simulator
    test_users: np.ndarray  # (n_test,) user indices whose held-out events give the reported figures
    fraction: float


def per_user_holdout(data: Interactions, fraction: float = HOLDOUT_FRACTION, seed: int = 0,
                     min_events: int = 5) -> Holdout:
    """Hold out each user's latest ``fraction`` of events (at least one); users with fewer than ``min_events``
    events keep all of theirs in training and belong to neither group."""
    if data.timestamps is None:
        raise DataError(f"{data.name}: the simulator's holdout and sessions need a time column (--time-col)")
    if not 0 < fraction < 1:
        raise DataError(f"holdout fraction must be in (0, 1), got {fraction}")
    order, indptr = data.history_index  # events by user, then time
    counts = np.diff(indptr)
    held_count = np.where(counts >= min_events, np.maximum(1, np.floor(fraction * counts)), 0).astype(np.int64)
    position_from_end = indptr[1:][data.users[order]] - np.arange(len(order)) - 1  # 0 = the user's last event
    held = np.zeros(len(data), dtype=bool)
    held[order] = position_from_end < held_count[data.users[order]]
    eligible = np.flatnonzero(held_count > 0)
    shuffled = np.random.default_rng(seed).permutation(eligible)
    half = len(shuffled) // 2
    return Holdout(data.subset(~held, name=f"{data.name}/world"), data.subset(held, name=f"{data.name}/held-out"),
                   np.sort(shuffled[:half]), np.sort(shuffled[half:]), fraction)


@dataclass(frozen=True)
class SessionLog:
    """S sessions of up to T events each: what a log holds (items, ratings, times), padded."""

    items: np.ndarray  # (S, T) item indices, -1 padding
    ratings: np.ndarray  # (S, T) 1-5, NaN padding or unrated
    times: np.ndarray  # (S, T) seconds, NaN padding
    owner: np.ndarray  # (S,) user index (into the data's users) of each session

    def __len__(self) -> int:
        return len(self.items)

    @property
    def length(self) -> np.ndarray:
        return (self.items >= 0).sum(axis=1)

    def take(self, rows: np.ndarray) -> SessionLog:
        return SessionLog(self.items[rows], self.ratings[rows], self.times[rows], self.owner[rows])

    def of_users(self, users: np.ndarray) -> SessionLog:
        """The sessions whose owner is in ``users``."""
        return self.take(np.flatnonzero(np.isin(self.owner, users)))


def concatenate(logs: list[SessionLog]) -> SessionLog:
    return SessionLog(*(np.concatenate([getattr(log, f) for log in logs]) for f in ("items", "ratings", "times",
                                                                                       "owner")))


def real_sessions(data: Interactions, max_events: int, gap: float = SESSION_GAP) -> SessionLog:
    """Every session in ``data`` (runs of one user's events with no gap over ``gap`` s), cut to the first
    ``max_events`` events."""
    if data.timestamps is None:
        raise DataError(f"{data.name}: real sessions need timestamps")
    order, _ = data.history_index
    users, times, items = data.users[order], data.timestamps[order], data.items[order]
    ratings = data.ratings[order] if data.ratings is not None else np.full(len(items), np.nan)
    starts = np.r_[True, (users[1:] != users[:-1]) | (np.diff(times) > gap)] if len(users) else np.zeros(0, bool)
    session = np.cumsum(starts) - 1  # (events,)
    position = np.arange(len(session)) - np.flatnonzero(starts)[session]
    first = position < max_events
    n = int(session[-1] + 1) if len(session) else 0
    out = SessionLog(np.full((n, max_events), -1), np.full((n, max_events), np.nan),
                     np.full((n, max_events), np.nan), users[starts])
    out.items[session[first], position[first]] = items[first]
    out.ratings[session[first], position[first]] = ratings[first]
    out.times[session[first], position[first]] = times[first]
    return out
