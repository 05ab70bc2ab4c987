"""Capping: keep a vector's position on an axis, its step from a previous state, and its total drift from an
anchor state, inside bounds learned from a population (after activation capping on the Assistant axis,
arXiv:2601.10387).

A step bound alone does not stop a burst: many small steps add up. The drift bound is what limits where a burst
can take a vector, whatever the number of steps.

The same functions clamp a language model's hidden states (torch tensors, in a forward hook) and a user's
updated persona vectors (numpy arrays, in the service), because both arrays have ``@`` and ``.clip``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def clip_projection(x, axis, low: float | None = None, high: float | None = None):
    """Move each row of ``x`` (..., d) along the unit ``axis`` (d,) until its projection is in [low, high].

    The part of ``x`` orthogonal to the axis is untouched. Works on numpy arrays and torch tensors alike.
    """
    if low is None and high is None:
        return x
    projection = x @ axis  # (...)
    moved = projection.clip(low, high) - projection
    return x + moved[..., None] * axis


def clip_step(new: np.ndarray, old: np.ndarray, max_norm: float) -> np.ndarray:
    """Shorten each row's step ``new - old`` to at most ``max_norm`` (same direction). (..., d)

    With ``old`` an anchor state rather than the previous one, this bounds the total drift from the anchor:
    each row of the result lies in the ball of radius ``max_norm`` around the anchor's row.
    """
    step = new - old
    norm = np.linalg.norm(step, axis=-1, keepdims=True)
    scale = np.minimum(1.0, max_norm / np.maximum(norm, 1e-12))
    return old + step * scale


@dataclass(frozen=True)
class CapBounds:
    """Bounds learned from a population: the axis, the projection range, the largest allowed step and the
    largest allowed drift from an anchor (None: no drift bound)."""

    axis: np.ndarray  # (d,) unit
    low: float  # lower bound of the projection on the axis
    high: float  # upper bound
    max_step: float  # largest allowed norm of one update step
    max_drift: float | None = None  # largest allowed distance of a row from its anchor row

    def apply(self, new: np.ndarray, old: np.ndarray | None = None, anchor: np.ndarray | None = None) -> np.ndarray:
        """Cap ``new`` (..., d): its step from ``old``, then its distance from ``anchor`` (each when given),
        then its projection on the axis.

        Clipping the projection last keeps the drift bound when the anchor lies inside the projection range
        (moving a point onto a convex slab that holds the anchor brings it no further from the anchor).
        """
        capped = new if old is None else clip_step(new, old, self.max_step)
        if anchor is not None and self.max_drift is not None:
            capped = clip_step(capped, anchor, self.max_drift)
        return clip_projection(capped, self.axis, self.low, self.high)

    def to_dict(self) -> dict:
        return {"axis": self.axis.tolist(), "low": self.low, "high": self.high, "max_step": self.max_step,
                "max_drift": self.max_drift}

    @classmethod
    def from_dict(cls, values: dict) -> CapBounds:
        drift = values.get("max_drift")
        return cls(np.asarray(values["axis"], dtype=np.float64), float(values["low"]), float(values["high"]),
                   float(values["max_step"]), None if drift is None else float(drift))


def fit_cap_bounds(vectors: np.ndarray, axis: np.ndarray, steps: np.ndarray | None = None,
                   percentiles: tuple[float, float] = (1.0, 99.0), step_percentile: float = 99.0,
                   drifts: np.ndarray | None = None, drift_percentile: float = 99.0) -> CapBounds:
    """Learn bounds from a population of (n, d) vectors.

    The projection bounds are the given percentiles of the population's projections on ``axis``; the step
    bound is ``step_percentile`` of the norms of observed ``steps`` (m, d) when given, else of the vectors'
    distances from the population mean (a step no larger than a typical persona's distance from the centre).
    The drift bound is ``drift_percentile`` of the norms of observed ``drifts`` (m, d), each an honest vector's
    total move from its anchor over many steps; without ``drifts`` there is no drift bound.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / max(np.linalg.norm(axis), 1e-12)
    projection = vectors @ axis
    low, high = np.percentile(projection, percentiles)
    spread = steps if steps is not None else vectors - vectors.mean(axis=0)
    max_step = float(np.percentile(np.linalg.norm(spread, axis=-1), step_percentile))
    max_drift = None if drifts is None else float(np.percentile(np.linalg.norm(drifts, axis=-1), drift_percentile))
    return CapBounds(axis, float(low), float(high), max_step, max_drift)
