"""How a simulated user rates what it chose: an ordinal (cumulative logit) model fitted on real ratings.

P(rating <= c) = sigmoid(theta_c - x . beta) for c = 1..4, with x = (the user's mean past rating, the item's
mean rating from others, the user's standardised affinity for the item under the world model). It is fitted on
real ratings that real users gave to items they chose, on events the world model never trained on, so the
affinity's spread is the one a simulated pick will have. Position in a list plays no part: a rating does not
fall because the user paged down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

LEVELS = 5


@dataclass(frozen=True)
class OrdinalRatings:
    """A fitted cumulative logit: ``beta`` (F,), ``thresholds`` (LEVELS - 1,) increasing, ``centre`` (F,)."""

    beta: np.ndarray
    thresholds: np.ndarray
    centre: np.ndarray

    def probabilities(self, x: np.ndarray, sharpness: float = 1.0) -> np.ndarray:
        """(..., F) predictors -> (..., LEVELS) probability of each rating 1..5; ``sharpness`` scales the logits
        (1 = the fitted model; above 1 the same expected order with less noise)."""
        eta = (x - self.centre) @ self.beta  # (...,)
        cumulative = expit(sharpness * (self.thresholds - eta[..., None]))  # (..., 4)
        upper = np.concatenate([cumulative, np.ones(eta.shape + (1,))], axis=-1)
        lower = np.concatenate([np.zeros(eta.shape + (1,)), cumulative], axis=-1)
        return np.maximum(upper - lower, 1e-12)

    def expected(self, x: np.ndarray) -> np.ndarray:
        return self.probabilities(x) @ np.arange(1, LEVELS + 1)

    def draw(self, x: np.ndarray, rng: np.random.Generator, sharpness: float = 1.0) -> np.ndarray:
        """(..., F) -> (...) ratings 1..5 drawn from the model (``sharpness``: see ``probabilities``)."""
        p = self.probabilities(x, sharpness)
        u = rng.random(p.shape[:-1] + (1,))
        return 1.0 + (u > np.cumsum(p, axis=-1)).sum(axis=-1).clip(max=LEVELS - 1)

    def log_likelihood(self, x: np.ndarray, ratings: np.ndarray) -> float:
        p = self.probabilities(x)
        return float(np.log(p[np.arange(len(ratings)), ratings.astype(int) - 1]).mean())


def fit_ordinal(x: np.ndarray, ratings: np.ndarray) -> OrdinalRatings:
    """Maximum likelihood on (n, F) predictors and (n,) ratings 1..5 (rounded; other values are dropped)."""
    keep = np.isfinite(ratings) & np.isfinite(x).all(axis=1)
    x, r = x[keep], np.clip(np.rint(ratings[keep]), 1, LEVELS).astype(int)
    centre = x.mean(axis=0)
    xc = x - centre
    n_features = x.shape[1]

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cuts = theta[n_features] + np.r_[0.0, np.cumsum(np.exp(theta[n_features + 1:]))]
        return theta[:n_features], cuts

    def loss(theta: np.ndarray) -> float:
        beta, cuts = unpack(theta)
        model = OrdinalRatings(beta, cuts, np.zeros(n_features))
        p = model.probabilities(xc)[np.arange(len(r)), r - 1]
        return -float(np.log(p).sum()) / len(r) + 1e-4 * float(beta @ beta)

    share = np.bincount(r, minlength=LEVELS + 1)[1:] / len(r)
    logits = np.log(np.clip(np.cumsum(share)[:-1], 1e-3, 1 - 1e-3) / np.clip(1 - np.cumsum(share)[:-1], 1e-3, 1))
    start = np.r_[np.zeros(n_features), logits[0], np.log(np.maximum(np.diff(logits), 1e-2))]
    result = minimize(loss, start, method="L-BFGS-B")
    beta, cuts = unpack(result.x)
    return OrdinalRatings(beta, cuts, centre)
