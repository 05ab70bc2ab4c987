"""The written contract of torch networks (personae.models.network) and the one attention formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from personae.data.interactions import Interactions
from personae.models import model_class
from personae.models.attention import attention_of, candidate_attention, softmax_loss_grad
from personae.models.network import PersonaNetwork, TorchNetwork
from personae.models.scoring import persona_scores

TINY = {"epochs": 2, "dim": 8, "batch_size": 64}


@pytest.fixture(scope="module")
def fitted() -> dict:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(30), 8)
    items = np.concatenate([rng.choice(40, 8, replace=False) for _ in range(30)])
    data = Interactions.from_ids(users, items, np.tile(np.arange(8), 30), name="contract")
    return {name: model_class(name)(seed=0, **TINY).fit(data) for name in ("ampcf", "mf", "bpr", "din", "mind")}


@pytest.mark.parametrize("name", ["ampcf", "mf", "bpr", "din", "mind"])
def test_every_torch_network_follows_the_torch_network_contract(fitted, name):
    network = fitted[name].network
    assert isinstance(network, TorchNetwork)
    n_items = fitted[name].fitted_data.n_items
    assert network.item_vectors().shape == (n_items, 8)
    assert network.item_biases().shape == (n_items,)


@pytest.mark.parametrize("name, persona", [("ampcf", True), ("mf", True), ("bpr", True), ("din", False),
                                           ("mind", False)])
def test_only_networks_with_persona_vectors_claim_the_persona_contract(fitted, name, persona):
    assert isinstance(fitted[name].network, PersonaNetwork) is persona


@pytest.mark.parametrize("name", ["ampcf", "mf", "bpr"])
@torch.no_grad()
def test_persona_contract_reproduces_the_networks_own_scores(fitted, name):
    """Scores rebuilt from the contract alone (persona vectors, attention, item space) equal score_all."""
    network = fitted[name].network.eval()
    users = torch.arange(10)
    rebuilt = persona_scores(network.persona_vectors(users), network.item_vectors(), network.item_biases(),
                             network.temperature, mask=network.kept_personas(users))
    torch.testing.assert_close(rebuilt, network.score_all(users), rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_persona_weights_are_the_one_attention_formula(fitted):
    network = fitted["ampcf"].network.eval()
    assert network.n_personas == 4
    users, items = torch.arange(5), torch.arange(12).expand(5, -1)
    personas = network.persona_vectors(users)
    expected = candidate_attention(personas, network.item_vectors()[items], network.temperature,
                                   network.kept_personas(users))
    torch.testing.assert_close(network.persona_weights(users, items), expected)


def test_single_vector_networks_give_one_persona_of_weight_one(fitted):
    network = fitted["mf"].network
    weights = network.persona_weights(torch.arange(3), torch.arange(6).expand(3, -1))
    assert network.n_personas == 1
    assert weights.shape == (3, 6, 1) and bool((weights == 1).all())


def test_models_without_a_network_say_so():
    assert model_class("pop")().network is None


def test_a_torch_model_before_fit_refuses_its_network():
    with pytest.raises(RuntimeError, match="call fit"):
        _ = model_class("mf")().network


def test_numpy_attention_equals_the_torch_formula():
    rng = np.random.default_rng(1)
    personas, items = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(7, 4)).astype(np.float32)
    mask = np.array([True, False, True])
    expected = candidate_attention(torch.as_tensor(personas)[None], torch.as_tensor(items)[None], 0.5,
                                   torch.as_tensor(mask)[None])[0].numpy()
    np.testing.assert_allclose(attention_of(personas, items, 0.5, mask), expected, rtol=1e-6)
    assert np.all(expected[:, 1] == 0)  # a masked persona gets no weight


def test_online_update_gradient_written_out_equals_autograd():
    rng = np.random.default_rng(0)
    personas, items = rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    bias, mask, targets = rng.normal(size=50).astype(np.float32), np.array([True, True, False, True]), np.array([3, 7, 7])
    tensor = torch.tensor(personas, requires_grad=True)
    scores = persona_scores(tensor[None], torch.as_tensor(items), torch.as_tensor(bias), 0.7,
                            mask=torch.as_tensor(mask)[None])[0]
    (-torch.log_softmax(scores, dim=0)[torch.as_tensor(targets)].mean()).backward()
    ours = softmax_loss_grad(personas, items, bias, 0.7, mask, targets)
    np.testing.assert_allclose(ours, tensor.grad.numpy(), rtol=1e-4, atol=1e-6)
    assert np.all(ours[2] == 0)  # a pruned persona never moves
