"""DIN, the Deep Interest Network (Zhou et al., 2018, arXiv:1706.06978), for full-ranking top-k.

The user is their recent history, not a learned vector: for a candidate item q, a local activation unit
weighs each history item k_j by an MLP on [q, k_j, q - k_j, q * k_j], and the user's interest *for that
candidate* is sum_j w_j k_j. The score is <interest, q> + b_q (``scorer="dot"``, the default, cheap enough
for full ranking; the paper's final MLP is kept as ``scorer="mlp"``; neither was tuned on ml-100k).
Attention weights are softmax-normalised by default (``normalize``; the paper keeps raw weights), which
keeps the interest vector on the scale of one item embedding whatever the history length.

Two details matter for training on the same events the history is made of:
  * the history is the user's last ``max_history`` *training* items, so a training positive is usually in
    its own history; attending to it would be a trivial leak, so a history item equal to the candidate is
    masked out of the attention (in ``forward`` and ``score_all`` alike, so scores agree);
  * ``score_all`` folds the candidate side: attention logits depend only on the (candidate, history item)
    pair, so they are computed once per pair for a batch of users and gathered, in chunks of the catalogue;
    (users, items, history, hidden) never materialises.

``attention="uniform"`` replaces the activation unit by a plain mean of the (masked) history: the
candidate-blind ablation the attention is measured against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from personae.data.interactions import Interactions
from personae.errors import OptionError
from personae.models.base import Explanation
from personae.models.history import history_matrix
from personae.models.torch_base import TorchOptions, TorchRecommender

SCORE_CHUNK_ELEMENTS = 1 << 23  # floats per (items, distinct history items, width) block in score_all (~32 MB)


def candidate_mask(history: torch.Tensor, items: torch.Tensor, pad: int) -> torch.Tensor:
    """(B, C, L) bool: history positions a candidate may attend to (not padding, not the candidate itself)."""
    return (history != pad)[:, None, :] & (history[:, None, :] != items[:, :, None])


@dataclass
class DINOptions(TorchOptions):
    # lr, weight decay, dropout, attention width and history length are the best of 10 Optuna trials on
    # ml-100k validation NDCG@10 (bench/tune.py; it beat the earlier defaults on validation, paired CI above zero).
    lr: float = field(default=7.46e-3, metadata={"help": "Adam learning rate"})
    weight_decay: float = field(default=6.94e-7, metadata={"help": "Adam weight decay (L2 on all parameters)"})
    max_history: int = field(default=17, metadata={"help": "most recent training items kept per user"})
    attention_hidden: int = field(default=15, metadata={"help": "hidden units of the local activation unit"})
    attention: str = field(default="mlp", metadata={
        "help": "'mlp' (the local activation unit) or 'uniform' (plain mean of the history: ablation)"})
    normalize: bool = field(default=True, metadata={
        "help": "softmax the attention weights over the history (the paper keeps raw weights)"})
    scorer: str = field(default="dot", metadata={
        "help": "'dot': <interest, item> + bias; 'mlp': MLP([interest, item, interest*item]) + bias"})
    dropout: float = field(default=0.0774, metadata={"help": "dropout on the attention and scorer hidden layers"})


class DeepInterestNetwork(nn.Module):
    """Item embeddings + a local activation unit over each user's history buffer (no user parameters)."""

    def __init__(self, history: np.ndarray, n_items: int, options: DINOptions) -> None:
        super().__init__()
        if options.attention not in ("mlp", "uniform"):
            raise OptionError(f"din: attention must be 'mlp' or 'uniform', got {options.attention!r}")
        if options.scorer not in ("dot", "mlp"):
            raise OptionError(f"din: scorer must be 'dot' or 'mlp', got {options.scorer!r}")
        dim, hidden = options.dim, options.attention_hidden
        self.n_items, self.options = n_items, options
        self.register_buffer("history", torch.as_tensor(history, dtype=torch.long))  # (n_users, L)
        self.items = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        self.item_bias = nn.Embedding(n_items + 1, 1, padding_idx=n_items)
        nn.init.normal_(self.items.weight, std=0.1)
        nn.init.zeros_(self.item_bias.weight)
        with torch.no_grad():
            self.items.weight[n_items].zero_()
        # Linear([q, k, q-k, q*k]) == A q + B k + P (q*k): the same unit without building the 4*dim concat.
        self.attend_query = nn.Linear(dim, hidden)
        self.attend_key = nn.Linear(dim, hidden, bias=False)
        self.attend_product = nn.Linear(dim, hidden, bias=False)
        self.attend_act, self.attend_dropout = nn.PReLU(), nn.Dropout(options.dropout)
        self.attend_out = nn.Linear(hidden, 1)
        if options.scorer == "mlp":
            self.scorer = nn.Sequential(nn.Linear(3 * dim, 2 * dim), nn.PReLU(), nn.Dropout(options.dropout),
                                        nn.Linear(2 * dim, 1))

    def activation_logits(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Local activation unit: candidates q (..., C, dim) against history items k (..., L, dim) -> (..., C, L).

        Leading dimensions broadcast: (B, C, dim) with (B, L, dim) per user, or (C, dim) with (U, dim) for
        every pair of a candidate and a distinct history item at once (``score_all``)."""
        # P (q * k) summed over dim is (q scaled by each row of P) . k: one matrix product of (C * hidden, dim)
        # rows against the history, so no (..., C, L, dim) block is ever built (forward or backward).
        scaled = q[..., :, None, :] * self.attend_product.weight  # (..., C, hidden, dim)
        product = torch.matmul(scaled.flatten(-3, -2), k.transpose(-1, -2)).unflatten(-2, scaled.shape[-3:-1])
        hidden = (product + self.attend_query(q)[..., :, :, None]
                  + self.attend_key(k).transpose(-1, -2)[..., None, :, :])  # (..., C, hidden, L)
        active = self.attend_dropout(self.attend_act(hidden))
        return torch.einsum("...chl,h->...cl", active, self.attend_out.weight[0]) + self.attend_out.bias

    def normalise(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, C, L) attention logits -> weights, zero where masked (softmax over L if ``normalize``)."""
        if self.options.normalize:
            weights = torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
            return torch.nan_to_num(weights, nan=0.0)  # a user with no usable history: all weights 0
        return logits * mask

    def attention(self, q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, C, L) weights of history items k (B, L, dim) for candidates q (B, C, dim), or (C, dim) shared by
        every user; zero where masked."""
        if self.options.attention == "uniform":
            return mask / mask.sum(-1, keepdim=True).clamp_min(1)
        return self.normalise(self.activation_logits(q, k), mask)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.scores(users, items, self.items(items))

    def scores(self, users: torch.Tensor, items: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """(B, C) scores of candidates ``items`` (B, C) with embeddings q: (B, C, dim), or (C, dim) when the
        same candidates are scored for every user."""
        history = self.history[users]  # (B, L)
        mask = candidate_mask(history, items, self.n_items)  # (B, C, L)
        k = self.items(history)  # (B, L, dim)
        weights = self.attention(q, k, mask)  # (B, C, L)
        interest = torch.einsum("bcl,bld->bcd", weights, k)  # (B, C, dim)
        bias = self.item_bias(items).squeeze(-1)  # (B, C)
        q = q.expand_as(interest)
        if self.options.scorer == "dot":
            return (interest * q).sum(-1) + bias
        return self.scorer(torch.cat([interest, q, interest * q], dim=-1)).squeeze(-1) + bias

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """(B, n_items). The attention of candidate c on history item j depends on the two items alone, so it is
        computed once per pair of a candidate and a distinct history item of the batch, then gathered into
        each user's slots: the candidate side is never recomputed per user. Chunks of the catalogue keep the
        (chunk, U, width) pair block and the (B, chunk, L) gathers near ``SCORE_CHUNK_ELEMENTS`` floats."""
        history = self.history[users]  # (B, L)
        distinct, slot = torch.unique(history, return_inverse=True)  # (U,), (B, L) position in distinct
        k = self.items(distinct)  # (U, dim)
        width = max(self.options.dim, self.options.attention_hidden)
        per_item = max(len(distinct) * width, history.numel(), 1)
        chunk = max(1, SCORE_CHUNK_ELEMENTS // per_item)
        parts = []
        for begin in range(0, self.n_items, chunk):
            items = torch.arange(begin, min(begin + chunk, self.n_items), device=users.device)  # (C,)
            q = self.items(items)  # (C, dim)
            mask = candidate_mask(history, items.expand(len(users), -1), self.n_items)  # (B, C, L)
            if self.options.attention == "uniform":
                weights = self.attention(q, k, mask)
            else:
                pair = self.activation_logits(q, k)  # (C, U): each candidate against each distinct item
                weights = self.normalise(pair[:, slot].permute(1, 0, 2), mask)  # (B, C, L)
            bias = self.item_bias(items).squeeze(-1)  # (C,)
            if self.options.scorer == "dot":
                similarity = (q @ k.T)[:, slot].permute(1, 0, 2)  # (B, C, L): <q_c, k_j> per user slot
                parts.append((weights * similarity).sum(-1) + bias)
            else:
                interest = torch.einsum("bcl,bld->bcd", weights, self.items(history))  # (B, C, dim)
                q_all = q.expand_as(interest)
                parts.append(self.scorer(torch.cat([interest, q_all, interest * q_all], dim=-1)).squeeze(-1) + bias)
        return torch.cat(parts, dim=1)

    # --- the TorchNetwork contract (personae.models.network) -------------------------------------------
    def item_vectors(self) -> torch.Tensor:
        return self.items.weight[: self.n_items]  # (n_items, dim), the padding row left out

    def item_biases(self) -> torch.Tensor:
        return self.item_bias.weight[: self.n_items, 0]  # (n_items,)

    def penalty(self, users: torch.Tensor) -> None:
        return None


class DIN(TorchRecommender):
    """Deep Interest Network: candidate-conditional attention over the user's recent training items."""

    name = "din"
    summary = "Deep Interest Network: attention over the user's history against the candidate"
    Options = DINOptions
    options: DINOptions
    # score_all computes each (candidate, history item) logit once per call, so a batch of users that share
    # items shares the work; memory stays bounded by its chunks of the catalogue, not by the batch.
    ranking_batch_users = 1024

    def build_network(self, train: Interactions) -> nn.Module:
        return DeepInterestNetwork(history_matrix(train, self.options.max_history, pad=train.n_items), train.n_items, self.options)

    @torch.no_grad()
    def explain(self, user_id: object, item_ids: list | np.ndarray) -> list[Explanation]:
        """One persona (DIN keeps no user vector); support = the history items the candidate attends to most."""
        from personae.explain.attribution import build_explanations
        from personae.explain.labels import lift_label

        data, network = self.fitted_data, self.network_
        user = data.user_index(user_id)
        items = torch.as_tensor(data.item_index(item_ids))
        row = network.history[user][None]  # (1, L), newest last, padding = n_items
        weights = network.attention(network.items(items), network.items(row),
                                    candidate_mask(row, items[None], network.n_items))[0]  # (C, L)
        history = data.user_history(user)
        slot = np.arange(len(history)) - len(history) + row.shape[1]  # slot of each history item in the row
        padded = torch.cat([weights, torch.zeros(len(items), 1)], dim=1)  # slot -1 -> zero
        support = padded[:, torch.as_tensor(np.where(slot >= 0, slot, row.shape[1]))].numpy()  # (C, H)
        return build_explanations(data, user_id, items.numpy(), np.ones((len(items), 1)),
                                  [lift_label(data, history)], history, support)
