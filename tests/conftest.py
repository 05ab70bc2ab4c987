"""Shared fixtures: one session-wide dataset cache, the real MovieLens-100K (fetched at most once per run),
and small hand-made data sets whose every number can be checked by hand.

The cache is $PERSONAE_HOME when set (CI and local runs point it at a warm cache), else the library default
~/.cache/personae. It is fixed for the whole session, and exported so CLI subprocesses use the same one.
Tests that need to damage a cache copy it to a temporary PERSONAE_HOME; the shared one is never modified.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from personae.data.interactions import Interactions
from personae.data.splits import Split

SESSION_HOME = Path(os.environ.get("PERSONAE_HOME") or Path.home() / ".cache" / "personae").expanduser()
os.environ["PERSONAE_HOME"] = str(SESSION_HOME)


@pytest.fixture(scope="session")
def personae_home() -> Path:
    """The session's dataset cache (shared with subprocesses through $PERSONAE_HOME)."""
    return SESSION_HOME


@pytest.fixture(scope="session")
def ml100k_folder(personae_home: Path) -> Path:
    """The cached ml-100k folder; the first use in a run downloads it if the cache is empty."""
    from personae.data.registry import fetch

    return fetch("ml-100k")


@pytest.fixture(scope="session")
def ml100k(ml100k_folder: Path) -> Interactions:
    from personae.data.registry import load_dataset

    return load_dataset("ml-100k")


@pytest.fixture(scope="session")
def ml100k_split(ml100k: Interactions) -> Split:
    from personae.data.splits import leave_last_out

    return leave_last_out(ml100k)


def make_interactions(events: list[tuple], genres: dict[str, list[str]] | None = None,
                      titles: dict[str, str] | None = None) -> Interactions:
    """Interactions from ``(user, item[, time])`` tuples; optional genres/titles keyed by item id."""
    import pandas as pd

    users = [e[0] for e in events]
    items = [e[1] for e in events]
    times = [e[2] for e in events] if events and len(events[0]) > 2 else None
    data = Interactions.from_ids(users, items, times, name="tiny")
    if genres is None and titles is None:
        return data
    info = pd.DataFrame(index=np.arange(data.n_items))
    if titles is not None:
        info["title"] = [titles.get(i, i) for i in data.item_ids]
    if genres is not None:
        info["genres"] = [genres.get(i, []) for i in data.item_ids]
    return data.with_side_info(item_info=info)


@pytest.fixture
def tiny_split() -> Split:
    """Four users, six items (ids 1..6, so item index = id - 1), split by leave-last-out.

    user a: 1, 2, 3, 4, 5 (times 1..5) -> train {1, 2, 3}, valid 4, test 5
    user b: 2, 3, 6 (times 1..3)       -> train {2}, valid 3, test 6
    user c: 1, 6, 4 (times 1..3)       -> train {1}, valid 6, test 4
    user d: 5, 6 (times 1, 2)          -> fewer than 3 events: train only
    """
    from personae.data.splits import leave_last_out

    events = [("a", 1, 1), ("a", 2, 2), ("a", 3, 3), ("a", 4, 4), ("a", 5, 5),
              ("b", 2, 1), ("b", 3, 2), ("b", 6, 3),
              ("c", 1, 1), ("c", 6, 2), ("c", 4, 3),
              ("d", 5, 1), ("d", 6, 2)]
    genres = {"1": ["Drama"], "2": ["Drama", "Comedy"], "3": ["Comedy"], "4": ["Action"], "5": ["Action", "Drama"],
              "6": []}
    return leave_last_out(make_interactions(events, genres=genres, titles={"1": "One", "2": "Two"}))


@pytest.fixture
def clustered() -> Interactions:
    """Two taste clusters: users 0..9 had items 0..4, users 10..19 had items 5..9, in time order.

    Each user misses one item of their own cluster, so there is something sensible left to recommend.
    """
    events = []
    for u in range(20):
        own = range(5) if u < 10 else range(5, 10)
        skipped = list(own)[u % 5]
        for t, i in enumerate(own):
            if i != skipped:
                events.append((u, i, t))
    return make_interactions(events)


@pytest.fixture
def make_data():
    """The :func:`make_interactions` builder, as a fixture so test modules need not import conftest."""
    return make_interactions


@pytest.fixture(scope="session")
def planted_split() -> Split:
    """Planted multi-interest data (150 users, 8 clusters, 3 interests each), split leave-last-out."""
    from personae.data.splits import leave_last_out
    from personae.data.synthetic import planted_interests

    return leave_last_out(planted_interests(n_users=150, n_clusters=8, items_per_cluster=12,
                                            interests_per_user=3, events_per_user=18, seed=0))
