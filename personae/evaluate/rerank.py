"""Top-k lists other than a model's plain ranking: MMR re-ranking, and persona-proportional lists.

Both are instruments for the question "do personas give diversity without a re-ranking step?":
MMR (Carbonell & Goldstein 1998) is the re-ranking step a single-vector model needs; the proportional list
shares the k slots among a multi-persona user's personas by their prior weights. :class:`FixedLists` hands any
such lists to the one evaluator, so NDCG is computed exactly as for plain rankings.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from personae.evaluate.metrics import genre_jaccard, top_k


def masked_scores(model, users: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
    """(B, n_items) model scores with each user's ``seen`` items set to -inf (as the evaluator masks them)."""
    scores = np.array(model.score(users), dtype=np.float64, copy=True)
    rows, cols = seen[users].nonzero()
    scores[rows, cols] = -np.inf
    return scores


def plain_lists(model, users: np.ndarray, seen: sp.csr_matrix, k: int = 10) -> np.ndarray:
    """(B, k) the model's own top-k unseen items: no re-ranking."""
    return top_k(masked_scores(model, users, seen), k)


# --- MMR ---------------------------------------------------------------------------------------------------
def mmr(relevance: np.ndarray, similarity: np.ndarray, k: int, lam: float) -> np.ndarray:
    """Greedy maximal marginal relevance: (B, C) relevance, (B, C, C) similarity -> (B, k) positions in C.

    Each step takes argmax over unpicked candidates of lam * rel(i) - (1 - lam) * max_{j picked} sim(i, j).
    Relevance is min-max scaled to [0, 1] per user so lam weighs like against like whatever the model's score
    scale; lam = 1 keeps the relevance order, lam = 0 ignores relevance after the first pick.
    Candidates with relevance -inf (masked) are taken only when nothing else is left.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    batch, n = relevance.shape
    k = min(k, n)
    finite = np.isfinite(relevance)
    low = np.where(finite, relevance, np.inf).min(axis=1, keepdims=True)
    high = np.where(finite, relevance, -np.inf).max(axis=1, keepdims=True)
    scaled = np.where(finite, (relevance - low) / np.maximum(high - low, 1e-12), 0.0)  # (B, C)
    rows = np.arange(batch)
    picked = np.zeros((batch, n), dtype=bool)
    redundancy = np.zeros((batch, n))  # max similarity to anything picked so far
    order = np.zeros((batch, k), dtype=np.int64)
    for step in range(k):
        value = lam * scaled - (1.0 - lam) * redundancy
        value = np.where(finite, value, -1e30)  # masked candidates only as a last resort
        value[picked] = -np.inf
        choice = value.argmax(axis=1)  # ties go to the lower position, i.e. the more relevant candidate
        order[:, step] = choice
        picked[rows, choice] = True
        redundancy = np.maximum(redundancy, similarity[rows, choice])
    return order


def mmr_lists(scores: np.ndarray, genres: np.ndarray, k: int = 10, lam: float = 0.5,
              candidates: int = 100) -> np.ndarray:
    """(B, n_items) masked scores -> (B, k) item indices: MMR over each user's top ``candidates`` items.

    Similarity is the Jaccard of genre sets (the complement of the distance ``ild@k`` averages).
    """
    pool = top_k(scores, max(candidates, k))  # (B, C)
    relevance = np.take_along_axis(scores, pool, axis=1)
    similarity = genre_jaccard(genres[pool])  # (B, C, C)
    return np.take_along_axis(pool, mmr(relevance, similarity, k, lam), axis=1)


# --- persona-proportional lists ----------------------------------------------------------------------------
def largest_remainder(weights: np.ndarray, slots: int) -> np.ndarray:
    """(K,) non-negative weights -> (K,) integer slots summing to ``slots`` (Hamilton's method).

    Each persona gets floor(slots * share); the slots left go to the largest remainders, ties to the lower index.
    """
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    share = weights / total if total > 0 else np.full(len(weights), 1.0 / len(weights))
    quota = share * slots
    seats = np.floor(quota).astype(np.int64)
    left = slots - int(seats.sum())
    by_remainder = np.argsort(-(quota - seats), kind="stable")
    seats[by_remainder[:left]] += 1
    return seats


def proportional_list(persona_scores: np.ndarray, weights: np.ndarray, rank_by: np.ndarray, k: int) -> np.ndarray:
    """One user's list whose slots are shared out among personas by weight.

    Args:
        persona_scores: (K, n_items) each persona's own score of every item, -inf for items never to list.
        weights: (K,) prior weight of each persona (0 for a pruned one).
        rank_by: (n_items,) the model's score, which orders the chosen items in the list.
    Personas fill their slots in order of weight, each with its best items not already listed; slots a persona
    cannot fill go to the model's best remaining items. Returns (k,).
    """
    seats = largest_remainder(weights, k)
    chosen: list[int] = []
    for persona in np.argsort(-np.asarray(weights), kind="stable"):
        wanted = len(chosen) + seats[persona]
        for item in np.argsort(-persona_scores[persona], kind="stable"):
            if len(chosen) >= wanted:
                break
            if item not in chosen and np.isfinite(persona_scores[persona, item]):
                chosen.append(int(item))
    for item in np.argsort(-rank_by, kind="stable")[:k + len(chosen)]:  # a persona ran out: model's best
        if len(chosen) >= k:
            break
        if item not in chosen:
            chosen.append(int(item))
    chosen_array = np.asarray(chosen, dtype=np.int64)
    return chosen_array[np.argsort(-rank_by[chosen_array], kind="stable")]


@torch.no_grad()
def proportional_lists(model, users: np.ndarray, seen: sp.csr_matrix, k: int = 10) -> np.ndarray:
    """(B, k) persona-proportional lists of a fitted multi-persona model (``ampcf``).

    A persona's own score of item i is <p_uk, e_i> + b_i, the score it would give alone; prior weights come
    from ``model.user_personas`` (mean attention over the user's training items).
    """
    network, data = model.network, model.fitted_data
    network.eval()
    scores = masked_scores(model, users, seen)  # (B, n_items)
    personas = network.persona_vectors(torch.as_tensor(users))  # (B, K, dim)
    own = (personas @ network.item_vectors().T + network.item_biases()).numpy().astype(np.float64)  # (B, K, n_items)
    lists = np.zeros((len(users), k), dtype=np.int64)
    for row, user in enumerate(users):
        mix = model.user_personas(data.user_ids[user])
        weights = np.zeros(personas.shape[1])
        weights[mix.persona_ids] = mix.weights
        own[row][:, ~np.isfinite(scores[row])] = -np.inf
        lists[row] = proportional_list(own[row], weights, scores[row], k)
    return lists


@torch.no_grad()
def winning_personas(model, users: np.ndarray, lists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, k) the persona of a multi-persona model that wins each listed item, and (B, K) its kept personas.

    Any model's lists can be read through one multi-persona model this way (the instrument of persona share).
    """
    network = model.network
    network.eval()
    weights = network.persona_weights(torch.as_tensor(users), torch.as_tensor(lists))  # (B, k, K)
    return weights.argmax(dim=2).numpy(), network.kept_personas(torch.as_tensor(users)).numpy()


class FixedLists:
    """A scorer that ranks given lists first, in their order, so the one evaluator scores any list builder.

    ``lists`` is (n_users, k) item indices; every other item scores 0, below the listed ones (k .. 1).
    Evaluate with ``ks=(k,)``: beyond rank k the order is by item index, not by any model.
    """

    def __init__(self, lists: np.ndarray, n_items: int) -> None:
        self.lists, self.n_items = lists, n_items

    def score(self, user_idx: np.ndarray, item_idx: np.ndarray | None = None) -> np.ndarray:
        user_idx = np.asarray(user_idx)
        k = self.lists.shape[1]
        scores = np.zeros((len(user_idx), self.n_items), dtype=np.float32)
        np.put_along_axis(scores, self.lists[user_idx], np.arange(k, 0, -1, dtype=np.float32)[None, :], axis=1)
        return scores if item_idx is None else scores[:, np.asarray(item_idx)]
