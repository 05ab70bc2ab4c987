"""MF: the single-vector twin of ``ampcf``, the model every persona claim is measured against.

One vector p_u per user, score s(u, i) = <p_u, e_i> + b_i. Everything else is ampcf's recipe: the same loss
(sampled softmax), negatives, learning rate, weight decay, dropout on the user vector, item bias,
initialisation and training loop. With one persona ampcf's attention is a softmax over a single entry (weight 1,
zero gradient), so ``ampcf --personas 1`` and ``mf`` are the same model; a gap between ampcf with K personas and
mf is then due to the personas alone, not to a better-tuned loss. (``bpr`` differs in loss, negatives, bias and
regularisation, so it cannot play this part.)
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields

import torch
from torch import nn

from personae.data.interactions import Interactions
from personae.models.ampcf import AMPCFOptions
from personae.models.network import OnePersona
from personae.models.torch_base import TorchOptions, TorchRecommender
from personae.train.rows import gather


def _as_in_ampcf(name: str) -> Field:
    """ampcf's option ``name`` (default and help): the twin trains with whatever recipe ampcf uses."""
    source = next(f for f in fields(AMPCFOptions) if f.name == name)
    return field(default=source.default, metadata=source.metadata)


@dataclass
class MFOptions(TorchOptions):
    loss: str = _as_in_ampcf("loss")
    negatives: int = _as_in_ampcf("negatives")
    lr: float = _as_in_ampcf("lr")
    weight_decay: float = _as_in_ampcf("weight_decay")
    dropout: float = field(default=AMPCFOptions.dropout, metadata={"help": "dropout on the user vector while training"})


class SingleVectorNetwork(OnePersona, nn.Module):
    """One vector per user, item embeddings and item bias; built as ampcf's network is with K=1."""

    row_tables = ("items.weight", "item_bias", "users")  # gathered with sparse gradients by the sparse optimiser
    sparse_gradients = False

    def __init__(self, n_users: int, n_items: int, dim: int, dropout: float) -> None:
        super().__init__()
        # Same parameters, shapes and creation order as MultiPersonaNetwork(k=1), so one seed gives one start.
        self.items = nn.Embedding(n_items, dim)
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        nn.init.xavier_normal_(self.items.weight)
        self.users = nn.Parameter(torch.empty(n_users, dim))
        nn.init.xavier_normal_(self.users.view(n_users, 1, dim))  # ampcf's (users, K=1, dim) fan-in/fan-out
        self.dropout = nn.Dropout(dropout)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B,) users, (B, C) candidates -> (B, C) scores."""
        sparse = self.sparse_gradients
        u = self.dropout(gather(self.users, users, sparse))  # (B, dim)
        return torch.einsum("bd,bcd->bc", u, gather(self.items, items, sparse)) + gather(self.item_bias, items, sparse)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.users[users]) @ self.items.weight.T + self.item_bias  # (B, n_items)

    # --- the PersonaNetwork contract (personae.models.network): one persona of weight 1 ------------------
    def item_vectors(self) -> torch.Tensor:
        return self.items.weight  # (n_items, dim)

    def item_biases(self) -> torch.Tensor:
        return self.item_bias  # (n_items,)

    def persona_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.users[users])[:, None, :]  # (B, 1, dim)


class MF(TorchRecommender):
    """One vector per user trained exactly as ampcf is: the fair single-vector baseline for personas."""

    name = "mf"
    summary = "single-vector twin of ampcf: one vector per user, ampcf's loss, negatives and regularisation"
    Options = MFOptions
    options: MFOptions

    def build_network(self, train: Interactions) -> nn.Module:
        o = self.options
        return SingleVectorNetwork(train.n_users, train.n_items, o.dim, o.dropout)
