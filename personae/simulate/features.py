"""What a skeptic looks at to tell a simulated session from a real one.

All reference quantities (popularity, rare items, item-to-item transitions, when an item first appeared, each
user's past genres, item mean ratings) come from the world's training events, never from the sessions judged.
Per session: genre shares; mean and spread of log popularity; share of rare items (under ``RARE_USERS`` users);
share of new releases (first seen under ``NEW_DAYS`` days before the event); mean log-likelihood per transition
under other users' consecutive events; mean, spread, slope over position, five-star and low (<= 2) shares of
ratings; the items' mean rating from others; fit of the picks' genres to the user's past genres; genre overlap of
consecutive picks; number of events; mean log gap between events. Undefined values (a slope over one rating)
are NaN, which the gradient-boosted discriminator handles as missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from personae.data.interactions import Interactions
from personae.simulate.holdout import SESSION_GAP, SessionLog

RARE_USERS = 10
NEW_DAYS = 30.0
DAY = 86400.0


@dataclass(frozen=True)
class Reference:
    """Per-item and per-user facts from the training events that the features compare a session against."""

    genres: np.ndarray  # (n_items, G) 0/1
    popularity: np.ndarray  # (n_items,) distinct training users
    first_seen: np.ndarray  # (n_items,) time of the item's first training event (inf if none)
    item_rating: np.ndarray  # (n_items,) shrunk mean training rating
    history_genres: np.ndarray  # (n_users, G) genre distribution of each user's training events
    transitions: sp.csr_matrix  # (n_items, n_items) counts of consecutive events in training sessions

    @property
    def n_items(self) -> int:
        return len(self.popularity)

    def transition_loglik(self, a: np.ndarray, b: np.ndarray, smoothing: float = 1.0) -> np.ndarray:
        """log P(b | a) for item pairs: transition counts smoothed toward popularity (nats)."""
        counts = np.asarray(self.transitions[a, b]).ravel()
        row = np.asarray(self.transitions.sum(axis=1)).ravel()[a]
        prior = (self.popularity[b] + 1.0) / (self.popularity.sum() + self.n_items)
        return np.log((counts + smoothing * self.n_items * prior) / (row + smoothing * self.n_items))


def build_reference(train: Interactions, genres: np.ndarray, shrink: float = 5.0) -> Reference:
    """The reference facts from the world's training events."""
    first_seen = np.full(train.n_items, np.inf)
    np.minimum.at(first_seen, train.items, train.timestamps)
    ratings = train.ratings if train.ratings is not None else np.full(len(train), 3.5)
    counts = np.bincount(train.items, minlength=train.n_items)
    mean = float(np.mean(ratings)) if len(ratings) else 3.5
    item_rating = (np.bincount(train.items, weights=ratings, minlength=train.n_items) + shrink * mean) / (
        counts + shrink)
    history = np.zeros((train.n_users, genres.shape[1]))
    np.add.at(history, train.users, genres[train.items])
    history /= np.maximum(history.sum(axis=1, keepdims=True), 1e-12)
    order, _ = train.history_index  # by user, then time
    users, items, times = train.users[order], train.items[order], train.timestamps[order]
    same = (users[1:] == users[:-1]) & (np.diff(times) <= SESSION_GAP)  # consecutive events of one session
    pairs = np.column_stack([items[:-1][same], items[1:][same]])
    transitions = sp.csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                                shape=(train.n_items, train.n_items))
    return Reference(genres.astype(np.float64), train.item_popularity.astype(np.float64), first_seen, item_rating,
                     history, transitions)


FEATURE_NAMES_TAIL = ("log_pop_mean", "log_pop_std", "rare_share", "new_share", "transition_loglik",
                      "rating_mean", "rating_std", "rating_slope", "five_star_share", "low_share",
                      "item_rating_mean", "history_fit", "previous_pick_overlap", "events", "log_gap_mean")


def feature_names(genre_names: list[str]) -> list[str]:
    return [f"genre:{g}" for g in genre_names] + list(FEATURE_NAMES_TAIL)


def session_features(reference: Reference, log: SessionLog) -> np.ndarray:
    """(S, G + 15) features of each session in ``log`` (see the module docstring; NaN where undefined)."""
    mask = log.items >= 0  # (S, T)
    items = np.maximum(log.items, 0)
    count = mask.sum(axis=1).astype(np.float64)
    n = np.maximum(count, 1.0)

    def mean_of(values: np.ndarray, where: np.ndarray) -> np.ndarray:
        k = where.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(k > 0, np.where(where, values, 0.0).sum(axis=1) / np.maximum(k, 1), np.nan)

    genres = reference.genres[items] * mask[..., None]  # (S, T, G)
    genre_share = genres.sum(axis=1) / n[:, None]
    log_pop = np.log1p(reference.popularity[items])
    pop_mean = mean_of(log_pop, mask)
    pop_std = np.sqrt(mean_of((log_pop - pop_mean[:, None]) ** 2, mask))
    rare = mean_of((reference.popularity[items] < RARE_USERS).astype(float), mask)
    age_days = (log.times - reference.first_seen[items]) / DAY
    new = mean_of((age_days < NEW_DAYS).astype(float), mask)
    step = mask[:, 1:] & mask[:, :-1]
    loglik = np.zeros(step.shape)
    if step.any():
        loglik[step] = reference.transition_loglik(items[:, :-1][step], items[:, 1:][step])
    transition = mean_of(loglik, step)
    rated = mask & ~np.isnan(log.ratings)
    r = np.where(rated, log.ratings, 0.0)
    r_mean = mean_of(r, rated)
    r_std = np.sqrt(mean_of((r - np.nan_to_num(r_mean)[:, None]) ** 2, rated))
    position = np.broadcast_to(np.arange(log.items.shape[1], dtype=np.float64), log.items.shape)
    p_mean = mean_of(position, rated)
    centred = np.where(rated, position - np.nan_to_num(p_mean)[:, None], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (centred * (r - np.nan_to_num(r_mean)[:, None]) * rated).sum(axis=1) / (centred ** 2).sum(axis=1)
    slope = np.where(rated.sum(axis=1) >= 3, slope, np.nan)
    five = mean_of((r >= 5).astype(float), rated)
    low = mean_of((r <= 2).astype(float), rated)
    quality = mean_of(reference.item_rating[items], mask)
    history = reference.history_genres[log.owner]  # (S, G)
    counts = genres.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fit = (counts * history).sum(axis=1) / (np.linalg.norm(counts, axis=1) * np.linalg.norm(history, axis=1))
        shared = (genres[:, 1:] * genres[:, :-1]).sum(axis=2)
        union = np.maximum(genres[:, 1:], genres[:, :-1]).sum(axis=2)
        overlap = mean_of(np.where(union > 0, shared / np.maximum(union, 1), 0.0), step)
        gaps = np.log1p(np.maximum(np.diff(log.times, axis=1), 0.0))
    gap = mean_of(np.nan_to_num(gaps), step)
    return np.column_stack([genre_share, pop_mean, pop_std, rare, new, transition, r_mean, r_std, slope, five, low,
                            quality, fit, overlap, count, gap])
