"""Negative sampling: uniform draws as before, or tilted towards popular items (REMI's harder negatives)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.stats import chisquare

from personae.data import negatives
from personae.data.negatives import KeySet, NegativeSampler

COUNTS = np.array([0, 1, 2, 4, 8, 16, 32, 64])  # training count of each item


def catalogue_with_counts(counts: np.ndarray) -> sp.csr_matrix:
    """(1 + max count, n_items) positives: user 0 has none, item j is held by users 1..counts[j]."""
    rows, cols = [], []
    for item, count in enumerate(counts):
        rows += list(range(1, count + 1))
        cols += [item] * count
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(counts.max() + 1, len(counts)))


def frequencies(sampler: NegativeSampler, n_draws: int) -> np.ndarray:
    draws = sampler.sample(np.zeros(n_draws // 10, dtype=np.int64), 10)  # user 0: no positives to avoid
    return np.bincount(draws.ravel(), minlength=len(COUNTS))


def test_uniform_sampling_draws_what_the_uniform_sampler_always_drew():
    positives = catalogue_with_counts(COUNTS)
    users = np.array([0, 5, 64, 3])
    drawn = NegativeSampler(positives, seed=11).sample(users, 6)
    # the uniform rejection sampler as it was written before popularity sampling existed
    rng, dense = np.random.default_rng(11), positives.toarray().astype(bool)
    grid = np.repeat(users[:, None], 6, axis=1)
    expected = rng.integers(0, len(COUNTS), size=grid.shape)
    for _ in range(20):
        clash = dense[grid, expected]
        if not clash.any():
            break
        expected[clash] = rng.integers(0, len(COUNTS), size=int(clash.sum()))
    assert np.array_equal(drawn, expected)


def test_popularity_sampling_follows_count_plus_one_to_the_power():
    observed = frequencies(NegativeSampler(catalogue_with_counts(COUNTS), seed=0, power=0.75), 100_000)
    share = (COUNTS + 1.0) ** 0.75 / ((COUNTS + 1.0) ** 0.75).sum()
    assert chisquare(observed, share * observed.sum()).pvalue > 1e-3
    assert chisquare(observed).pvalue < 1e-12  # and not uniform


def test_power_zero_ignores_popularity():
    observed = frequencies(NegativeSampler(catalogue_with_counts(COUNTS), seed=0, power=0.0), 100_000)
    assert chisquare(observed).pvalue > 1e-3  # uniform over the catalogue, whatever the counts


def test_popularity_sampling_still_avoids_the_users_own_items():
    positives = catalogue_with_counts(COUNTS)
    users = np.full(2000, 64)  # user 64 holds only item 7, the most popular (half the draws at power 1)
    drawn = NegativeSampler(positives, seed=0, power=1.0).sample(users, 5)
    assert not positives.toarray()[users[:, None], drawn].any()


def test_the_key_set_answers_membership_exactly_as_a_sorted_search_would():
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 10**12, size=50_000)
    keys[:100] = np.arange(100)  # neighbouring keys: the multiplicative hash must still spread them
    queries = np.concatenate([keys[::7], rng.integers(0, 10**12, size=50_000), np.arange(200)])
    assert np.array_equal(KeySet(keys).contains(queries), np.isin(queries, keys))


def test_an_empty_key_set_holds_nothing():
    assert not KeySet(np.zeros(0, dtype=np.int64)).contains(np.arange(10)).any()


def test_the_hashed_exclusion_draws_exactly_what_the_dense_table_draws(monkeypatch):
    positives = catalogue_with_counts(COUNTS * 3)
    users = np.arange(positives.shape[0]).repeat(5)
    dense = NegativeSampler(positives, seed=9).sample(users, 7)
    monkeypatch.setattr(negatives, "DENSE_LIMIT", 0)  # large-data path: the hash set
    hashed_sampler = NegativeSampler(positives, seed=9)
    assert hashed_sampler.dense is None
    assert np.array_equal(hashed_sampler.sample(users, 7), dense)
