"""Each user's persona state, and how posted events move it: sized by evidence, routed by persona, capped.

An event batch moves a user's state in four ways (learned personas, ``persona_source="embedding"``):

- **Routed.** Each new item is claimed by the personas in proportion to its candidate attention weight
  w_k(i) (the model's own formula). Persona k's step is scaled by the share of the batch it claims, so an
  event moves the persona it belongs to, not the whole mix.
- **Sized by evidence (a posterior view).** Persona k holds n_k pseudo-events: the attention mass of the
  user's training events (sum over their history of w_k(i)) plus every event it has absorbed since. Its step
  is multiplied by ``prior_events / (prior_events + n_k)``: the precision-weighted (1/n) update of a
  posterior mean, so one click barely moves a persona built from 30 events and fully moves a new user's.
- **Novel interests are held apart.** An item that ranks low for the user under the established personas
  (below ``novel_below`` of a reference sample of the catalogue) feeds a *candidate* persona
  (``personae.serve.candidate``) whose weight in the score is at most ``candidate_weight`` until it persists
  over sessions on the server's clock; only then is it established (appended, or replacing the persona with
  the least evidence once ``max_personas`` are held).
- **Signed.** A click or a high rating pulls (sign +1); a rating below the middle of the model's rating scale
  pushes away: the same softmax-loss gradient with a negative weight, so the item's score goes down.
  A repeat of an item already in the user's history adds nothing (it carries no new taste), except a dislike.

Then capping (``personae.space.CapBounds``): the step from the previous state, the drift from the user's anchor
(the trained personas; a new user's state after ``anchor_events`` events) and the projection on the population's
dominant axis stay within bounds learned from honest events (``personae.serve.calibration``).

History-derived personas (``persona_source="history"``) are recomputed by the network's own pooling over the
history (no gradient, no evidence), then capped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from personae.errors import DataError
from personae.models.ampcf import AMPCF
from personae.models.attention import attention_of, softmax_loss_grad
from personae.serve import model_state
from personae.serve.candidate import Candidate, PersistenceRule, start_candidate
from personae.serve.events import EventBatch
from personae.space import unit

REFERENCE_ITEMS = 2048  # catalogue sample an item's rank for the user is measured against


@dataclass
class UpdateOptions:
    """How an event moves a user's personas. Defaults chosen on ml-100k held-out (validation) events with
    bench/serve_stability.py, never on the test events or the attacks it reports."""

    steps: int = field(default=5, metadata={"help": "gradient steps per update (learned personas)"})
    lr: float = field(default=0.1, metadata={"help": "SGD learning rate of those steps, before evidence scaling"})
    negatives: int = field(default=4096, metadata={"help": "items in the softmax; the whole catalogue if smaller"})
    prior_events: float = field(default=30.0, metadata={
        "help": "evidence (events) at which a persona's step is halved: step x prior / (prior + n_k)"})
    novel_below: float = field(default=0.5, metadata={
        "help": "an item ranking below this share of the catalogue for the user feeds the candidate persona"})
    routing_after: float = field(default=10.0, metadata={
        "help": "events a user must hold before novel items are held apart (a new user is still being learned)"})
    candidate_weight: float = field(default=0.15, metadata={"help": "largest weight of a candidate persona"})
    establish_events: int = field(default=5, metadata={"help": "novel events before a candidate is established"})
    establish_sessions: int = field(default=2, metadata={"help": "sessions they must span (server clock)"})
    establish_seconds: float = field(default=3600.0, metadata={"help": "seconds from first to latest (server)"})
    session_gap: float = field(default=1800.0, metadata={"help": "silence (s) that starts a new session"})
    extra_personas: int = field(default=2, metadata={"help": "established personas a user may gain beyond K"})
    cap: bool = field(default=True, metadata={"help": "clip updates to bounds learned from honest events"})
    percentiles: tuple[float, float] = field(default=(1.0, 99.0), metadata={"help": "projection bounds"})
    step_percentile: float = field(default=99.0, metadata={"help": "percentile of honest steps: largest step"})
    drift_percentile: float | None = field(default=90.0, metadata={
        "help": "percentile of honest drifts from the anchor: largest drift (None: no drift bound)"})
    max_step: float | None = field(default=None, metadata={
        "help": "largest step (overrides the percentile; e.g. from a calibration file)"})
    max_drift: float | None = field(default=None, metadata={"help": "largest drift (overrides the percentile)"})
    calibration_users: int = field(default=200, metadata={"help": "users whose honest steps set the step bound"})
    drift_users: int = field(default=50, metadata={"help": "users whose replayed events set the drift bound"})
    drift_events: int = field(default=20, metadata={"help": "events replayed per user to measure honest drift"})
    anchor_events: int = field(default=10, metadata={
        "help": "a new user's anchor is their state after this many posted events (no drift bound before)"})
    rating_scale: tuple[float, float] | None = field(default=None, metadata={
        "help": "lowest and highest rating of 'rate' events (None: those of the model's training data)"})
    seed: int = 0

    def persistence(self) -> PersistenceRule:
        return PersistenceRule(self.establish_events, self.establish_sessions, self.establish_seconds,
                               self.session_gap)


@dataclass
class PersonaState:
    """A user's personas as the service holds them."""

    vectors: np.ndarray  # (K', dim) float32 established personas (K' >= K once candidates are established)
    mask: np.ndarray  # (K',) bool, False for personas pruned at training time
    source: str  # "trained", "online", "history", "fold-in" (new user) or "popularity" (nothing known)
    evidence: np.ndarray | None = None  # (K',) pseudo-events each persona holds
    anchor: np.ndarray | None = None  # (K', dim) the drift bound's centre; None: no drift bound yet
    candidate: Candidate | None = None
    established: int = 0  # candidates established so far

    def __post_init__(self) -> None:
        if self.evidence is None:
            self.evidence = np.zeros(len(self.vectors))

    def detail(self) -> dict:
        """The state beyond vectors and mask, as JSON (the store keeps it beside them)."""
        return {"evidence": self.evidence.tolist(),
                "anchor": None if self.anchor is None else self.anchor.tolist(),
                "candidate": None if self.candidate is None else self.candidate.to_dict(),
                "established": self.established}

    @classmethod
    def from_stored(cls, vectors: np.ndarray, mask: np.ndarray, source: str, detail: dict | None) -> PersonaState:
        detail = detail or {}
        anchor = detail.get("anchor")
        candidate = detail.get("candidate")
        evidence = detail.get("evidence")
        return cls(vectors, mask, source, None if evidence is None else np.asarray(evidence, dtype=np.float64),
                   None if anchor is None else np.asarray(anchor, dtype=np.float32),
                   None if candidate is None else Candidate.from_dict(candidate), int(detail.get("established", 0)))


class PersonaUpdater:
    """Initial personas of a user and the update an event batch applies, for one fitted AMPCF."""

    def __init__(self, model: AMPCF, options: UpdateOptions | None = None,
                 held_out: dict[int, np.ndarray] | None = None) -> None:
        if model.options.separate_keys:
            raise DataError("serve: online updates need tied attention keys (ampcf separate_keys=False)")
        self.model, self.options = model, options or UpdateOptions()
        self.data = model.fitted_data
        self.k = model_state.persona_count(model)
        self.from_history = model_state.pools_history(model)
        self.items_np, self.bias_np = model_state.item_vectors(model), model_state.item_bias(model)
        self.unit_items = unit(self.items_np)
        self.temperature = model_state.temperature(model)
        self.population = model_state.trained_personas(model, np.arange(self.data.n_users))
        self.centres = self._centres()
        rng = np.random.default_rng(self.options.seed)
        n_items = len(self.items_np)
        self.reference = np.sort(rng.choice(n_items, min(n_items, REFERENCE_ITEMS), replace=False))
        from personae.serve.calibration import fit_bounds  # calibration replays updates: imported late

        self.bounds, self.bounds_from = fit_bounds(self, held_out)

    # --- initial states ---------------------------------------------------------------------------------
    def _centres(self) -> np.ndarray:
        """(K, dim) K-means centres of every trained persona: where a new user's fold-in starts."""
        vectors, mask = self.population
        points = vectors[mask]
        rng = np.random.default_rng(self.options.seed)
        centres = points[rng.choice(len(points), size=self.k, replace=False)]
        for _ in range(20):
            nearest = ((points[:, None, :] - centres[None]) ** 2).sum(2).argmin(1)
            centres = np.stack([points[nearest == c].mean(0) if (nearest == c).any() else centres[c]
                                for c in range(self.k)])
        return centres.astype(np.float32)

    def trained(self, user: int) -> PersonaState:
        """The personas a known user was trained with (or pooled from their training history), holding the
        attention mass of their training events as evidence, anchored at themselves."""
        vectors, mask = self.population
        state = PersonaState(vectors[user].copy(), mask[user].copy(), "history" if self.from_history else "trained")
        history = self.data.user_history(user)
        if len(history):
            state.evidence = attention_of(state.vectors, self.items_np[history], self.temperature,
                                          state.mask).sum(axis=0).astype(np.float64)
        state.anchor = state.vectors.copy()
        return state

    def pool(self, history: np.ndarray) -> np.ndarray:
        """(K, dim) personas pooled from ``history`` (history-derived models)."""
        return model_state.pool_history(self.model, history)

    def new_user(self) -> PersonaState:
        """A user the model has never seen, before their first event."""
        if self.from_history:
            return PersonaState(np.zeros((self.k, self.items_np.shape[1]), np.float32), np.ones(self.k, bool),
                                "popularity")
        return PersonaState(self.centres.copy(), np.ones(self.k, bool), "popularity")

    # --- scores ---------------------------------------------------------------------------------------------
    def scores(self, state: PersonaState, items: np.ndarray) -> np.ndarray:
        """(n,) scores of item indices under the established personas (the model's formula)."""
        vectors = self.items_np[items]
        affinity = vectors @ state.vectors.T  # (n, K')
        weights = attention_of(state.vectors, vectors, self.temperature, state.mask)
        return (weights * affinity).sum(axis=1) + self.bias_np[items]

    def fit(self, state: PersonaState, items: np.ndarray) -> np.ndarray:
        """(n,) share of a fixed catalogue sample each item outranks for this user: 1 = one of their best."""
        reference = np.sort(self.scores(state, self.reference))
        return np.searchsorted(reference, self.scores(state, items), side="left") / len(reference)

    def candidate_term(self, state: PersonaState) -> tuple[np.ndarray, float] | None:
        """(the candidate persona vector (dim,), its weight in the score), or None without a candidate. Its weight
        grows with its events up to ``candidate_weight``; its length is the user's median persona length."""
        if state.candidate is None:
            return None
        o = self.options
        norm = float(np.median(np.linalg.norm(state.vectors[state.mask], axis=1)))
        weight = o.candidate_weight * min(1.0, state.candidate.events / max(o.establish_events, 1))
        return state.candidate.vector(norm), weight

    # --- updates ------------------------------------------------------------------------------------------
    def update(self, state: PersonaState, history: np.ndarray, batch: EventBatch, known: bool,
               capped: bool | None = None) -> PersonaState:
        """The state after ``batch`` (``history``: the user's item indices before it, oldest first); capped
        when ``capped`` (default: the ``cap`` option). A new user's anchor is set once they hold
        ``anchor_events`` events."""
        new = self._update(state, history, batch, known, self.options.cap if capped is None else capped)
        if new.anchor is None and len(history) + len(batch.items) >= self.options.anchor_events:
            new = replace(new, anchor=new.vectors.copy())
        return new

    def _update(self, state: PersonaState, history: np.ndarray, batch: EventBatch, known: bool,
                capped: bool) -> PersonaState:
        source = ("history" if self.from_history else "online") if known else "fold-in"
        if self.from_history:
            pooled = model_state.pool_history(self.model, np.concatenate([history, batch.items]))
            old = None if state.source == "popularity" else state.vectors
            vectors = self.bounds.apply(pooled, old, state.anchor) if capped else pooled
            return replace(state, vectors=np.asarray(vectors, np.float32), source=source)
        fresh = self._fresh(history, batch)
        novel = fresh & (batch.signs > 0) & (self.fit(state, batch.items) < self.options.novel_below)
        if state.evidence[state.mask].sum() < self.options.routing_after:
            novel[:] = False  # a user still being learned has no interests to protect
        moving = fresh & ~novel & (batch.signs != 0)
        vectors, evidence = self._fold_in(state, batch.items[moving], batch.signs[moving])
        if capped:
            vectors = np.asarray(self.bounds.apply(vectors, state.vectors, state.anchor), dtype=np.float32)
        new = replace(state, vectors=vectors, evidence=evidence, source=source)
        if novel.any():
            new = self._feed_candidate(new, batch.items[novel], batch.now)
        return new

    @staticmethod
    def _fresh(history: np.ndarray, batch: EventBatch) -> np.ndarray:
        """(n,) True for events that carry new taste: the first click on an item (not already in the history or
        earlier in the batch), or any dislike."""
        first = np.zeros(len(batch.items), dtype=bool)
        first[np.unique(batch.items, return_index=True)[1]] = True
        return (first & ~np.isin(batch.items, history)) | (batch.signs < 0)

    def _fold_in(self, state: PersonaState, items: np.ndarray, signs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A few SGD steps of the signed softmax loss on ``items`` (item vectors fixed), each persona's step
        scaled by the share of the batch it claims and by prior / (prior + its evidence)."""
        if not len(items):
            return state.vectors, state.evidence
        o = self.options
        claims = attention_of(state.vectors, self.items_np[items], self.temperature, state.mask)  # (n, K')
        brought = (np.abs(signs)[:, None] * claims).sum(axis=0)  # (K',) evidence the batch brings each persona
        route = brought / max(float(brought.max()), 1e-12)
        scale = (route * o.prior_events / (o.prior_events + state.evidence)).astype(np.float32)  # (K',)
        n_items = len(self.items_np)
        if n_items <= o.negatives:
            candidates = np.arange(n_items)
        else:  # a fixed-seed sample keeps updates reproducible (replay after a crash gives the same state)
            rng = np.random.default_rng(o.seed + len(items))
            candidates = np.unique(np.concatenate([items, rng.choice(n_items, size=o.negatives, replace=False)]))
        target = np.searchsorted(candidates, items)
        catalogue, bias = self.items_np[candidates], self.bias_np[candidates]
        personas = np.array(state.vectors, dtype=np.float32)  # (K', dim)
        for _ in range(o.steps):
            gradient = softmax_loss_grad(personas, catalogue, bias, self.temperature, state.mask, target, signs)
            personas -= o.lr * scale[:, None] * gradient
        return personas, state.evidence + brought

    def _feed_candidate(self, state: PersonaState, items: np.ndarray, now: float) -> PersonaState:
        """Novel items go to the candidate persona; a candidate that persisted becomes established."""
        units = self.unit_items[items]
        rule = self.options.persistence()
        candidate = start_candidate(units, now) if state.candidate is None else state.candidate.absorb(units, now, rule)
        state = replace(state, candidate=candidate)
        return self._establish(state) if candidate.persisted(rule) else state

    def _establish(self, state: PersonaState) -> PersonaState:
        """Make the candidate a persona: appended while the user holds fewer than K + ``extra_personas``,
        else in place of the persona with the least evidence. Its anchor is itself."""
        vector, _ = self.candidate_term(state)
        evidence = float(state.candidate.events)
        vectors, mask, held = state.vectors.copy(), state.mask.copy(), state.evidence.copy()
        anchor = None if state.anchor is None else state.anchor.copy()
        if len(vectors) < self.k + self.options.extra_personas:
            vectors, mask, held = np.vstack([vectors, vector]), np.append(mask, True), np.append(held, evidence)
            anchor = None if anchor is None else np.vstack([anchor, vector])
        else:
            weakest = int(np.argmin(np.where(mask, held, np.inf)))
            vectors[weakest], held[weakest], mask[weakest] = vector, evidence, True
            if anchor is not None:
                anchor[weakest] = vector
        return replace(state, vectors=vectors.astype(np.float32), mask=mask, evidence=held, anchor=anchor,
                       candidate=None, established=state.established + 1)
