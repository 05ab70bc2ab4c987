"""Explanations and persona mixes built from what a model knows: the persona weights of each candidate, which
persona each history item belongs to, and how strongly each history item supports a candidate.

Models compute those arrays (they know their own network); this module turns them into :class:`Explanation`
and :class:`PersonaMix` objects the same way for every model, with lift labels and titles.
"""

from __future__ import annotations

import numpy as np

from personae.data.interactions import Interactions
from personae.explain.labels import lift_label
from personae.results import Explanation, PersonaMix

SUPPORTING = 3  # history items named per explanation


def top_supporting(score: np.ndarray, eligible: np.ndarray | None = None, n: int = SUPPORTING) -> np.ndarray:
    """Positions of the ``n`` highest ``score`` values among ``eligible`` ones (all when none is eligible);
    ties go to the later (more recent) history position."""
    candidates = np.flatnonzero(eligible) if eligible is not None and eligible.any() else np.arange(len(score))
    order = np.lexsort((-candidates, -score[candidates]))
    return candidates[order[:n]]


def persona_labels(data: Interactions, history: np.ndarray, owner: np.ndarray, persona_ids: list[int]) -> list[str]:
    """Lift label of each persona from the history items assigned to it."""
    return [lift_label(data, history[owner == k]) for k in persona_ids]


def build_explanations(data: Interactions, user_id: object, item_idx: np.ndarray, weights: np.ndarray,
                       labels: list[str], history: np.ndarray, support: np.ndarray,
                       eligible: np.ndarray | None = None) -> list[Explanation]:
    """One explanation per candidate.

    Args:
        item_idx: (C,) candidate item indices.
        weights: (C, K) persona weights of each candidate; the winner is the argmax.
        labels: (K,) label of each persona.
        history: (H,) the user's history item indices, oldest first.
        support: (C, H) how strongly each history item supports each candidate through its winning persona.
        eligible: (C, H) optional mask of history items that may be named (e.g. those of the winning persona).
    """
    explanations = []
    for c, item in enumerate(item_idx):
        persona = int(np.argmax(weights[c]))
        chosen = history[top_supporting(support[c], None if eligible is None else eligible[c])] if len(history) else []
        explanations.append(Explanation(
            str(user_id), str(data.item_ids[item]), persona, [float(w) for w in weights[c]], labels[persona],
            [str(data.item_ids[i]) for i in chosen], data.item_titles(chosen)))
    return explanations


def cosine_support(candidates: np.ndarray, history: np.ndarray) -> np.ndarray:
    """(C, dim) candidate vectors, (H, dim) history item vectors -> (C, H) cosine: how much each history item
    supports each candidate when personas are learned vectors, not built from items."""
    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    return unit(np.asarray(candidates)) @ unit(np.asarray(history)).T


def persona_explanations(data: Interactions, user_id: object, item_idx: np.ndarray, weights: np.ndarray,
                         history: np.ndarray, history_weights: np.ndarray, support: np.ndarray,
                         winner_only: bool = True, labels: list[str] | None = None) -> list[Explanation]:
    """The explanation rule of attention over personas, shared by ``AMPCF.explain`` and the service.

    Each history item belongs to the persona its own attention picks (argmax of ``history_weights`` (H, K));
    personas are labelled by lift over their items; a candidate's persona is the argmax of ``weights`` (C, K);
    its supporting items are the history items with the highest ``support`` (C, H), taken among the winning
    persona's own items when ``winner_only`` (learned personas; history-derived personas pass their exact
    pooling shares instead, which already follow the persona). ``labels`` (K,) may be given when cached.
    """
    owner = history_weights.argmax(axis=1) if len(history) else np.zeros(0, dtype=np.int64)
    if labels is None:
        labels = persona_labels(data, history, owner, list(range(weights.shape[1])))
    eligible = owner[None, :] == weights.argmax(axis=1)[:, None] if winner_only else None  # (C, H)
    return build_explanations(data, user_id, item_idx, weights, labels, history, support, eligible)


def attention_persona_mix(data: Interactions, user_id: object, vectors: np.ndarray, kept: np.ndarray,
                          history: np.ndarray, history_weights: np.ndarray) -> PersonaMix:
    """The persona rule of attention over personas, shared by ``AMPCF.user_personas`` and the service: the
    kept personas (``kept`` (K,) bool) of ``vectors`` (K, dim), each weighted by the mean attention of the
    user's own items (``history_weights`` (H, K); uniform without history), each history item assigned to the
    persona its attention picks."""
    k = len(vectors)
    prior = history_weights.mean(axis=0) if len(history) else np.full(k, 1 / k)
    kept_ids = np.flatnonzero(kept)
    prior = prior[kept_ids] / max(prior[kept_ids].sum(), 1e-12)
    owner = history_weights.argmax(axis=1) if len(history) else np.zeros(0, dtype=np.int64)
    return persona_mix(data, user_id, vectors[kept_ids], prior, history, owner, support_score=history_weights,
                       persona_ids=kept_ids.tolist())


def single_persona_explanations(data: Interactions, user_id: object, history: np.ndarray,
                                item_ids: list | np.ndarray) -> list[Explanation]:
    """The single-vector default: one persona labelled by the whole history; support = the 3 newest items."""
    item_idx = data.item_index(item_ids)
    recency = np.broadcast_to(np.arange(len(history), dtype=np.float64), (len(item_idx), len(history)))
    return build_explanations(data, user_id, item_idx, np.ones((len(item_idx), 1)), [lift_label(data, history)],
                              history, recency)


def persona_mix(data: Interactions, user_id: object, vectors: np.ndarray, weights: np.ndarray,
                history: np.ndarray, owner: np.ndarray, support_score: np.ndarray | None = None,
                persona_ids: list[int] | None = None) -> PersonaMix:
    """A PersonaMix with lift labels, up to 3 supporting items per persona and the history's assignment.

    Args:
        vectors, weights: (K, dim) and (K,) of the personas kept (``persona_ids`` name their model indices).
        history, owner: (H,) history items oldest first and the persona id each is assigned to.
        support_score: (H, K_all) how typical each history item is of each persona (default: recency).
    """
    persona_ids = list(range(len(weights))) if persona_ids is None else [int(k) for k in persona_ids]
    if support_score is None:
        support_score = np.broadcast_to(np.arange(len(history), dtype=np.float64)[:, None],
                                        (len(history), max(persona_ids, default=0) + 1))
    support, support_titles = [], []
    for k in persona_ids:
        mine = owner == k
        chosen = history[top_supporting(support_score[:, min(k, support_score.shape[1] - 1)], mine)] if mine.any() else []
        support.append([str(data.item_ids[i]) for i in chosen])
        support_titles.append(data.item_titles(chosen))
    return PersonaMix(str(user_id), np.asarray(vectors, dtype=np.float32), np.asarray(weights, dtype=np.float32),
                      persona_labels(data, history, owner, persona_ids), persona_ids, support, support_titles,
                      [str(data.item_ids[i]) for i in history], data.item_titles(history),
                      [int(o) for o in owner])


def explained_recommendations(model, user_ids: list, k: int = 10) -> list[dict]:
    """Top-k lists with each item's explanation: ``[{"user", "items": [{"item", "title", "score", "persona",
    "persona_label", "persona_weights", "supporting_items", "supporting_titles"}]}]`` (JSON-ready)."""
    payload = model.recommend(user_ids, k=k).to_dict()
    for entry in payload:
        explanations = model.explain(entry["user"], [i["item"] for i in entry["items"]])
        for item, why in zip(entry["items"], explanations):
            item.update(persona=why.persona, persona_label=why.label, persona_weights=why.persona_weights,
                        supporting_items=why.supporting_items, supporting_titles=why.supporting_titles)
    return payload
