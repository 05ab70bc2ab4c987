"""Planted multi-interest data: users whose histories mix a few disjoint item clusters.

Each user draws ``interests_per_user`` distinct clusters and every event comes from one of them, so a single
low-dimensional user vector has to average several unrelated tastes, while a model that weighs the user's
history (or personas) against the candidate item can serve each interest on its own. The planted truth is
kept with the data: ``item_info.genres`` is ``["cluster<c>"]`` and ``user_info.interests`` lists each user's
clusters, so tests and demos can check what a model recovered.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from personae.data.interactions import Interactions
from personae.errors import DataError, OptionError


def planted_interests(
    n_users: int = 300,
    n_clusters: int = 12,
    items_per_cluster: int = 20,
    interests_per_user: int | tuple[int, int] = 3,
    events_per_user: int = 30,
    seed: int = 0,
    zipf: float = 1.0,
) -> Interactions:
    """Synthetic interactions with planted interests.

    ``interests_per_user`` is a number, or a range ``(low, high)`` from which each user draws uniformly.
    Items are ``cluster * items_per_cluster + rank`` (integer ids, so item index == item id when every item
    occurs). Each event picks one of the user's interests uniformly (every interest occurs at least once),
    then an unseen item of that cluster with probability proportional to ``1 / (rank + 1) ** zipf``, so
    popular items within a cluster are more likely. Timestamps increase within each user; no user repeats
    an item.

    Returns:
        Interactions named ``planted`` with ``item_info`` (``title``, ``genres``) and ``user_info``
        (``interests``: the user's clusters, sorted), both aligned with the index order.
    """
    low, high = (interests_per_user, interests_per_user) if isinstance(interests_per_user, int) else interests_per_user
    if not 1 <= low <= high <= n_clusters:
        raise OptionError(f"interests_per_user must be in 1..n_clusters={n_clusters}, got {interests_per_user}")
    if not high <= events_per_user <= low * items_per_cluster:
        raise OptionError(
            f"events_per_user must be in {high}..{low * items_per_cluster} "
            f"(interests_per_user..interests_per_user * items_per_cluster), got {events_per_user}"
        )
    rng = np.random.default_rng(seed)
    rank_weight = zipf_weights(items_per_cluster, zipf)  # (items_per_cluster,)

    users, items, times = [], [], []
    interests_of_user = []
    for user in range(n_users):
        n_interests = int(rng.integers(low, high + 1)) if high > low else low
        interests = np.sort(rng.choice(n_clusters, size=n_interests, replace=False))
        interests_of_user.append([int(c) for c in interests])
        # every interest at least once, the rest uniform, in random order
        sequence = np.concatenate([interests, rng.choice(interests, size=events_per_user - n_interests)])
        rng.shuffle(sequence)
        remaining = {int(c): np.ones(items_per_cluster, dtype=bool) for c in interests}
        clock = rng.uniform(0.0, 1000.0)
        for cluster in sequence:
            cluster = int(cluster)
            if not remaining[cluster].any():  # this interest is exhausted: use another one with items left
                cluster = next(c for c in interests_of_user[-1] if remaining[c].any())
            weights = rank_weight * remaining[cluster]
            rank = int(rng.choice(items_per_cluster, p=weights / weights.sum()))
            remaining[cluster][rank] = False
            clock += rng.exponential(10.0) + 1.0
            users.append(user)
            items.append(cluster * items_per_cluster + rank)
            times.append(clock)

    data = Interactions.from_ids(np.asarray(users), np.asarray(items), np.asarray(times), name="planted")
    item_numbers = data.item_ids.astype(np.int64)
    clusters = item_numbers // items_per_cluster
    item_info = pd.DataFrame(
        {
            "title": [f"cluster{c} item{n % items_per_cluster}" for c, n in zip(clusters, item_numbers)],
            "genres": [[f"cluster{c}"] for c in clusters],
        },
        index=pd.RangeIndex(data.n_items),
    )
    user_info = pd.DataFrame(
        {"interests": [interests_of_user[int(u)] for u in data.user_ids]}, index=pd.RangeIndex(data.n_users)
    )
    return data.with_side_info(item_info=item_info, user_info=user_info)


def zipf_weights(n: int, exponent: float = 1.0) -> np.ndarray:
    """(n,) unnormalised popularity ``1 / (rank + 1) ** exponent`` of ranks 0..n-1 (rank 0 most popular)."""
    return 1.0 / (np.arange(n) + 1.0) ** exponent


def cluster_of_item(data: Interactions) -> np.ndarray:
    """(n_items,) planted cluster index of each item index, read from ``item_info.genres`` (``cluster<c>``)."""
    if data.item_info is None or "genres" not in data.item_info:
        raise DataError(f"{data.name}: no item_info.genres; cluster_of_item needs data from planted_interests")
    return np.asarray([int(g[0].removeprefix("cluster")) for g in data.item_info["genres"]], dtype=np.int64)
