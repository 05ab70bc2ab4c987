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


def test_no_pool_draws_exactly_what_the_sampler_drew_before_pools_existed():
    positives = catalogue_with_counts(COUNTS)
    users = np.array([0, 5, 64, 3, 7])
    before = NegativeSampler(positives, seed=3).sample(users, 6)
    assert np.array_equal(NegativeSampler(positives, seed=3).sample(users, 6, pool=0), before)


def test_a_pool_bounds_the_distinct_items_a_batch_touches_and_still_avoids_positives():
    rng = np.random.default_rng(0)
    positives = sp.random(300, 5000, density=0.01, format="csr", random_state=1)
    users = rng.integers(0, 300, size=256)
    pooled = NegativeSampler(positives, seed=0).sample(users, 20, pool=64)
    independent = NegativeSampler(positives, seed=0).sample(users, 20)
    assert len(np.unique(pooled)) <= 64
    assert len(np.unique(independent)) > 64 * 10  # the control: independent draws spread over the catalogue
    dense = positives.toarray().astype(bool)
    assert not dense[np.repeat(users[:, None], 20, axis=1), pooled].any()


def test_a_pool_keeps_each_negatives_distribution_uniform_or_tilted():
    """The pool changes which negatives share a batch, not how often each item is drawn: one negative per batch
    (independent across batches) fits the sampler's distribution (a case built to show no difference), and the
    same check tells the tilted distribution from the uniform one (it can fail)."""
    positives = catalogue_with_counts(COUNTS)
    for power, weight in ((0.0, np.ones(len(COUNTS))), (1.0, COUNTS + 1.0)):
        sampler = NegativeSampler(positives, seed=5, power=power)
        firsts = np.array([sampler.sample(np.zeros(8, dtype=np.int64), 4, pool=16)[3, 2] for _ in range(4000)])
        observed = np.bincount(firsts, minlength=len(COUNTS))
        assert chisquare(observed, weight / weight.sum() * len(firsts)).pvalue > 1e-3
        if power:
            assert chisquare(observed).pvalue < 1e-12  # not uniform: the check has power
