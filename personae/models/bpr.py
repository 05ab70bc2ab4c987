"""BPR-MF (Rendle et al., 2009): one vector per user, one per item, score = <p_u, q_i>."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from personae.data.interactions import Interactions
from personae.models.network import OnePersona
from personae.models.torch_base import TorchOptions, TorchRecommender


@dataclass
class BPROptions(TorchOptions):
    # Four negatives per positive (the BPR loss averaged over them): with one negative, early stopping at
    # lr 1e-3 halted seed 2 on a plateau (valid NDCG@10 0.0725 with patience 25 at epoch 98 vs 0.0739 here).
    negatives: int = field(default=4, metadata={"help": "sampled negatives per positive"})
    # At lr 1e-3 validation NDCG@10 plateaus for 10+ epochs after learning popularity; early stopping could
    # halt there before personalisation set in.
    min_epochs: int = field(default=30, metadata={"help": "epochs always run before early stopping may stop"})


class MatrixFactorization(OnePersona, nn.Module):
    """The single-vector network: the bottleneck the multi-persona models are measured against."""

    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.users = nn.Embedding(n_users, dim)
        self.items = nn.Embedding(n_items, dim)
        nn.init.xavier_normal_(self.users.weight)
        nn.init.xavier_normal_(self.items.weight)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u = self.users(users)  # (B, dim)
        v = self.items(items)  # (B, C, dim)
        return torch.einsum("bd,bcd->bc", u, v)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        return self.users(users) @ self.items.weight.T  # (B, n_items)

    # --- the PersonaNetwork contract (personae.models.network): one persona of weight 1, no item bias ----
    def item_vectors(self) -> torch.Tensor:
        return self.items.weight  # (n_items, dim)

    def item_biases(self) -> torch.Tensor:
        return self.items.weight.new_zeros(self.items.num_embeddings)  # (n_items,)

    def persona_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.users(users)[:, None, :]  # (B, 1, dim)


class BPR(TorchRecommender):
    """Matrix factorisation trained with the BPR loss (or sampled softmax via ``loss``)."""

    name = "bpr"
    summary = "BPR matrix factorisation, one vector per user"
    Options = BPROptions

    def build_network(self, train: Interactions) -> nn.Module:
        return MatrixFactorization(train.n_users, train.n_items, self.options.dim)
