"""Multi-interest retrieval from the user's history: ComiRec-SA (Cen et al., 2020, arXiv:2005.09347).

Registered as ``mind`` (the DESIGN name for "K interests extracted from history"); of the two extractors it
names, MIND's dynamic routing and ComiRec's self-attention, this is the self-attentive one: it is
deterministic, has no routing iterations to tune, and lets the candidate's own masking be applied exactly.

For a user with history items h_1..h_L (their last ``max_history`` training items, see
:func:`personae.models.history.history_matrix`) the K interests are

    A = softmax_over_j( W2 tanh(W1 (h_j + p_j)) )      # (K, L), p_j a learned position embedding
    v_k = sum_j A_kj h_j                                # (K, dim)
    score(u, i) = max_k <v_k, e_i>

A training positive is usually in the user's own history, so the candidate is masked out of the softmax
(A is renormalised over the other items) in ``forward`` and ``score_all`` alike. Because the attention
logits do not depend on the candidate, the masked scores are two batched matrix products:
<v_k(i), e_i> = sum_j exp(a_kj) m_ij <h_j, e_i> / sum_j exp(a_kj) m_ij with m_ij = [h_j != i].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from personae.data.interactions import Interactions
from personae.errors import OptionError
from personae.models.base import Explanation, PersonaMix
from personae.models.history import history_matrix
from personae.models.torch_base import TorchOptions, TorchRecommender


@dataclass
class MINDOptions(TorchOptions):
    # lr, weight decay, K, attention width and history length are the best of 10 Optuna trials on ml-100k
    # validation NDCG@10 (bench/tune.py; it beat the earlier defaults on validation, paired CI above zero).
    lr: float = field(default=7.46e-3, metadata={"help": "Adam learning rate"})
    weight_decay: float = field(default=6.94e-7, metadata={"help": "Adam weight decay (L2 on all parameters)"})
    loss: str = field(default="softmax", metadata={"help": "'bpr' or 'softmax' (sampled softmax)"})
    negatives: int = field(default=20, metadata={"help": "sampled negatives per positive"})
    interests: int = field(default=2, metadata={"help": "K, interests extracted per user"})
    max_history: int = field(default=17, metadata={"help": "most recent training items kept per user"})
    attention_hidden: int = field(default=61, metadata={"help": "hidden width of the self-attention (W1)"})
    positional: bool = field(default=True, metadata={"help": "add learned position embeddings before attention"})


class SelfAttentiveInterests(nn.Module):
    """Item embeddings, position embeddings and the K-head self-attention over each user's history buffer."""

    def __init__(self, history: np.ndarray, n_items: int, options: MINDOptions) -> None:
        super().__init__()
        if options.interests < 1:
            raise OptionError(f"mind: interests must be >= 1, got {options.interests}")
        dim, length = options.dim, history.shape[1]
        self.n_items, self.options = n_items, options
        self.register_buffer("history", torch.as_tensor(history, dtype=torch.long))  # (n_users, L)
        self.items = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        self.positions = nn.Parameter(torch.zeros(length, dim))
        nn.init.normal_(self.items.weight, std=0.1)
        with torch.no_grad():
            self.items.weight[n_items].zero_()
        self.attend_hidden = nn.Linear(dim, options.attention_hidden, bias=False)
        self.attend_heads = nn.Linear(options.attention_hidden, options.interests, bias=False)

    def attention_logits(self, history: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """(B, K, L) attention logits of history items h (B, L, dim); padding at -inf.

        W1 (h_j + p_j) = W1 h_j + W1 p_j, so when the catalogue is smaller than the batch's history slots the
        item side is projected once for the whole table and gathered, instead of once per (user, slot)."""
        if self.items.num_embeddings < history.numel():
            x = self.attend_hidden(self.items.weight)[history]  # (B, L, hidden)
        else:
            x = self.attend_hidden(h)
        if self.options.positional:
            x = x + self.attend_hidden(self.positions)  # (L, hidden)
        logits = self.attend_heads(torch.tanh(x)).transpose(1, 2)  # (B, K, L)
        return logits.masked_fill((history == self.n_items)[:, None, :], float("-inf"))

    def history_weights(self, history: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """(B, K, L) unnormalised attention exp(a_kj - max_j a_kj): 1 at each head's peak, 0 at padding."""
        logits = self.attention_logits(history, h)  # (B, K, L)
        top = logits.amax(-1, keepdim=True).clamp_min(-1e30).detach()  # (B, K, 1); detached: a constant
        # clamp keeps exp > 0 for every real item, so a denominator is zero only with nothing left to attend
        weights = torch.exp((logits - top).clamp_min(-60.0))
        return weights.masked_fill((history == self.n_items)[:, None, :], 0.0)

    def interest_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B, C, K): <v_k, e_i> with each candidate masked out of its own user's history.

        A candidate outside the user's history sees the whole history, so its K scores are one product of
        the unnormalised interests with its embedding; only candidates inside the history (in training,
        mostly the positive) need the masked sum, computed exactly for those (user, candidate) pairs alone.
        """
        # a user's interests do not depend on the candidate: attend once per distinct user of the batch
        distinct, row = torch.unique(users, return_inverse=True)
        own = self.history[distinct]  # (U, L)
        weights = self.history_weights(own, self.items(own))[row]  # (B, K, L)
        history = own[row]  # (B, L)
        h = self.items(history)  # (B, L, dim)
        e = self.items(items)  # (B, C, dim)
        interests = torch.einsum("bkl,bld->bkd", weights, h)  # (B, K, dim), unnormalised
        scores = _masked_ratio(torch.einsum("bkd,bcd->bck", interests, e),
                               weights.sum(-1)[:, None, :].expand(-1, items.shape[1], -1))
        inside = (history[:, None, :] == items[:, :, None]).any(-1)  # (B, C): candidate in its user's history
        b, c = torch.nonzero(inside, as_tuple=True)  # (pairs,)
        similarity = torch.einsum("pld,pd->pl", h[b], e[b, c])  # (pairs, L)
        return scores.index_put((b, c), self._exact(weights[b], history[b], items[b, c], similarity))

    def _exact(self, weights: torch.Tensor, history: torch.Tensor, items: torch.Tensor,
               similarity: torch.Tensor) -> torch.Tensor:
        """(P, K) masked interest scores of P (user, candidate) pairs: weights (P, K, L), history (P, L),
        candidates (P,), similarity (P, L) of each history item to the candidate."""
        keep = (history != items[:, None]).to(weights.dtype)  # (P, L): the candidate masked out
        return _masked_ratio(torch.einsum("pkl,pl->pk", weights, keep * similarity),
                             torch.einsum("pkl,pl->pk", weights, keep))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.interest_scores(users, items).amax(-1)  # (B, C)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """(B, n_items) equal to ``forward`` on every item, without a (B, n_items, L) block (same reasoning as
        :meth:`interest_scores`: one product with the catalogue, exact sums for the user's own items)."""
        history = self.history[users]  # (B, L)
        h = self.items(history)  # (B, L, dim)
        weights = self.history_weights(history, h)  # (B, K, L)
        interests = torch.einsum("bkl,bld->bkd", weights, h)  # (B, K, dim), unnormalised
        catalogue = self.items.weight[: self.n_items]  # (n_items, dim)
        scores = _masked_ratio(torch.einsum("bkd,nd->bnk", interests, catalogue),
                               weights.sum(-1)[:, None, :].expand(-1, self.n_items, -1)).contiguous()
        row, col = torch.nonzero(history != self.n_items, as_tuple=True)  # own items: (pairs,)
        own = history[row, col]  # (pairs,) item index
        similarity = torch.einsum("bld,bmd->bml", h, h)[row, col]  # (pairs, L): <h_l, own item>
        scores[row, own] = self._exact(weights[row], history[row], own, similarity)
        return scores.amax(-1)

    @torch.no_grad()
    def user_interests(self, user: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The user's K interest vectors (K, dim), attention (K, L) and history (L,), nothing masked."""
        history = self.history[user][None]  # (1, L)
        h = self.items(history)
        attention = torch.nan_to_num(torch.softmax(self.attention_logits(history, h), dim=-1), nan=0.0)
        return (attention @ h)[0], attention[0], history[0]

    # --- the TorchNetwork contract (personae.models.network) -------------------------------------------
    def item_vectors(self) -> torch.Tensor:
        return self.items.weight[: self.n_items]  # (n_items, dim), the padding row left out

    def item_biases(self) -> torch.Tensor:
        return self.items.weight.new_zeros(self.n_items)  # scores carry no item bias

    def penalty(self, users: torch.Tensor) -> None:
        return None


def _masked_ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, and 0 where nothing was left to attend (denominator 0)."""
    return torch.where(denominator > 0, numerator / denominator.clamp_min(1e-30), torch.zeros_like(numerator))


class MIND(TorchRecommender):
    """K interests per user by self-attention over their history (ComiRec-SA); score = max over interests."""

    name = "mind"
    summary = "multi-interest (ComiRec-SA self-attention over history), max over K interests"
    Options = MINDOptions
    options: MINDOptions

    def build_network(self, train: Interactions) -> nn.Module:
        return SelfAttentiveInterests(history_matrix(train, self.options.max_history, pad=train.n_items), train.n_items, self.options)

    @torch.no_grad()
    def _interests(self, user: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(K, dim) interests, the user's history (H,) oldest first, the interest serving each history item
        (H,), and (H, K) how strongly each interest scores each history item."""
        vectors, _attention, _row = self.network_.user_interests(user)
        history = self.fitted_data.user_history(user)
        affinity = (vectors @ self.network_.items.weight[torch.as_tensor(history)].T).T.numpy()  # (H, K)
        owner = affinity.argmax(axis=1) if len(history) else np.zeros(0, dtype=np.int64)
        return vectors.numpy(), history, owner, affinity

    def user_personas(self, user_id: object) -> PersonaMix:
        """The K interests; a weight is the share of the user's history items that interest serves best."""
        from personae.explain.attribution import persona_mix

        vectors, history, owner, affinity = self._interests(self.fitted_data.user_index(user_id))
        k = len(vectors)
        weights = (np.bincount(owner, minlength=k) / len(history)) if len(history) else np.full(k, 1.0 / k)
        return persona_mix(self.fitted_data, user_id, vectors, weights, history, owner, support_score=affinity)

    @torch.no_grad()
    def explain(self, user_id: object, item_ids: list | np.ndarray) -> list[Explanation]:
        """The interest that scores the item highest wins (the score is the max over interests); weights are a
        softmax over the interests' scores; support = that interest's history items most similar to the item."""
        from personae.explain.attribution import build_explanations, persona_labels

        data = self.fitted_data
        user = data.user_index(user_id)
        items = data.item_index(item_ids)
        vectors, history, owner, _ = self._interests(user)
        e = self.network_.items.weight[torch.as_tensor(items)]  # (C, dim)
        weights = torch.softmax(e @ torch.as_tensor(vectors).T, dim=1).numpy()  # (C, K)
        h = self.network_.items.weight[torch.as_tensor(history)]  # (H, dim)
        support = (torch.nn.functional.normalize(e, dim=1) @ torch.nn.functional.normalize(h, dim=1).T).numpy()
        eligible = owner[None, :] == weights.argmax(axis=1)[:, None]
        labels = persona_labels(data, history, owner, list(range(len(vectors))))
        return build_explanations(data, user_id, items, weights, labels, history, support, eligible)
