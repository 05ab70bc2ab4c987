"""Each user's persona state, and how posted events move it, capped with ``personae.space``.

Two update rules, one per kind of AMPCF:
- learned persona vectors (``persona_source="embedding"``): a few gradient steps on the user's recent events
  with every item vector fixed (fold-in), starting from the current state; a new user starts from K centres
  of the trained population's personas;
- history-derived personas (``persona_source="history"``): the network's own pooling recomputed over the
  user's history plus the new events (no gradient at all).

Capping (after activation capping, arXiv:2601.10387): the bounds are learned from the training population,
the projection range on its dominant axis, the largest step one honest event produces, and the largest total
drift from the user's anchor state over a replay of honest users' own events (percentiles, configurable).
``CapBounds.apply(new, old, anchor)`` clips every update: one injected click moves a user no further than an
honest event would, and a burst of them no further from the anchor than honest users drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from personae.errors import DataError
from personae.models.ampcf import AMPCF
from personae.serve.online_scoring import softmax_loss_grad
from personae.space import CapBounds, dominant_axis, fit_cap_bounds


@dataclass
class UpdateOptions:
    """How an event moves a user's personas. Defaults chosen on the ml-100k validation replay
    (bench/serve_online.py), never on test events."""

    steps: int = field(default=5, metadata={"help": "gradient steps per update (learned personas)"})
    lr: float = field(default=0.1, metadata={"help": "SGD learning rate of those steps"})
    window: int = field(default=1, metadata={"help": "most recent events the steps fit (at least the new ones)"})
    negatives: int = field(default=4096, metadata={"help": "items in the softmax; the whole catalogue if smaller"})
    cap: bool = field(default=True, metadata={"help": "clip updates to bounds learned from the population"})
    percentiles: tuple[float, float] = field(default=(1.0, 99.0), metadata={"help": "projection bounds"})
    step_percentile: float = field(default=99.0, metadata={"help": "percentile of honest steps: largest step"})
    calibration_users: int = field(default=200, metadata={"help": "users whose honest steps set the step bound"})
    drift_percentile: float | None = field(default=90.0, metadata={
        "help": "percentile of honest drifts from the anchor: largest drift (None: no drift bound)"})
    drift_users: int = field(default=50, metadata={"help": "users whose replayed events set the drift bound"})
    drift_events: int = field(default=20, metadata={"help": "events replayed per user to measure honest drift"})
    anchor_events: int = field(default=10, metadata={
        "help": "a new user's anchor is their state after this many posted events (no drift bound before)"})
    seed: int = 0


@dataclass
class PersonaState:
    """A user's personas as the service holds them."""

    vectors: np.ndarray  # (K, dim) float32
    mask: np.ndarray  # (K,) bool, False for personas pruned at training time
    source: str  # "trained", "online", "history", "fold-in" (new user) or "popularity" (nothing known)


class PersonaUpdater:
    """Initial personas of a user and the update an event batch applies, for one fitted AMPCF."""

    def __init__(self, model: AMPCF, options: UpdateOptions | None = None) -> None:
        if model.options.separate_keys:
            raise DataError("serve: online updates need tied attention keys (ampcf separate_keys=False)")
        self.model, self.options = model, options or UpdateOptions()
        self.network = model.network_.eval()
        self.data = model.fitted_data
        self.k = self.network.k
        self.from_history = self.network.from_history
        with torch.no_grad():
            self.items = self.network.items.weight.detach().clone()  # (n_items, dim)
            self.bias = self.network.item_bias.detach().clone()  # (n_items,)
        self.items_np, self.bias_np = self.items.numpy(), self.bias.numpy()
        self.temperature = float(self.network.temperature)
        self._population = self._trained_population()  # (n_users, K, dim), mask (n_users, K)
        self.centres = self._centres()
        self.bounds: CapBounds = self.fit_bounds()

    # --- initial states ---------------------------------------------------------------------------------
    @torch.no_grad()
    def _trained_population(self) -> tuple[np.ndarray, np.ndarray]:
        users = torch.arange(self.data.n_users)
        vectors = torch.cat([self.network.personas(users[s:s + 1024]) for s in range(0, len(users), 1024)])
        return vectors.numpy().astype(np.float32), self.network.persona_mask.numpy().copy()

    def _centres(self) -> np.ndarray:
        """(K, dim) K-means centres of every trained persona: where a new user's fold-in starts."""
        vectors, mask = self._population
        points = vectors[mask]
        rng = np.random.default_rng(self.options.seed)
        centres = points[rng.choice(len(points), size=self.k, replace=False)]
        for _ in range(20):
            nearest = ((points[:, None, :] - centres[None]) ** 2).sum(2).argmin(1)
            centres = np.stack([points[nearest == c].mean(0) if (nearest == c).any() else centres[c]
                                for c in range(self.k)])
        return centres.astype(np.float32)

    def trained(self, user: int) -> PersonaState:
        """The personas a known user was trained with (or pooled from their training history)."""
        vectors, mask = self._population
        return PersonaState(vectors[user].copy(), mask[user].copy(), "history" if self.from_history else "trained")

    def new_user(self) -> PersonaState:
        """A user the model has never seen, before their first event."""
        if self.from_history:
            return PersonaState(np.zeros((self.k, self.items.shape[1]), np.float32), np.ones(self.k, bool),
                                "popularity")
        return PersonaState(self.centres.copy(), np.ones(self.k, bool), "popularity")

    # --- updates ------------------------------------------------------------------------------------------
    def propose(self, state: PersonaState, history: np.ndarray, n_new: int = 1) -> np.ndarray:
        """(K, dim) uncapped personas after the user's ``history`` (item indices, oldest first), whose last
        ``n_new`` items are the new events; the steps fit them and up to ``window`` events in all."""
        if self.from_history:
            return self._pool(history)
        return self._fold_in(state.vectors, state.mask, history[-max(self.options.window, n_new):])

    def update(self, state: PersonaState, history: np.ndarray, n_new: int, known: bool,
               anchor: np.ndarray | None = None) -> PersonaState:
        """The new state after ``n_new`` events (the end of ``history``), capped when enabled: its step from
        ``state`` and, given an ``anchor`` (K, dim), its drift from it."""
        proposed = self.propose(state, history, n_new)
        old = None if state.source == "popularity" and self.from_history else state.vectors
        vectors = self.bounds.apply(proposed, old, anchor) if self.options.cap else proposed
        source = ("history" if self.from_history else "online") if known else "fold-in"
        return PersonaState(np.asarray(vectors, dtype=np.float32), state.mask, source)

    @torch.no_grad()
    def _pool(self, history: np.ndarray) -> np.ndarray:
        length = self.model.options.max_history
        recent = np.asarray(history, dtype=np.int64)[-length:]
        row = torch.full((1, length), -1, dtype=torch.long)
        if len(recent):
            row[0, length - len(recent):] = torch.as_tensor(recent)
        return self.network.pool_history(row)[0].numpy()  # (K, dim)

    def _fold_in(self, vectors: np.ndarray, mask: np.ndarray, recent: np.ndarray) -> np.ndarray:
        """A few SGD steps of the sampled-softmax loss on ``recent`` items, item vectors fixed (gradient
        written out in numpy: ``softmax_loss_grad``)."""
        o = self.options
        positives = np.asarray(recent, dtype=np.int64)
        n_items = len(self.items_np)
        if n_items <= o.negatives:
            candidates = np.arange(n_items)
        else:  # a fixed-seed sample keeps updates reproducible (replay after a crash gives the same state)
            rng = np.random.default_rng(o.seed + len(recent))
            candidates = np.unique(np.concatenate([positives, rng.choice(n_items, size=o.negatives, replace=False)]))
        target = np.searchsorted(candidates, positives)  # position of each positive among the candidates
        items, bias = self.items_np[candidates], self.bias_np[candidates]
        personas = np.array(vectors, dtype=np.float32)  # (K, dim)
        keep = np.asarray(mask, dtype=bool)
        for _ in range(o.steps):
            personas -= o.lr * softmax_loss_grad(personas, items, bias, self.temperature, keep, target)
        return personas

    # --- capping bounds -----------------------------------------------------------------------------------
    def fit_bounds(self) -> CapBounds:
        """Bounds from the training population: its dominant axis, the steps of one honest event, and the
        drift of a replay of honest events.

        An honest step is the move a user's own newest training item causes: re-adding it to the user's
        trained personas (learned vectors), or pooling the history with and without it (history personas).
        """
        vectors, mask = self._population
        population = vectors[mask]  # (n_kept, dim)
        axis = dominant_axis(population)
        rng = np.random.default_rng(self.options.seed)
        eligible = [u for u in range(self.data.n_users) if len(self.data.user_history(u)) >= 2]
        chosen = rng.choice(eligible, size=min(self.options.calibration_users, len(eligible)), replace=False)
        steps = []
        for user in chosen:
            history = self.data.user_history(int(user))
            state = self.trained(int(user))
            old = self._pool(history[:-1]) if self.from_history else state.vectors
            new = self.propose(state, history)
            steps.append((new - old)[state.mask])
        o = self.options
        bounds = fit_cap_bounds(population, axis, np.concatenate(steps), o.percentiles, o.step_percentile)
        if o.drift_percentile is None:
            return bounds
        return fit_cap_bounds(population, axis, np.concatenate(steps), o.percentiles, o.step_percentile,
                              self._honest_drifts(bounds, eligible, rng), o.drift_percentile)

    def _honest_drifts(self, bounds: CapBounds, eligible: list[int], rng: np.random.Generator) -> np.ndarray:
        """(m, dim) each kept persona's distance from its anchor (the trained state) after the user's own last
        ``drift_events`` training events are posted one at a time through the step-capped update path."""
        o = self.options
        chosen = rng.choice(eligible, size=min(o.drift_users, len(eligible)), replace=False)
        drifts = []
        for user in chosen:
            history = self.data.user_history(int(user))
            anchor = self.trained(int(user))
            start = max(1, len(history) - o.drift_events)
            vectors = self._pool(history[:start]) if self.from_history else anchor.vectors
            state = PersonaState(vectors, anchor.mask, anchor.source)
            for end in range(start + 1, len(history) + 1):
                proposed = self.propose(state, history[:end])
                state = PersonaState(bounds.apply(proposed, state.vectors).astype(np.float32), state.mask, state.source)
            reference = self._pool(history[:start]) if self.from_history else anchor.vectors
            drifts.append((state.vectors - reference)[anchor.mask])
        return np.concatenate(drifts)
