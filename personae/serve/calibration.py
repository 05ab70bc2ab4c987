"""Capping bounds learned from honest events, preferably ones the model never trained on.

Three bounds (``personae.space.CapBounds``): the projection range on the population's dominant axis, the
largest step one honest event produces, and the largest drift from the anchor over a replay of honest events.

The honest events are, by preference, **held-out** events: each user's events after their training events
(the validation part of a split), which the trained state does not already fit, so the steps they produce are
the size genuinely new taste moves a persona. Without held-out events the service falls back to replaying the
user's own last training events (which the state already fits: the bounds come out tighter than honest new
events need); ``/healthz`` says which (``bounds_from``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from personae.serve.events import EventBatch
from personae.space import CapBounds, dominant_axis, fit_cap_bounds

if TYPE_CHECKING:
    from personae.serve.online import PersonaUpdater


def fit_bounds(updater: PersonaUpdater, held_out: dict[int, np.ndarray] | None = None) -> tuple[CapBounds, str]:
    """(bounds, where they came from: "held-out", "training" or "given") for ``updater``'s model.

    ``held_out`` maps a user index to item indices of events after their training events, oldest first."""
    o = updater.options
    vectors, mask = updater.population
    population = vectors[mask]
    axis = dominant_axis(population)
    rng = np.random.default_rng(o.seed)
    sequences = _held_out_sequences(held_out) if held_out else _training_sequences(updater)
    users = sorted(sequences)
    source = _source(held_out)
    if o.max_step is None:
        chosen = rng.choice(users, size=min(o.calibration_users, len(users)), replace=False)
        steps = np.concatenate([_replay(updater, int(u), sequences[int(u)][:1], None)[1] for u in chosen])
        max_step = float(np.percentile(np.linalg.norm(steps, axis=1), o.step_percentile))
    else:  # given (a calibration file): no replay at start
        max_step, source = o.max_step, "given"
    bounds = fit_cap_bounds(population, axis, None, o.percentiles)
    bounds = CapBounds(bounds.axis, bounds.low, bounds.high, max_step, None)
    if o.max_drift is not None or o.drift_percentile is None:
        return CapBounds(bounds.axis, bounds.low, bounds.high, max_step, o.max_drift), source
    drifters = rng.choice(users, size=min(o.drift_users, len(users)), replace=False)
    drifts = np.concatenate([_replay(updater, int(u), sequences[int(u)][:o.drift_events], bounds)[0]
                             for u in drifters])
    max_drift = float(np.percentile(np.linalg.norm(drifts, axis=1), o.drift_percentile))
    return CapBounds(bounds.axis, bounds.low, bounds.high, max_step, max_drift), source


def _source(held_out: dict | None) -> str:
    return "held-out" if held_out else "training"


def _held_out_sequences(held_out: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """user -> held-out items to replay after their whole training history."""
    return {u: np.asarray(items, dtype=np.int64) for u, items in held_out.items() if len(items)}


def _training_sequences(updater: PersonaUpdater) -> dict[int, np.ndarray]:
    """user -> their last ``drift_events`` training items (at least one kept as earlier history)."""
    sequences = {}
    for user in range(updater.data.n_users):
        history = updater.data.user_history(user)
        if len(history) >= 2:
            sequences[user] = history[max(1, len(history) - updater.options.drift_events):]
    return sequences


def _replay(updater: PersonaUpdater, user: int, items: np.ndarray,
            bounds: CapBounds | None) -> tuple[np.ndarray, np.ndarray]:
    """Post ``items`` one at a time onto the user's trained state (step-capped by ``bounds`` when given).
    Returns ((m, dim) kept personas' final drift from the start, (m, dim) their first step)."""
    training = updater.data.user_history(user)
    replayed = set(items.tolist())
    earlier = training[~np.isin(training, items)] if replayed & set(training.tolist()) else training
    state = updater.trained(user)
    if updater.from_history:
        state.vectors = updater.pool(earlier)
    start = state.vectors.copy()
    first_step = None
    history = earlier
    for n, item in enumerate(items):
        batch = EventBatch(np.array([item]), np.ones(1), float(n))
        proposed = updater.update(state, history, batch, known=True, capped=False)
        if first_step is None:
            first_step = (proposed.vectors - state.vectors)[state.mask]
        vectors = proposed.vectors if bounds is None else bounds.apply(proposed.vectors, state.vectors)
        state.vectors, state.evidence = np.asarray(vectors, np.float32), proposed.evidence
        history = np.append(history, item)
    return (state.vectors - start)[state.mask], first_step
