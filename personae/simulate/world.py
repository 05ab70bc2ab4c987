"""What a simulated user lives in: the item space of a trained model, and a population of persona mixes.

The *world* is the trained model's item vectors and biases (affinity of taste v for item i is <v, e_i> + b_i),
the catalogue's genres, popularity, the time each item first appeared and its mean rating from others (all from
the world model's training events). The model's network is read in one place, :func:`persona_network`.
A *population* holds, per simulated user, the session-level latent: K persona vectors with prior weights (what
``model.user_personas`` gives, computed for all users at once), the profile (age, gender, occupation where the
data has them), the user's mean rating, and the spread of affinities over the user's own history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd
import torch

from personae.data.interactions import Interactions
from personae.errors import DataError
from personae.models.base import Recommender
from personae.models.network import PersonaNetwork
from personae.models.torch_base import TorchRecommender
from personae.simulate.features import Reference


@dataclass(frozen=True)
class World:
    """The item side: vectors, biases, genres, popularity (all indexed by the model's item index)."""

    items: np.ndarray  # (n_items, dim) item vectors e_i
    bias: np.ndarray  # (n_items,) item bias b_i (zeros for models without one)
    genres: np.ndarray  # (n_items, G) 0/1 genre matrix
    genre_names: list[str]
    popularity: np.ndarray  # (n_items,) distinct users who had the item in the training data
    first_seen: np.ndarray  # (n_items,) time of the item's first training event (inf: never)
    item_rating: np.ndarray  # (n_items,) shrunk mean training rating

    @property
    def n_items(self) -> int:
        return len(self.items)

    @cached_property
    def unit_items(self) -> np.ndarray:
        """(n_items, dim) item vectors scaled to unit length (cosine similarity between items)."""
        return self.items / np.maximum(np.linalg.norm(self.items, axis=1, keepdims=True), 1e-12)

    @cached_property
    def log_popularity_z(self) -> np.ndarray:
        """(n_items,) log popularity standardised over the catalogue."""
        x = np.log1p(self.popularity)
        return (x - x.mean()) / max(x.std(), 1e-12)

    @cached_property
    def centroids(self) -> tuple[np.ndarray, np.ndarray]:
        """(G, dim) mean item vector and (G,) mean bias of each genre: the items a genre probe asks about."""
        counts = np.maximum(self.genres.sum(axis=0), 1.0)  # (G,)
        return (self.genres.T @ self.items) / counts[:, None], (self.genres.T @ self.bias) / counts


@dataclass(frozen=True)
class Population:
    """Session-level latents of U simulated users (K personas each, unused slots have weight 0)."""

    personas: np.ndarray  # (U, K, dim)
    weights: np.ndarray  # (U, K) prior weights, each row sums to 1
    proxy: np.ndarray  # (U,) external user id a recommender serves this simulated user as
    user: np.ndarray  # (U,) that user's index in the data
    rating_mean: np.ndarray  # (U,) mean of the real user's ratings (1-5)
    rating_std: np.ndarray  # (U,) their spread
    affinity_mean: np.ndarray  # (U,) mean affinity of the user's own history items under their best persona
    affinity_std: np.ndarray  # (U,) its spread: ratings are affinities rescaled onto the user's rating scale
    activity: np.ndarray  # (U,) the real user's number of training events (heavy users leave later)
    profile: pd.DataFrame | None = None  # (U, ...) age, gender, occupation where known

    def __len__(self) -> int:
        return len(self.weights)

    def take(self, index: np.ndarray) -> Population:
        """The users at ``index`` (repeats allowed: a population of N users drawn from a smaller one)."""
        index = np.asarray(index)
        return replace(self, personas=self.personas[index], weights=self.weights[index], proxy=self.proxy[index],
                       user=self.user[index],
                       rating_mean=self.rating_mean[index], rating_std=self.rating_std[index],
                       affinity_mean=self.affinity_mean[index], affinity_std=self.affinity_std[index],
                       activity=self.activity[index],
                       profile=None if self.profile is None else self.profile.iloc[index].reset_index(drop=True))

    def mix_vectors(self) -> np.ndarray:
        """(U, dim) the weighted mean persona: the user's taste as a whole."""
        return np.einsum("uk,ukd->ud", self.weights, self.personas)


def persona_network(model: Recommender) -> PersonaNetwork | None:
    """The model's persona network under the written contract (personae.models.network), or None for models
    without one (pop, itemknn, ease, din, mind) or not fitted yet: the one place the simulator reads a network."""
    if not isinstance(model, TorchRecommender):
        return None
    try:
        network = model.network
    except RuntimeError:  # not fitted yet: the study retrains it first, the kind decides by name meanwhile
        return None
    return network if isinstance(network, PersonaNetwork) else None


def has_item_vectors(model: Recommender) -> bool:
    return persona_network(model) is not None


def is_multi_persona(model: Recommender) -> bool:
    network = persona_network(model)
    return network is not None and network.n_personas > 1


def world_from_model(model: Recommender, reference: Reference, genre_names: list[str]) -> World:
    """Item vectors and biases from a torch model (``items``, ``item_bias`` if any); genres, popularity, first
    appearance and item ratings from ``reference`` (built on the model's training events)."""
    network = persona_network(model)
    if not has_item_vectors(model):
        raise DataError(f"model '{model.name}' has no item vectors; the simulator needs one that has "
                        "(ampcf, mf, bpr)")
    vectors = network.item_vectors().detach().cpu().numpy().astype(np.float64)
    bias = network.item_biases().detach().cpu().numpy().astype(np.float64)
    return World(vectors, bias, reference.genres, list(genre_names), reference.popularity, reference.first_seen,
                 reference.item_rating)


def population_from_model(model: Recommender, data: Interactions, world: World,
                          user_ids: list[str] | None = None) -> Population:
    """Persona mixes from the model, profile and rating scale from the real ``data`` (all users by default)."""
    fitted = model.fitted_data
    user_ids = [str(u) for u in (fitted.user_ids if user_ids is None else user_ids)]
    rows = np.asarray([fitted.user_index(u) for u in user_ids], dtype=np.int64)
    personas, weights = persona_arrays(model, rows)
    rating_mean, rating_std = _rating_scale(data, user_ids)
    affinity_mean, affinity_std = np.zeros(len(rows)), np.ones(len(rows))
    for row, u in enumerate(rows):
        history = fitted.user_history(u)
        if len(history):
            best = (np.einsum("kd,hd->hk", personas[row], world.items[history]) + world.bias[history, None])
            best = np.where(weights[row] > 0, best, -np.inf).max(axis=1)  # (H,) under the best persona
            affinity_mean[row], affinity_std[row] = best.mean(), max(best.std(), 1e-6)
    profile = None
    if data.user_info is not None:
        columns = [c for c in ("age", "gender", "occupation") if c in data.user_info]
        if columns:
            profile = data.user_info.iloc[[data.user_index(u) for u in user_ids]][columns].reset_index(drop=True)
    activity = np.bincount(fitted.users, minlength=fitted.n_users)[rows].astype(np.float64)
    return Population(personas, weights, np.asarray(user_ids, dtype=object),
                      np.asarray([data.user_index(u) for u in user_ids], dtype=np.int64), rating_mean, rating_std,
                      affinity_mean, affinity_std, activity, profile)


@torch.no_grad()
def persona_arrays(model: Recommender, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(U, K, dim) persona vectors and (U, K) prior weights of user indices ``rows``.

    Multi-persona networks answer for all users at once, exactly as ``user_personas`` does one user at a time
    (prior = mean attention over the user's training items, pruned personas weight 0). A single-vector network
    gives its user vector as one persona; any other model goes through ``user_personas`` user by user.
    """
    network = persona_network(model)
    users = torch.as_tensor(rows)
    if network is not None:
        network.eval()
        vectors = network.persona_vectors(users).cpu().numpy().astype(np.float64)  # (U, K, dim)
        data = model.fitted_data
        position = np.full(data.n_users, -1)
        position[rows] = np.arange(len(rows))
        keep = position[data.users] >= 0
        owner, items = position[data.users[keep]], data.items[keep]
        total = np.zeros((len(rows), vectors.shape[1]))
        for s in range(0, len(owner), 65536):
            u, i = owner[s:s + 65536], items[s:s + 65536]
            w = network.persona_weights(users[u], torch.as_tensor(i)[:, None])[:, 0].cpu().numpy()  # (events, K)
            np.add.at(total, u, w)
        mask = network.kept_personas(users).cpu().numpy()
        total = np.where(total.sum(axis=1, keepdims=True) > 0, total, 1.0) * mask
        return vectors, total / total.sum(axis=1, keepdims=True)
    mixes = [model.user_personas(model.fitted_data.user_ids[r]) for r in rows]
    if any(m.vectors.shape[1] == 0 for m in mixes):
        raise DataError(f"model '{model.name}' has no user vectors to simulate from")
    k = max(len(m.weights) for m in mixes)
    vectors, weights = np.zeros((len(rows), k, mixes[0].vectors.shape[1])), np.zeros((len(rows), k))
    for r, mix in enumerate(mixes):
        vectors[r, :len(mix.weights)], weights[r, :len(mix.weights)] = mix.vectors, mix.weights / mix.weights.sum()
    return vectors, weights


def _rating_scale(data: Interactions, user_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(U,) mean and spread of each user's real ratings; implicit data gets a neutral 3.5 +- 1."""
    if data.ratings is None:
        return np.full(len(user_ids), 3.5), np.ones(len(user_ids))
    rows = np.asarray([data.user_index(u) for u in user_ids])
    count = np.bincount(data.users, minlength=data.n_users).astype(np.float64)
    total = np.bincount(data.users, weights=data.ratings, minlength=data.n_users)
    square = np.bincount(data.users, weights=data.ratings.astype(np.float64) ** 2, minlength=data.n_users)
    mean = total / np.maximum(count, 1)
    std = np.sqrt(np.maximum(square / np.maximum(count, 1) - mean ** 2, 0.0))
    return mean[rows], np.maximum(std[rows], 0.5)
