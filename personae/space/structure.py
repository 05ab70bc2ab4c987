"""Structure, not noise: are a model's personas the same across training runs, and do they recover planted
tastes? Each figure comes with its null: randomly paired users, shuffled assignments, shuffled labels.

Works on any model whose ``user_personas`` gives persona vectors and whose ``history_weights(user)`` gives the
persona weights of each history item (ampcf). Item and persona vectors come from ``model.network`` under its
written contract (``PersonaNetwork``, personae.models.network).
"""

from __future__ import annotations

import numpy as np
import torch

from personae.space.seed_stability import adjusted_rand_index, match_personas, procrustes_rotation, silhouette


def _item_vectors(model) -> np.ndarray:
    return model.network.item_vectors().detach().numpy().astype(np.float64)


@torch.no_grad()
def _persona_vectors(model, users: np.ndarray) -> np.ndarray:
    """(n, K, dim) persona vectors of user indices, eval mode (no dropout)."""
    model.network.eval()
    return model.network.persona_vectors(torch.as_tensor(users)).numpy().astype(np.float64)


def _history_assignment(model, user: int) -> np.ndarray:
    """(H,) persona each history item of ``user`` is assigned to (argmax of its persona weights)."""
    history, weights = model.history_weights(user)
    return weights.argmax(axis=1) if len(history) else np.zeros(0, dtype=np.int64)


def seed_stability(model_a, model_b, users: np.ndarray, seed: int = 0) -> dict:
    """Personas of the same users in two runs.

    - ``matched_cosine``: run B's item space is rotated onto run A's (orthogonal Procrustes on the shared items),
      then each user's personas are matched one-to-one (Hungarian on cosine); mean matched cosine.
    - ``random_pair_cosine``: the same with each user of A paired with a random other user of B (the null).
    - ``assignment_ari``: mean over users of the ARI between the two runs' persona assignment of the user's
      history items (no alignment needed), over users for whom either run uses two personas or more;
      ``shuffled_ari``: the same against a shuffled assignment (the null).
    """
    rng = np.random.default_rng(seed)
    rotation = procrustes_rotation(_item_vectors(model_b), _item_vectors(model_a))
    a = _persona_vectors(model_a, users)
    b = _persona_vectors(model_b, users) @ rotation
    partner = rng.permutation(len(users))
    partner = np.where(partner == np.arange(len(users)), np.roll(partner, 1), partner)  # nobody is their own pair
    matched = np.array([match_personas(a[i], b[i])[1] for i in range(len(users))])
    random_pair = np.array([match_personas(a[i], b[partner[i]])[1] for i in range(len(users))])
    ari, shuffled = [], []
    for user in users:
        first, second = _history_assignment(model_a, int(user)), _history_assignment(model_b, int(user))
        if len(first) < 2 or (len(np.unique(first)) == 1 and len(np.unique(second)) == 1):
            continue  # both runs put every item in one persona: agreement by construction, no information
        ari.append(adjusted_rand_index(first, second))
        shuffled.append(adjusted_rand_index(first, rng.permutation(second)))
    return {"users": len(users), "matched_cosine": float(matched.mean()),
            "random_pair_cosine": float(random_pair.mean()), "assignment_ari": float(np.mean(ari)),
            "shuffled_ari": float(np.mean(shuffled)), "per_user_matched_cosine": matched,
            "per_user_random_pair_cosine": random_pair}


def planted_recovery(model, true_cluster: np.ndarray, users: np.ndarray, seed: int = 0) -> dict:
    """ARI between each history item's planted interest and its assigned persona, per user, averaged.

    ``true_cluster`` is (n_items,) the planted cluster of each item. Users with one planted interest score 1
    only when all their items go to one persona, and so does the null for them when the model gives them one
    persona; the multi-interest figures are the informative ones. The null shuffles the assignment within each
    user.
    """
    rng = np.random.default_rng(seed)
    data = model.fitted_data
    ari, null, multi = [], [], []
    for user in users:
        history = data.user_history(int(user))
        if len(history) < 2:
            continue
        truth, assigned = true_cluster[history], _history_assignment(model, int(user))
        ari.append(adjusted_rand_index(truth, assigned))
        null.append(adjusted_rand_index(truth, rng.permutation(assigned)))
        multi.append(len(np.unique(truth)) > 1)
    ari, null, multi = np.asarray(ari), np.asarray(null), np.asarray(multi)
    return {"users": len(ari), "ari": float(ari.mean()), "shuffled_ari": float(null.mean()),
            "ari_multi_interest_users": float(ari[multi].mean()) if multi.any() else None,
            "shuffled_ari_multi_interest_users": float(null[multi].mean()) if multi.any() else None,
            "ari_single_interest_users": float(ari[~multi].mean()) if (~multi).any() else None}


def persona_silhouette(vectors: np.ndarray, labels: list[str], seed: int = 0, sample: int = 2000) -> dict:
    """Silhouette (cosine) of persona vectors grouped by label, and the same with shuffled labels (the null).

    Groups with fewer than 5 members are left out (a silhouette needs groups to measure)."""
    labels = np.asarray(labels)
    names, counts = np.unique(labels, return_counts=True)
    keep = np.isin(labels, names[counts >= 5])
    vectors, labels = np.asarray(vectors)[keep], labels[keep]
    rng = np.random.default_rng(seed)
    if len(vectors) > sample:
        chosen = rng.choice(len(vectors), sample, replace=False)
        vectors, labels = vectors[chosen], labels[chosen]
    return {"vectors": len(vectors), "groups": len(np.unique(labels)),
            "silhouette": silhouette(vectors, labels), "shuffled_silhouette": silhouette(vectors, rng.permutation(labels))}
