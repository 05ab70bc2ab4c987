"""The written contract of torch networks: what code outside ``personae/models/`` may ask a network.

A network is a plain ``nn.Module`` that knows nothing of training (Spotlight style). Every torch network is a
:class:`TorchNetwork`: the training loop calls ``forward`` and ``penalty``, the evaluator ``score_all``, and any
tool may read the item space (``item_vectors``, ``item_biases``). Networks whose users are persona vectors
weighed by candidate attention (ampcf; mf and bpr as one persona of weight 1) are also a
:class:`PersonaNetwork`. Outside modules reach a fitted model's network through ``model.network`` and test
for the richer contract with ``isinstance(network, PersonaNetwork)``, never by probing attributes.

Method names avoid the saved parameter names (``item_bias``, ``persona_mask`` are state-dict keys of saved
models), hence ``item_biases()`` and ``kept_personas()``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class TorchNetwork(Protocol):
    """What every torch network answers (ampcf, mf, bpr, din, mind)."""

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B,) users, (B, C) candidate items -> (B, C) scores."""

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """(B,) users -> (B, n_items) scores of the whole catalogue."""

    def item_vectors(self) -> torch.Tensor:
        """(n_items, dim) the item embeddings scores are made of (padding rows left out)."""

    def item_biases(self) -> torch.Tensor:
        """(n_items,) the additive item bias (zeros for networks without one)."""

    def penalty(self, users: torch.Tensor) -> torch.Tensor | None:
        """An extra training term for this batch of users, or None when the network adds none."""


@runtime_checkable
class PersonaNetwork(TorchNetwork, Protocol):
    """A network whose user is K persona vectors weighed per candidate by attention:

        w_k(i) = softmax_k(<a_k, q_i> / temperature)     s(i) = sum_k w_k(i) <p_k, e_i> + b_i

    (personae.models.attention). Single-vector networks are the case K = 1, weight 1.
    """

    temperature: float  # softmax temperature of the persona attention
    n_personas: int  # K, personas per user (1 for single-vector networks)

    def persona_vectors(self, users: torch.Tensor) -> torch.Tensor:
        """(B,) users -> (B, K, dim) persona vectors (dropout only in training mode)."""

    def persona_weights(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B,) users, (B, C) items -> (B, C, K) attention of each item over each user's personas."""

    def kept_personas(self, users: torch.Tensor) -> torch.Tensor:
        """(B,) users -> (B, K) bool, False for personas pruned at training time."""



class OnePersona:
    """The persona answers of a single-vector network (mf, bpr): its user vector is one persona of weight 1.
    Mix in before ``nn.Module``; the network still defines ``item_vectors``, ``item_biases``, ``persona_vectors``."""

    temperature = 1.0
    n_personas = 1

    def persona_weights(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return torch.ones(*items.shape, 1, device=items.device)  # (B, C, 1)

    def kept_personas(self, users: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(users), 1, dtype=torch.bool, device=users.device)  # (B, 1)

    def penalty(self, users: torch.Tensor) -> None:
        return None
