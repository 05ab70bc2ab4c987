"""The one training loop: early stopping, min_epochs, best weights restored, threads restored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from personae.data import leave_last_out
from personae.data.splits import validation_split
from personae.data.synthetic import planted_interests
from personae.evaluate import evaluate
from personae.models.bpr import BPR
from personae.train.loop import random_streams

TINY = {"dim": 4, "batch_size": 256, "progress": False, "negatives": 1}


@pytest.fixture(scope="module")
def split():
    return leave_last_out(planted_interests(n_users=80, n_clusters=6, items_per_cluster=10, events_per_user=12))


def test_early_stopping_stops_after_patience_epochs_without_gain(split):
    # lr 0 never improves on epoch 1, so the loop stops after 1 + patience epochs
    model = BPR(epochs=50, patience=3, lr=0.0, min_epochs=0, **TINY).fit(split.train, split.valid)
    assert model.report_.best_epoch == 1
    assert model.report_.epochs_run == 4


def test_min_epochs_runs_at_least_that_many_epochs_before_stopping(split):
    model = BPR(epochs=50, patience=3, lr=0.0, min_epochs=9, **TINY).fit(split.train, split.valid)
    assert model.report_.epochs_run == 9


def test_the_best_validation_weights_are_restored(split):
    model = BPR(epochs=15, patience=15, lr=0.05, min_epochs=0, **TINY).fit(split.train, split.valid)
    restored = evaluate(model, validation_split(split.train, split.valid), part="valid", ks=(10,),
                        beyond_accuracy=False).metrics["ndcg@10"]
    assert restored == pytest.approx(model.report_.best_valid_ndcg)
    assert restored == pytest.approx(max(h["valid_ndcg@10"] for h in model.report_.history))


def test_training_restores_the_callers_torch_thread_count(split):
    before = torch.get_num_threads()
    BPR(epochs=1, threads=1, **TINY).fit(split.train, split.valid)
    assert torch.get_num_threads() == before


def test_an_unknown_loss_is_refused_by_name(split):
    with pytest.raises(ValueError, match="loss must be one of"):
        BPR(epochs=1, loss="hinge", **TINY).fit(split.train, split.valid)


def test_the_negative_sampler_and_the_epoch_order_draw_from_separate_streams():
    sampling, order = random_streams(7)
    assert not np.array_equal(sampling.integers(0, 1000, 50), order.integers(0, 1000, 50))
    # control: two generators seeded alike (the old scheme) draw the very same numbers
    assert np.array_equal(np.random.default_rng(7).integers(0, 1000, 50), np.random.default_rng(7).integers(0, 1000, 50))


def test_the_random_streams_are_reproducible_from_the_seed():
    first, second = random_streams(3), random_streams(3)
    for a, b in zip(first, second):
        assert np.array_equal(a.integers(0, 1000, 50), b.integers(0, 1000, 50))


def test_a_negative_pool_trains_learns_and_is_refused_when_negative(split):
    from personae.errors import OptionError

    options = {**TINY, "negatives": 4, "epochs": 8, "patience": 8, "lr": 0.05, "seed": 0}
    pooled = BPR(negative_pool=16, **options).fit(split.train, split.valid)
    independent = BPR(**options).fit(split.train, split.valid)
    assert pooled.report_.history[-1]["loss"] < pooled.report_.history[0]["loss"]  # it learns
    assert pooled.report_.history[0]["loss"] != independent.report_.history[0]["loss"]  # other negatives drawn
    with pytest.raises(OptionError, match="negative_pool must be at least 0"):
        BPR(negative_pool=-1, **TINY)
