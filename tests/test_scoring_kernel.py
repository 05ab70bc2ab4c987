"""The one ranking kernel (personae.models.scoring): same top-k as the training formula, in blocks, with ties
to the lower index, and the path the evaluator takes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from personae.data import leave_last_out
from personae.data.synthetic import planted_interests
from personae.evaluate import evaluate
from personae.evaluate.metrics import top_k
from personae.models import scoring
from personae.models.ampcf import AMPCF
from personae.models.scoring import persona_scores, persona_top_k

VARIANTS = {
    "tied keys": {},
    "separate keys, tau 0.5": {"separate_keys": True, "temperature": 0.5},
    "pruned personas": {"personas": "auto"},
    "history personas": {"persona_source": "history"},
}


@pytest.fixture(scope="module")
def split():
    data = planted_interests(n_users=60, n_clusters=6, items_per_cluster=9, interests_per_user=2,
                             events_per_user=10, seed=3)
    return leave_last_out(data)


@pytest.fixture(scope="module", params=list(VARIANTS))
def model(request, split):
    options = {"personas": 3, "dim": 6, "epochs": 3, "batch_size": 128, "progress": False} | VARIANTS[request.param]
    return AMPCF(**options).fit(split.train)


def _old_top_k(model: AMPCF, users: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The path before the kernel: the network's forward on every item, training items -inf, argpartition."""
    scores = np.array(model.score(users, np.arange(model.fitted_data.n_items)), dtype=np.float32)
    rows, cols = model.fitted_data.csr[users].nonzero()
    scores[rows, cols] = -np.inf
    ranked = top_k(scores, k)
    return ranked, np.take_along_axis(scores, ranked, axis=1)


def test_kernel_top_k_equals_the_training_formula_with_argpartition(model):
    users = np.arange(model.fitted_data.n_users)
    expected_items, expected_scores = _old_top_k(model, users, 10)
    found = model.rank(users, 10, model.fitted_data.csr[users])
    np.testing.assert_array_equal(found.items, expected_items)
    np.testing.assert_allclose(found.scores, expected_scores, rtol=1e-5, atol=1e-6)


def test_block_sizes_change_nothing(model, monkeypatch):
    users = np.arange(model.fitted_data.n_users)
    whole = model.rank(users, 10, model.fitted_data.csr[users], attribution=True)
    monkeypatch.setattr(scoring, "USER_BLOCK", 7)  # neither divides 60 users nor 54 items
    monkeypatch.setattr(scoring, "ITEM_BLOCK", 5)
    blocked = model.rank(users, 10, model.fitted_data.csr[users], attribution=True)
    np.testing.assert_array_equal(blocked.items, whole.items)
    np.testing.assert_allclose(blocked.scores, whole.scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(blocked.persona, whole.persona)


def test_attribution_is_the_argmax_of_the_networks_own_attention(model):
    users = np.arange(0, model.fitted_data.n_users, 5)
    found = model.rank(users, 8, attribution=True)
    weights = model.network_.persona_weights(torch.as_tensor(users), torch.as_tensor(found.items)).detach()
    np.testing.assert_array_equal(found.persona, weights.argmax(dim=2).numpy())
    np.testing.assert_allclose(found.weight, weights.amax(dim=2).numpy(), rtol=1e-5)


def test_evaluation_through_the_kernel_equals_evaluation_through_scores(model, split):
    class ScoresOnly:  # a scorer without ``rank``: the evaluator selects from its full score matrix
        def score(self, user_idx, item_idx=None):
            return model.score(user_idx, np.arange(model.fitted_data.n_items))

    ours = evaluate(model, split, beyond_accuracy=False).metrics
    reference = evaluate(ScoresOnly(), split, beyond_accuracy=False).metrics
    assert ours == pytest.approx(reference, abs=1e-12)


@pytest.mark.parametrize("k", [9, 8])  # 9: the cut-off falls between tied groups; 8: inside one
def test_equal_scores_go_to_the_lower_item_index(k):
    rng = np.random.default_rng(0)
    items = torch.as_tensor(rng.normal(size=(6, 4)), dtype=torch.float32).repeat(3, 1)  # items i, i+6, i+12 equal
    personas = torch.as_tensor(rng.normal(size=(5, 2, 4)), dtype=torch.float32)
    found = persona_top_k(personas, items, torch.zeros(18), k=k)
    scores = persona_scores(personas, items, torch.zeros(18)).numpy()
    np.testing.assert_array_equal(found.items, top_k(scores, k))  # the reference selection, ties included
    for row in found.items:  # each score thrice: the copies come in index order, lowest first
        assert list(row[:3]) == sorted(row[:3]) and row[0] < 6


def test_a_user_with_every_persona_pruned_scores_the_item_bias_alone():
    personas, items, bias = torch.randn(2, 3, 4), torch.randn(7, 4), torch.randn(7)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    scores = persona_scores(personas, items, bias, mask=mask)
    torch.testing.assert_close(scores[1], bias)
    assert not torch.allclose(scores[0], bias)


def test_keys_given_without_queries_attend_over_the_item_vectors():
    personas, items, bias = torch.randn(3, 2, 4), torch.randn(9, 4), torch.randn(9)
    torch.testing.assert_close(persona_scores(personas, items, bias, keys=personas.clone()),
                               persona_scores(personas, items, bias))
