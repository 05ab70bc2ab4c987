"""Faithfulness of explanations: remove what the explanation names, and see whether the recommendation falls.

The protocol follows LXR (Barkan et al., WWW 2024). For each recommended item an explainer orders the user's
*features* by importance: the user's personas (learned persona vectors), or the user's history items
(history-derived personas, or a single vector folded in from the history). Then, re-scoring the whole catalogue:

- explained: remove the explanation (the winning persona, or the 3 supporting history items); the item's new rank;
- control: remove as many features chosen at random among the others (a random other persona, random items);
- other: remove the explanation of the runner-up persona (history-derived personas only);
- POS@k: share of items still in the top k after the explanation is removed (lower = more faithful);
- NEG@k: share still in the top k after removing the *least* important features (higher = more faithful);
- DEL / INS: share in the top k after deleting the top-m features, or keeping only them, averaged over m.

The headline is the share of recommendations for which removing the explanation pushes the item further down
than the control does (ties count one half: 0.5 means "no better than random"), with a 95% t interval over
users (each user's cases averaged first: a user's cases move together). Two explainers of the same
recommendations are compared paired, user by user (:func:`compare_explainers`), never by overlapping intervals.
A scorer is a small object that re-scores the catalogue for one user with some features removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from personae.stats import Interval, compare_paired, mean_interval
from personae.threads import torch_threads


class PersonaScorer:
    """Learned persona vectors (ampcf): a feature is a persona; removing it masks it out of the attention."""

    def __init__(self, model, user: int) -> None:
        self.network = network = model.network
        self.user = user
        with torch.no_grad():
            users = torch.tensor([user])
            self.personas = network.persona_vectors(users)[0]  # (K, dim); eval mode: no dropout
            self.keys = network.keys(users, self.personas[None])[0]  # (K, dim)
            self.kept = network.kept_personas(users)[0].clone()  # (K,) pruned personas stay out
        self.features = np.flatnonzero(self.kept.numpy())

    @torch.no_grad()
    def scores(self, removals: list[np.ndarray]) -> np.ndarray:
        """(R, n_items) catalogue scores, one row per set of removed personas."""
        mask = self.kept.repeat(len(removals), 1)  # (R, K)
        for r, removed in enumerate(removals):
            mask[r, torch.as_tensor(np.array(removed, dtype=np.int64))] = False
        rows = len(removals)
        return self.network.catalogue_scores(self.personas.expand(rows, -1, -1), self.keys.expand(rows, -1, -1),
                                             mask).numpy()

    @torch.no_grad()
    def importance(self, item_idx: np.ndarray) -> np.ndarray:
        """(C, F) persona weights of each candidate over the kept personas (the one attention formula)."""
        weights = self.network.persona_weights(torch.tensor([self.user]), torch.as_tensor(item_idx)[None])[0]
        return weights[:, torch.as_tensor(self.features)].numpy()  # (C, F): pruned personas weigh 0


class HistoryScorer:
    """History-derived personas (ampcf, persona_source="history"): a feature is a history item; removing it
    re-pools the personas without it. Importance = the item's exact share of the winning persona's score."""

    def __init__(self, model, user: int) -> None:
        self.model, self.user = model, user
        self.network = model.network
        self.history = model.fitted_data.user_history(user)
        length = self.network.history.shape[1]
        slot = np.arange(len(self.history)) - len(self.history) + length
        self.features = np.flatnonzero(slot >= 0)  # history positions that are in the pooled window
        self.slot = slot

    @torch.no_grad()
    def scores(self, removals: list[np.ndarray]) -> np.ndarray:
        network = self.network
        rows = network.history[self.user].repeat(len(removals), 1)  # (R, L)
        for r, removed in enumerate(removals):
            rows[r, torch.as_tensor(self.slot[np.array(removed, dtype=np.int64)])] = -1
        return network.catalogue_scores(network.pool_history(rows)).numpy()  # personas (R, K, dim)

    def importance(self, item_idx: np.ndarray) -> np.ndarray:
        return self.model.support_scores(self.user, self.history, item_idx)[:, self.features]

    def runner_up_importance(self, item_idx: np.ndarray) -> np.ndarray:
        """(C, F) support through each candidate's second-best persona (the "other persona" control)."""
        return self.model.support_scores(self.user, self.history, item_idx, rank=1)[:, self.features]


class FoldInScorer:
    """A single user vector (bpr, mf) re-fitted from the history without the removed items.

    The vector is folded in by ridge regression with implicit negatives (as in implicit ALS):
    u = (Q_H^T Q_H + alpha Q^T Q + lam I)^-1 Q_H^T 1, with the model's item vectors Q fixed. Importance is the
    explainer's: ``"recent"`` (bpr's default explanation: newest items first), ``"similar"`` (cosine to the
    candidate), or ``"random"`` (the null explainer: any items at all).
    """

    def __init__(self, model, user: int, explainer: str = "recent", alpha: float = 0.05, lam: float = 1.0) -> None:
        if explainer not in ("recent", "similar", "random"):
            raise ValueError(f"explainer must be 'recent', 'similar' or 'random', got {explainer!r}")
        network = model.network
        self.items = network.item_vectors().detach().numpy().astype(np.float64)  # (n_items, dim)
        self.bias = network.item_biases().detach().numpy()
        self.history = model.fitted_data.user_history(user)
        self.features = np.arange(len(self.history))
        dim = self.items.shape[1]
        self.base = alpha * self.items.T @ self.items + lam * np.eye(dim)  # (dim, dim)
        self.explainer = explainer
        self.rng = np.random.default_rng(user)

    def scores(self, removals: list[np.ndarray]) -> np.ndarray:
        rows = []
        for removed in removals:
            keep = np.setdiff1d(self.features, removed)
            q = self.items[self.history[keep]]  # (H', dim)
            user = np.linalg.solve(self.base + q.T @ q, q.sum(axis=0))
            rows.append(self.items @ user + self.bias)
        return np.asarray(rows)

    def importance(self, item_idx: np.ndarray) -> np.ndarray:
        if self.explainer == "recent":
            return np.broadcast_to(np.arange(len(self.history), dtype=float), (len(item_idx), len(self.history)))
        if self.explainer == "random":
            return self.rng.random((len(item_idx), len(self.history)))
        unit = self.items / np.maximum(np.linalg.norm(self.items, axis=1, keepdims=True), 1e-12)
        return unit[item_idx] @ unit[self.history].T


@dataclass
class Faithfulness:
    """Per recommended item (one row per case): ranks after each removal, and the curves."""

    users: np.ndarray  # (n,) user index of each case
    rank_before: np.ndarray  # (n,) rank among unseen items with nothing removed (0 = top)
    rank_explained: np.ndarray
    rank_control: np.ndarray
    rank_least: np.ndarray  # after removing the least important features (NEG@k)
    rank_other: np.ndarray | None  # after removing the runner-up persona's explanation
    deletion: np.ndarray  # (n, M) in top k after deleting the top m features, m = 1..M
    insertion: np.ndarray  # (n, M) in top k keeping only the top m features
    k: int
    meta: dict = field(default_factory=dict)
    items: np.ndarray | None = None  # (n,) the recommended item of each case (pairs explainers case by case)

    def summary(self, seed: int = 0) -> dict:
        """Headline share with its interval over users, POS@k / NEG@k for explanation and control, DEL / INS.

        ``seed`` is kept for older callers; the t interval from personae.stats draws nothing at random."""
        share = share_interval(self.users, beats(self.rank_explained, self.rank_control))
        out = {"cases": len(self.users), "users": len(np.unique(self.users)), "k": self.k,
               "share_beats_control": share.estimate, "share_ci": [share.low, share.high],
               "share_p_value": share.p_value, "share_method": share.method,
               "pos@k_explained": float(np.mean(self.rank_explained < self.k)),
               "pos@k_control": float(np.mean(self.rank_control < self.k)),
               "neg@k": float(np.mean(self.rank_least < self.k)),
               "median_rank_before": float(np.median(self.rank_before)),
               "median_rank_explained": float(np.median(self.rank_explained)),
               "median_rank_control": float(np.median(self.rank_control)),
               "del": float(self.deletion.mean()) if self.deletion.size else None,
               "ins": float(self.insertion.mean()) if self.insertion.size else None, **self.meta}
        if self.rank_other is not None:
            share_other = share_interval(self.users, beats(self.rank_explained, self.rank_other))
            out["share_beats_other_persona"] = share_other.estimate
            out["share_other_ci"] = [share_other.low, share_other.high]
            out["share_other_p_value"] = share_other.p_value
            out["pos@k_other"] = float(np.mean(self.rank_other < self.k))
        return out

    def per_user_share(self) -> tuple[np.ndarray, np.ndarray]:
        """(users, each user's share of cases where the explanation beats the control)."""
        return _per_user_mean(self.users, beats(self.rank_explained, self.rank_control))


def beats(rank_explained: np.ndarray, rank_control: np.ndarray) -> np.ndarray:
    """Per case: 1 when removing the explanation sends the item further down than the control, 1/2 on a tie."""
    return (rank_explained > rank_control) + 0.5 * (rank_explained == rank_control)


def _per_user_mean(users: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, group = np.unique(users, return_inverse=True)
    return labels, np.bincount(group, weights=values) / np.bincount(group)


def share_interval(users: np.ndarray, values: np.ndarray) -> Interval:
    """Mean of per-user shares with its t interval over users; the p-value tests the share against 1/2."""
    _, per_user = _per_user_mean(users, values)
    vs_half = mean_interval(per_user - 0.5, unit="users")
    return Interval(vs_half.estimate + 0.5, vs_half.low + 0.5, vs_half.high + 0.5, vs_half.p_value,
                    vs_half.n_units, 1, "users", vs_half.method + " (share - 1/2)", vs_half.note, reference=0.5)


def compare_explainers(first: Faithfulness, second: Faithfulness) -> Interval:
    """Share of ``first`` minus share of ``second``, paired user by user over the same recommendations.

    Both must come from the same model, users and k (the same cases in the same order), e.g. two fold-in
    explainers of one bpr model; otherwise the difference would mix explainers with recommendations."""
    same_cases = (np.array_equal(first.users, second.users) and first.k == second.k
                  and (first.items is None or second.items is None or np.array_equal(first.items, second.items)))
    if not same_cases:
        raise ValueError("compare_explainers: the two measurements are not over the same recommendations")
    _, a = first.per_user_share()
    _, b = second.per_user_share()
    return compare_paired(a, b, unit="users", seeded=False)


def unseen_rank(scores: np.ndarray, item: int, seen: np.ndarray) -> np.ndarray:
    """(R,) rank of ``item`` among items not in ``seen`` for each row of (R, n_items) scores; ties go to the
    lower index, as in the evaluator."""
    target = scores[:, item][:, None]
    index = np.arange(scores.shape[1])
    ahead = (scores > target) | ((scores == target) & (index < item))
    ahead[:, seen] = False
    return ahead.sum(axis=1)


def measure(model, scorer_for, users: np.ndarray, k: int = 10, n_explain: int = 1, steps: int = 0,
            seed: int = 0, other: bool = False, meta: dict | None = None) -> Faithfulness:
    """Run the deletion protocol on each user's top-k recommendations.

    Args:
        scorer_for: ``user index -> scorer`` (PersonaScorer, HistoryScorer or FoldInScorer).
        n_explain: features named by an explanation (1 persona, or 3 history items).
        steps: length of the DEL / INS curves (0: none).
        other: also remove the runner-up persona's explanation (HistoryScorer only).
    """
    with torch_threads(1):  # many small products: thread hand-offs cost more than they save
        return _measure(model, scorer_for, users, k, n_explain, steps, seed, other, meta)


def _measure(model, scorer_for, users: np.ndarray, k: int, n_explain: int, steps: int, seed: int, other: bool,
             meta: dict | None) -> Faithfulness:
    rng = np.random.default_rng(seed)
    data = model.fitted_data
    columns: dict[str, list] = {name: [] for name in ("users", "items", "before", "explained", "control", "least",
                                                        "other", "deletion", "insertion")}
    for user in users:
        scorer = scorer_for(int(user))
        features = scorer.features
        if len(features) < 2 * n_explain + 1:
            continue  # no room for a control of the same size
        seen = data.csr[int(user)].indices
        base = scorer.scores([np.zeros(0, dtype=np.int64)])[0]
        ranked = np.lexsort((np.arange(len(base)), -np.where(np.isin(np.arange(len(base)), seen), -np.inf, base)))
        items = ranked[:k]
        importance = scorer.importance(items)  # (k, F)
        runner_up = scorer.runner_up_importance(items) if other else None
        curve = min(steps, len(features) - 1)
        removals, owners = [], []  # every removal of every case, scored in one batch per user
        for c in range(len(items)):
            order = features[np.lexsort((-np.arange(len(features)), -importance[c]))]  # most important first
            named = order[:n_explain]
            case = [named, rng.choice(order[n_explain:], size=n_explain, replace=False), order[::-1][:n_explain]]
            if other:
                case.append(features[np.lexsort((-np.arange(len(features)), -runner_up[c]))][:n_explain])
            case += [order[:m] for m in range(1, curve + 1)]  # delete the top m
            case += [order[m:] for m in range(1, curve + 1)]  # keep only the top m
            removals += case
            owners += [c] * len(case)
        scores = scorer.scores(removals)  # (R, n_items)
        owners = np.asarray(owners)
        for c, item in enumerate(items):
            ranks = unseen_rank(scores[owners == c], item, seen)
            columns["users"].append(user)
            columns["items"].append(item)
            columns["before"].append(c)
            columns["explained"].append(ranks[0])
            columns["control"].append(ranks[1])
            columns["least"].append(ranks[2])
            at = 3
            if other:
                columns["other"].append(ranks[3])
                at = 4
            columns["deletion"].append(ranks[at:at + curve] < k)
            columns["insertion"].append(ranks[at + curve:at + 2 * curve] < k)
    curve_width = min((len(d) for d in columns["deletion"]), default=0)
    return Faithfulness(
        users=np.asarray(columns["users"]), rank_before=np.asarray(columns["before"]),
        rank_explained=np.asarray(columns["explained"]), rank_control=np.asarray(columns["control"]),
        rank_least=np.asarray(columns["least"]), rank_other=np.asarray(columns["other"]) if other else None,
        deletion=np.asarray([d[:curve_width] for d in columns["deletion"]], dtype=float),
        insertion=np.asarray([d[:curve_width] for d in columns["insertion"]], dtype=float), k=k, meta=meta or {},
        items=np.asarray(columns["items"]))


def persona_faithfulness(model, users: np.ndarray, k: int = 10, seed: int = 0) -> Faithfulness:
    """Learned personas: mask the winning persona vs a random other persona."""
    return measure(model, lambda u: PersonaScorer(model, u), users, k, n_explain=1, steps=3, seed=seed,
                   meta={"explanation": "winning persona", "control": "random other persona"})


def history_faithfulness(model, users: np.ndarray, k: int = 10, seed: int = 0, n_items: int = 3) -> Faithfulness:
    """History-derived personas: remove the supporting items vs random items vs the runner-up's items."""
    return measure(model, lambda u: HistoryScorer(model, u), users, k, n_explain=n_items, steps=5, seed=seed,
                   other=True, meta={"explanation": f"{n_items} supporting history items",
                                     "control": f"{n_items} random other history items"})


def fold_in_faithfulness(model, users: np.ndarray, explainer: str = "recent", k: int = 10, seed: int = 0,
                         n_items: int = 3) -> Faithfulness:
    """A single-vector model's explanation (its newest items, or its most similar items) under fold-in."""
    return measure(model, lambda u: FoldInScorer(model, u, explainer), users, k, n_explain=n_items, steps=5,
                   seed=seed, meta={"explanation": f"{n_items} {explainer} history items (fold-in)",
                                    "control": f"{n_items} random other history items"})
