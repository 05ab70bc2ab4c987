"""ampcf's attention-entropy term: persona attention peaked on positives and flat on negatives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from personae.data import leave_last_out
from personae.data.synthetic import planted_interests
from personae.models.ampcf import AMPCF, MultiPersonaNetwork, entropy_gap, persona_entropy

FAST = {"personas": 3, "dim": 4, "epochs": 10, "patience": 10, "lr": 0.02, "batch_size": 256, "negatives": 20,
        "progress": False}


@pytest.fixture(scope="module")
def split():
    return leave_last_out(planted_interests(n_users=200, n_clusters=12, items_per_cluster=15, interests_per_user=3,
                                            events_per_user=24, seed=1))


def positive_attention_entropy(model: AMPCF, split) -> float:
    """Mean entropy (nats) of the persona attention of each training event's item."""
    users, items = torch.as_tensor(split.train.users), torch.as_tensor(split.train.items)
    with torch.no_grad():
        weights = model.network_.persona_weights(users, items[:, None])[:, 0]  # (events, K)
    return float(persona_entropy(weights).mean())


def test_entropy_gap_is_log_k_for_flat_positives_and_peaked_negatives():
    flat, peaked = torch.full((4,), 0.25), torch.tensor([1.0, 0.0, 0.0, 0.0])
    weights = torch.stack([flat, peaked, peaked])[None]  # (1, 1 + 2 negatives, K=4)
    assert float(entropy_gap(weights)) == pytest.approx(math.log(4))


def test_entropy_gap_is_zero_when_positives_and_negatives_attend_alike():
    weights = torch.softmax(torch.randn(1, 4), dim=1).expand(8, 6, 4)  # one attention for every candidate
    assert float(entropy_gap(weights)) == pytest.approx(0.0, abs=1e-6)


def test_entropy_term_is_zero_at_weight_zero():
    network = MultiPersonaNetwork(n_users=5, n_items=9, dim=4, k=3, temperature=1.0, separate_keys=False,
                                  dropout=0.0, attention_entropy=0.0).train()
    users = torch.arange(5)
    network(users, torch.randint(0, 9, (5, 4)))
    assert float(network.penalty(users)) == 0.0


def test_entropy_term_lowers_positive_attention_entropy_on_planted_data(split):
    plain = AMPCF(seed=0, **FAST).fit(split.train, split.valid)
    peaked = AMPCF(seed=0, attention_entropy=1.0, **FAST).fit(split.train, split.valid)
    assert positive_attention_entropy(peaked, split) < positive_attention_entropy(plain, split) - 0.05
    assert np.isfinite(peaked.report_.history[-1]["loss"])
