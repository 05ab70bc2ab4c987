"""AMPCF: Attentive Multi-Persona Collaborative Filtering (after arXiv:2010.07042).

Each user holds K persona vectors p_uk. The candidate item decides which personas speak:

    w_uk(i) = softmax_k(<a_uk, q_i> / tau)        attention of candidate i over the user's personas
    u(i)    = sum_k w_uk(i) p_uk                  the user as seen by this candidate
    s(u, i) = <u(i), e_i> + b_i

By default keys are tied to the vectors (a_uk = p_uk, q_i = e_i), so the score is a soft maximum over the
user's personas; ``separate_keys`` learns a_uk and q_i apart. The persona that explains (u, i) is
argmax_k w_uk(i).

``persona_source="history"`` computes the personas instead of storing them: K learned queries attend over the
user's own history items (optionally favouring recent ones), so a new user, or a user with new events, gets
personas without retraining. ``personas="auto"`` trains 8 personas and then prunes, per user, those that no
candidate among the user's own items and top recommendations ever selects.

``persona_source="clusters"`` makes each persona a group of the user's own items (PinnerSage style): the user's
last ``max_history`` items are clustered once, before training (Ward on SVD item vectors,
:mod:`personae.models.item_clusters`), into up to K groups, and persona k is the mean of its group's item
vectors; a user with fewer groups than K has the rest masked out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from personae.data.interactions import Interactions
from personae.errors import OptionError
from personae.models.attention import candidate_attention
from personae.models.base import Explanation, PersonaMix
from personae.models.history import history_matrix
from personae.models.item_clusters import cluster_items, item_embedding
from personae.models.scoring import TopK, persona_scores, persona_top_k
from personae.models.torch_base import TorchOptions, TorchRecommender
from personae.train.rows import gather

AUTO_MAX_PERSONAS = 8


@dataclass
class AMPCFOptions(TorchOptions):
    # Defaults chosen on ml-100k validation NDCG@10 (bench/RESULTS.md): sampled softmax converges in ~15
    # epochs at lr 5e-3; K persona tables overfit without dropout and a little weight decay.
    loss: str = field(default="softmax", metadata={"help": "'bpr' or 'softmax' (sampled softmax)"})
    negatives: int = field(default=20, metadata={"help": "sampled negatives per positive"})
    lr: float = field(default=5e-3, metadata={"help": "Adam learning rate"})
    weight_decay: float = field(default=1e-5, metadata={"help": "Adam weight decay (L2 on all parameters)"})
    personas: int | str = field(default=4, metadata={"help": "personas per user K, or 'auto' (8, pruned per user)"})
    temperature: float = field(default=1.0, metadata={"help": "softmax temperature tau of the persona attention"})
    separate_keys: bool = field(default=False, metadata={"help": "learn attention keys apart from persona vectors"})
    persona_source: str = field(default="embedding", metadata={"help": "'embedding' (learned per user), 'history' (queries over the user's items) or 'clusters' (Ward "
                "clusters of the user's items)"})
    max_history: int = field(default=100, metadata={"help": "history items used by persona_source=history"})
    recency: float = field(default=0.0, metadata={"help": "history: logit bonus per unit of recency (0 = none)"})
    dropout: float = field(default=0.3, metadata={"help": "dropout on persona vectors while training"})
    diversity: float = field(default=0.0, metadata={"help": "weight of a penalty on cosine between a user's personas"})
    attention_entropy: float = field(default=0.0, metadata={
        "help": "weight of a term making the persona attention peaked on positives and flat on negatives"})
    prune_candidates: int = field(default=50, metadata={"help": "auto K: top recommendations checked when pruning"})

    @property
    def n_personas(self) -> int:
        if self.personas == "auto":
            return AUTO_MAX_PERSONAS
        try:
            value = int(self.personas)
        except (TypeError, ValueError):
            raise OptionError(f"personas must be a positive integer or 'auto', got {self.personas!r}") from None
        if value < 1:
            raise OptionError(f"personas must be a positive integer or 'auto', got {value}")
        return value


class MultiPersonaNetwork(nn.Module):
    """K personas per user weighed against the candidate item. Knows nothing of training."""

    # per-user and per-item tables: with sparse_gradients (set by the loop's sparse optimiser) a gather gives a
    # gradient of the batch's rows only (personae.train.rows)
    row_tables = ("items.weight", "item_bias", "user_personas", "user_keys", "item_queries.weight",
                  "history_items.weight")
    sparse_gradients = False

    def __init__(self, n_users: int, n_items: int, dim: int, k: int, temperature: float, separate_keys: bool,
                 dropout: float, history: torch.Tensor | None = None, recency: float = 0.0,
                 diversity: float = 0.0, attention_entropy: float = 0.0,
                 history_clusters: torch.Tensor | None = None) -> None:
        super().__init__()
        self.k, self.dim, self.temperature, self.diversity = k, dim, temperature, diversity
        self.attention_entropy = attention_entropy
        self.training_attention: torch.Tensor | None = None  # (B, C, K) of the last training batch
        self.items = nn.Embedding(n_items, dim)
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        nn.init.xavier_normal_(self.items.weight)
        self.from_history = history is not None
        if self.from_history:
            # personas from history: K learned queries attend over the user's items (no per-user parameters)
            self.register_buffer("history", history)  # (n_users, L) item index, -1 = padding
            self.history_items = nn.Embedding(n_items, dim)
            self.persona_queries = nn.Parameter(torch.randn(k, dim) / dim ** 0.5)
            nn.init.xavier_normal_(self.history_items.weight)
            self.recency = recency
        else:
            self.user_personas = nn.Parameter(torch.empty(n_users, k, dim))
            nn.init.xavier_normal_(self.user_personas)
        self.user_keys = nn.Parameter(torch.empty(n_users, k, dim)) if separate_keys and not self.from_history else None
        self.item_queries = nn.Embedding(n_items, dim) if separate_keys else None
        if self.user_keys is not None:
            nn.init.xavier_normal_(self.user_keys)
        if self.item_queries is not None:
            nn.init.xavier_normal_(self.item_queries.weight)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("persona_mask", torch.ones(n_users, k, dtype=torch.bool))  # pruned personas: False
        self.register_buffer("history_clusters", history_clusters)  # clusters source: (n_users, L), -1 = padding
        if history_clusters is not None:  # persona k = mean of the user's items in cluster k (fixed groups)
            present = (history_clusters[:, None, :] == torch.arange(k)[None, :, None]).any(dim=2)  # (n_users, K)
            self.persona_mask.copy_(present | ~present.any(dim=1, keepdim=True))

    # --- personas -------------------------------------------------------------------------------------
    def personas(self, users: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) users -> (B, K, dim) persona vectors. ``exclude`` (B, C) hides those items from the history."""
        if not self.from_history:
            return self.dropout(gather(self.user_personas, users, self.sparse_gradients))
        clusters = None if self.history_clusters is None else self.history_clusters[users]
        return self.dropout(self.pool_history(self.history[users], exclude, clusters))

    def pool_history(self, history: torch.Tensor, exclude: torch.Tensor | None = None,
                     clusters: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L) item indices, oldest first, -1 padding -> (B, K, dim): K queries attend over the items."""
        weights, h = self.pooling_weights(history, exclude, clusters)
        return torch.einsum("bkl,bld->bkd", weights, h)

    def pooling_weights(self, history: torch.Tensor, exclude: torch.Tensor | None = None,
                        clusters: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) history -> ((B, K, L) weight of each history slot in each persona, (B, L, dim) item vectors).

        ``clusters`` (B, L): the persona of each slot; each persona then averages its own slots."""
        valid = history >= 0
        if exclude is not None:
            # the training target must not see itself in the history it is predicted from
            valid = valid & ~(history[:, :, None] == exclude[:, None, :]).any(dim=2)
        h = gather(self.history_items, history.clamp(min=0), self.sparse_gradients)  # (B, L, dim)
        if clusters is not None:
            own = clusters[:, None, :] == torch.arange(self.k, device=h.device)[None, :, None]  # (B, K, L)
            valid = valid[:, None, :] & own
            return torch.nan_to_num(torch.softmax(torch.zeros_like(own, dtype=h.dtype).masked_fill(~valid, float("-inf")),
                                                  dim=2)), h
        logits = torch.einsum("kd,bld->bkl", self.persona_queries, h) / self.dim ** 0.5  # (B, K, L)
        if self.recency:
            position = torch.linspace(0.0, 1.0, history.shape[1], device=h.device)  # last slot = newest
            logits = logits + self.recency * position
        logits = logits.masked_fill(~valid[:, None, :], float("-inf"))
        return torch.nan_to_num(torch.softmax(logits, dim=2)), h  # users without history: all-zero weights

    def keys(self, users: torch.Tensor, personas: torch.Tensor) -> torch.Tensor:
        return gather(self.user_keys, users, self.sparse_gradients) if self.user_keys is not None else personas

    def attention(self, users: torch.Tensor, keys: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """(B, K, dim) keys, (B, C, dim) candidate queries -> (B, C, K) weights over personas."""
        return candidate_attention(keys, queries, self.temperature, self.persona_mask[users])

    # --- scoring ---------------------------------------------------------------------------------------
    def _score(self, users: torch.Tensor, personas: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        e = gather(self.items, item_idx, self.sparse_gradients)  # (B, C, dim) or (C, dim)
        if e.dim() == 2:
            e = e.expand(len(users), -1, -1)
        q = e if self.item_queries is None else gather(self.item_queries, item_idx, self.sparse_gradients).expand_as(e)
        w = self.attention(users, self.keys(users, personas), q)  # (B, C, K)
        if self.training and self.attention_entropy:
            self.training_attention = w  # penalty() regularises the very weights that scored the batch
        per_persona = torch.einsum("bkd,bcd->bck", personas, e)  # (B, C, K)
        return (w * per_persona).sum(dim=2) + gather(self.item_bias, item_idx, self.sparse_gradients)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B,) users, (B, C) candidates -> (B, C) scores."""
        exclude = items if self.training else None
        return self._score(users, self.personas(users, exclude), items)

    def catalogue_scores(self, personas: torch.Tensor, keys: torch.Tensor | None = None,
                         mask: torch.Tensor | None = None) -> torch.Tensor:
        """(R, K, dim) persona sets given directly (new histories, removed personas) -> (R, n_items) scores.

        ``keys`` default to the personas (tied keys); ``mask`` (R, K) is False for personas left out. A row with
        every persona left out scores the item bias alone.
        """
        queries = None if self.item_queries is None else self.item_queries.weight
        return persona_scores(personas, self.items.weight, self.item_bias, self.temperature,
                              None if keys is None or keys is personas else keys, queries, mask)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """(B,) users -> (B, n_items) scores, through the one ranking kernel (personae.models.scoring)."""
        personas = self.personas(users)
        keys = None if self.user_keys is None else self.user_keys[users]
        return self.catalogue_scores(personas, keys, self.persona_mask[users])

    def persona_weights(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B,) users, (B, C) items -> (B, C, K) attention of each item over each user's personas."""
        personas = self.personas(users)
        e = self.items(items)
        q = e if self.item_queries is None else self.item_queries(items)
        return self.attention(users, self.keys(users, personas), q)

    def penalty(self, users: torch.Tensor) -> torch.Tensor:
        """Extra training terms: the diversity penalty and the attention-entropy term (each 0 at weight 0)."""
        total = torch.zeros((), device=self.items.weight.device)
        if self.diversity:  # mean squared off-diagonal cosine between each user's personas: against collapse
            total = total + self.diversity * persona_cosine(self.personas(users), squared=True)
        if self.attention_entropy and self.training_attention is not None:
            total = total + self.attention_entropy * entropy_gap(self.training_attention)
            self.training_attention = None
        return total

    # --- the PersonaNetwork contract (personae.models.network) ----------------------------------------
    @property
    def n_personas(self) -> int:
        return self.k

    def item_vectors(self) -> torch.Tensor:
        return self.items.weight  # (n_items, dim)

    def item_biases(self) -> torch.Tensor:
        return self.item_bias  # (n_items,)

    def persona_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.personas(users)  # (B, K, dim)

    def kept_personas(self, users: torch.Tensor) -> torch.Tensor:
        return self.persona_mask[users]  # (B, K)


def history_clusters(train: Interactions, history: np.ndarray, max_clusters: int, seed: int) -> np.ndarray:
    """(n_users, L) history rows (-1 padding) -> (n_users, L) Ward cluster of each slot (-1 padding)."""
    vectors = item_embedding(train, seed=seed)
    clusters = np.full(history.shape, -1, dtype=np.int64)
    for user, row in enumerate(history):
        filled = row >= 0
        clusters[user, filled] = cluster_items(vectors[row[filled]], max_clusters)
    return clusters


def persona_entropy(weights: torch.Tensor) -> torch.Tensor:
    """(..., K) attention over personas -> (...) entropy in nats; masked personas (weight 0) add nothing."""
    return torch.special.entr(weights).sum(dim=-1)


def entropy_gap(weights: torch.Tensor) -> torch.Tensor:
    """(B, 1 + negatives, K) training attention, positive first -> mean entropy on the positive minus the mean
    entropy on the negatives. Minimising it makes a positive pick one persona while a negative, which no persona
    should claim, spreads its attention (the AMP-CF paper's attention terms, arXiv:2010.07042)."""
    entropy = persona_entropy(weights)  # (B, 1 + negatives)
    return entropy[:, 0].mean() - entropy[:, 1:].mean()


def persona_cosine(personas: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """Mean pairwise cosine between the K personas of each user (B, K, dim); 1 means collapsed."""
    k = personas.shape[1]
    if k < 2:
        return torch.zeros((), device=personas.device)
    unit = F.normalize(personas, dim=2)
    cosine = unit @ unit.transpose(1, 2)  # (B, K, K)
    off_diagonal = cosine[:, ~torch.eye(k, dtype=torch.bool, device=cosine.device)]
    return (off_diagonal ** 2).mean() if squared else off_diagonal.mean()


class AMPCF(TorchRecommender):
    """Multi-persona recommender: the candidate item weighs the user's K personas."""

    name = "ampcf"
    summary = "attentive multi-persona CF: K personas per user, candidate-conditional attention"
    Options = AMPCFOptions
    options: AMPCFOptions

    def build_network(self, train: Interactions) -> nn.Module:
        o = self.options
        history, clusters = None, None
        if o.persona_source in ("history", "clusters"):
            history = history_matrix(train, o.max_history)
        elif o.persona_source != "embedding":
            raise OptionError(f"persona_source must be 'embedding', 'history' or 'clusters', got {o.persona_source!r}")
        if o.persona_source == "clusters":
            clusters = torch.as_tensor(history_clusters(train, history, o.n_personas, o.seed))
        network = MultiPersonaNetwork(train.n_users, train.n_items, o.dim, o.n_personas, o.temperature,
                                      o.separate_keys, o.dropout,
                                      history=None if history is None else torch.as_tensor(history),
                                      recency=o.recency, diversity=o.diversity,
                                      attention_entropy=o.attention_entropy, history_clusters=clusters)
        return network

    def fit(self, train: Interactions, valid: Interactions | None = None) -> AMPCF:
        super().fit(train, valid)
        if self.options.personas == "auto":
            self.prune_personas()
        return self

    @torch.no_grad()
    def rank(self, user_idx: np.ndarray, k: int, exclude=None, attribution: bool = False) -> TopK:
        """Top-k of whole-catalogue ranking through the one kernel (personae.models.scoring), with the
        winning persona of each item when ``attribution``."""
        network = self.network_
        network.eval()
        users = torch.as_tensor(np.asarray(user_idx, dtype=np.int64)).to(network.persona_mask.device)
        personas = network.personas(users)  # (B, K, dim)
        queries = None if network.item_queries is None else network.item_queries.weight
        keys = None if network.user_keys is None else network.user_keys[users]
        return persona_top_k(personas, network.items.weight, network.item_bias, k, network.temperature, keys,
                             queries, network.persona_mask[users], exclude, attribution)

    # --- test-time personas from a history ---------------------------------------------------------------
    @torch.no_grad()
    def score_history(self, item_ids: list | np.ndarray) -> np.ndarray:
        """(n_items,) scores for a user given only their items, oldest first: no retraining, no user id.

        Needs ``persona_source="history"``; this is how a new user, or a user with new events, is served.
        """
        if not self.network_.from_history or self.network_.history_clusters is not None:
            raise ValueError("score_history needs an ampcf trained with persona_source='history'")
        network, length = self.network_, self.options.max_history
        items = self.fitted_data.item_index(item_ids)[-length:]
        history = torch.full((1, length), -1, dtype=torch.long)
        history[0, length - len(items):] = torch.as_tensor(items)
        return network.catalogue_scores(network.pool_history(history))[0].numpy()  # personas (1, K, dim)

    # --- per-user K ------------------------------------------------------------------------------------
    @torch.no_grad()
    def prune_personas(self) -> np.ndarray:
        """Drop, per user, personas that select none of the user's items nor top recommendations.

        Returns (n_users,) the number of personas each user keeps (at least one).
        """
        data, network = self.fitted_data, self.network_
        n = self.options.prune_candidates
        keep = torch.zeros_like(network.persona_mask)
        device = keep.device  # the network's device (personae.train.devices)
        for start in range(0, data.n_users, 256):
            users = torch.arange(start, min(start + 256, data.n_users), device=device)
            top = torch.topk(torch.as_tensor(self.score(users.cpu().numpy())), n, dim=1).indices.to(device)  # (B, n)
            winners = network.persona_weights(users, top).argmax(dim=2)  # (B, n)
            keep[users[:, None], winners] = True
        order, indptr = data.history_index  # each user's own items through the CSR-style index, no scan
        users = torch.as_tensor(np.repeat(np.arange(data.n_users), np.diff(indptr))).to(device)
        items = torch.as_tensor(data.items[order]).to(device)
        for start in range(0, len(users), 65536):
            u, i = users[start:start + 65536], items[start:start + 65536]
            owners = network.persona_weights(u, i[:, None])[:, 0].argmax(dim=1)  # (events,)
            keep[u, owners] = True
        network.persona_mask.copy_(keep)
        return self.personas_per_user()

    def personas_per_user(self) -> np.ndarray:
        return self.network_.persona_mask.sum(dim=1).cpu().numpy()

    # --- explanations ------------------------------------------------------------------------------------
    @torch.no_grad()
    def history_weights(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """The user's history (H,) oldest first, and the persona weights (H, K) of each history item."""
        history = self.fitted_data.user_history(user)
        weights = self.network_.persona_weights(torch.tensor([user]), torch.as_tensor(history)[None, :])[0]
        return history, weights.numpy()

    @torch.no_grad()
    def support_scores(self, user: int, history: np.ndarray, item_idx: np.ndarray, rank: int = 0) -> np.ndarray:
        """(C, H) how much each history item supports each candidate through the candidate's winning persona
        (``rank=1``: through its runner-up persona).

        With history-derived personas this is the exact linear share of the history item in that persona's
        score, pooling weight a_kh times <h_h, e_i>. With learned persona vectors the persona is not built
        from items, so support is the cosine between the history item and the candidate.
        """
        network = self.network_
        candidates = network.items(torch.as_tensor(item_idx))  # (C, dim)
        if not network.from_history:
            from personae.explain.attribution import cosine_support

            return cosine_support(candidates.numpy(), network.items(torch.as_tensor(history)).numpy())
        pooled, position = self._pooling(user)  # (K, L), (H,) slot of each history item in the padded row
        weights = network.persona_weights(torch.tensor([user]), torch.as_tensor(item_idx)[None, :])[0]  # (C, K)
        winners = torch.argsort(weights, dim=1, descending=True, stable=True)[:, min(rank, weights.shape[1] - 1)]
        h = network.history_items(torch.as_tensor(history))  # (H, dim)
        share = pooled[winners][:, position]  # (C, H) pooling weight of each item in the winning persona
        return (share * (candidates @ h.T)).numpy()

    def _pooling(self, user: int) -> tuple[torch.Tensor, np.ndarray]:
        """History variant: (K, L) pooling weights of the user's padded history row, and (H,) the slot of each
        item of ``user_history`` in that row (-1 when the item fell outside ``max_history``)."""
        row = self.network_.history[user][None]  # (1, L)
        clusters = None if self.network_.history_clusters is None else self.network_.history_clusters[user][None]
        pooled = self.network_.pooling_weights(row, clusters=clusters)[0][0]  # (K, L)
        n_history = len(self.fitted_data.user_history(user))
        length = row.shape[1]
        position = np.arange(n_history) - n_history + length  # newest item sits in the last slot
        pooled = torch.cat([pooled, torch.zeros(len(pooled), 1)], dim=1)  # slot -1 -> a zero column
        return pooled, np.where(position >= 0, position, length)

    @torch.no_grad()
    def explain(self, user_id: object, item_ids: list | np.ndarray) -> list[Explanation]:
        """Per item: attention over the personas, the winning persona, its lift label and supporting items."""
        from personae.explain.attribution import cosine_support, persona_explanations

        data = self.fitted_data
        user = data.user_index(user_id)
        items = data.item_index(item_ids)
        weights = self.network_.persona_weights(torch.tensor([user]), torch.as_tensor(items)[None, :])[0].numpy()
        history, history_weights = self.history_weights(user)
        if self.network_.from_history:  # the exact pooling share of each history item, from any persona's items
            support = self.support_scores(user, history, items) if len(history) else np.zeros((len(items), 0))
            return persona_explanations(data, user_id, items, weights, history, history_weights, support,
                                        winner_only=False)
        vectors = self.network_.items.weight.numpy()
        return persona_explanations(data, user_id, items, weights, history, history_weights,
                                    cosine_support(vectors[items], vectors[history]), winner_only=True)

    @torch.no_grad()
    def user_personas(self, user_id: object) -> PersonaMix:
        """K persona vectors; prior weight = mean attention over the user's own training items."""
        from personae.explain.attribution import attention_persona_mix

        user = self.fitted_data.user_index(user_id)
        vectors = self.network_.personas(torch.tensor([user]))[0].numpy()
        history, history_weights = self.history_weights(user)
        return attention_persona_mix(self.fitted_data, user_id, vectors, self.network_.persona_mask[user].numpy(),
                                     history, history_weights)

    @torch.no_grad()
    def collapse(self) -> float:
        """Mean pairwise cosine between each user's personas, over all users (1 = all personas identical)."""
        users = torch.arange(self.fitted_data.n_users)
        return float(persona_cosine(self.network_.personas(users)))
