"""The persona service without HTTP: users, items, events, recommendations and personas.

A user is one of three kinds, and every answer says which (``source``):
- a known user with no posted events: the trained model answers as it does on the command line (``trained``
  or ``history``);
- a user with posted events: their persona state in the store (``online`` for known users, ``history`` for
  history-derived personas, ``fold-in`` for users the model never saw);
- an unknown user with no events: the most popular items (``popularity``).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from personae.errors import DataError
from personae.explain.attribution import build_explanations, persona_labels, persona_mix
from personae.models.ampcf import AMPCF
from personae.models.attention import attention_of
from personae.models.base import Recommender
from personae.serve.online import EventBatch, PersonaState, PersonaUpdater, UpdateOptions
from personae.serve.retrieval import IndexOptions, Retriever
from personae.serve.store import Event, Store, StoredState, StoreError
from personae.space import mixture_drift, unit

MAX_K = 1000  # largest k a request may ask for
MAX_BATCH = 1000  # most events in one POST
KINDS = ("click", "rate")
CACHED_USERS = 100_000  # trained states and explanation contexts kept in memory (oldest dropped first)


class UnknownItemError(DataError):
    """An event or request names an item the model does not know."""


class UnknownUserError(DataError):
    """A request names a user the service knows nothing about."""


@dataclass
class ExplanationContext:
    state: PersonaState  # the state these were computed for (a new state object means recompute)
    owner: np.ndarray  # (H,) persona of each history item
    labels: list[str]  # (K,) lift label of each persona
    unit_history: np.ndarray  # (H, dim) unit item vectors of the history


@dataclass
class PendingPost:
    """An event batch validated and folded into a new state, not yet committed."""

    user: str
    events: list[Event]
    items: np.ndarray  # (n,) item indices
    old: PersonaState
    new: PersonaState
    old_history: np.ndarray  # (H,) the user's item indices before these events
    base: int  # id of the user's newest event the new state was computed from


@dataclass
class ServeOptions:
    update: UpdateOptions = field(default_factory=UpdateOptions)
    index: IndexOptions = field(default_factory=IndexOptions)


def rating_scale(data) -> tuple[float, float] | None:
    """(lowest, highest) rating in the model's training data, or None when it has no ratings."""
    ratings = getattr(data, "ratings", None)
    if ratings is None or not len(ratings):
        return None
    low, high = float(np.nanmin(ratings)), float(np.nanmax(ratings))
    return (low, high) if high > low else None


class PersonaService:
    """One fitted AMPCF, one store, and every user's current personas in memory."""

    def __init__(self, model: Recommender, store: Store, options: ServeOptions | None = None,
                 held_out: dict[int, np.ndarray] | None = None, clock: Callable[[], float] = time.time) -> None:
        """``held_out``: user index -> item indices of events the model never trained on (calibrates the
        capping bounds; without it they come from training events). ``clock``: the server's clock (seconds),
        which candidate personas must persist on."""
        if not isinstance(model, AMPCF):
            raise DataError(f"serve: needs an ampcf model (multi-persona), got '{model.name}'")
        torch.set_num_threads(1)  # requests are tiny: extra threads only contend on a shared machine
        self.model, self.store, self.options, self.clock = model, store, options or ServeOptions(), clock
        self.data = model.fitted_data
        self.updater = PersonaUpdater(model, self.options.update, held_out)
        self.retriever = Retriever(self.updater.items_np, self.updater.bias_np, self.updater.temperature,
                                   self.options.index)
        self.item_lookup = pd.Index(np.asarray(self.data.item_ids, dtype=object).astype(str))  # built once
        self.scale = self.options.update.rating_scale or rating_scale(self.data)
        self.popular = np.argsort(-self.data.item_popularity, kind="stable")  # (n_items,) most popular first
        self.states: dict[str, PersonaState] = {}  # users with posted events
        self.posted: dict[str, list[int]] = {}  # their posted item indices, oldest first
        self.last_event: dict[str, int] = {}
        self._trained: dict[str, PersonaState] = {}
        self._contexts: dict[str, ExplanationContext] = {}
        self._check_store_matches_model()
        self.replayed = self.restore()

    # --- start-up --------------------------------------------------------------------------------------
    def _check_store_matches_model(self) -> None:
        digest = hashlib.sha256(self.updater.items_np.tobytes())
        digest.update("\n".join(self.data.item_ids).encode())
        fingerprint = digest.hexdigest()
        if self.store.meta("model", fingerprint) != fingerprint:
            raise StoreError(f"{getattr(self.store, 'path', 'store')}: written by another model; "
                             "use a new --db for this model")

    def restore(self) -> int:
        """Load stored states and fold in events not yet folded (a crash between commit and state, or
        events written by another replica). Returns the number of events replayed."""
        for stored in self.store.states():
            state = PersonaState.from_stored(stored.vectors, stored.mask, stored.source, stored.detail)
            known = self.known_index(stored.user)
            if state.anchor is None and known is not None and "anchor" not in stored.detail:
                state.anchor = self.updater.trained(known).vectors  # a store written before anchors were kept
            self.states[stored.user] = state
            self.last_event[stored.user] = stored.last_event
        replayed = 0
        for user in set(self.states) | set(self.store.users_with_unfolded_events()):
            replayed += self.catch_up(user)
        return replayed

    def catch_up(self, user: str) -> int:
        """Fold in the user's stored events newer than their state, batch by batch, as they were posted (same
        items, signs and server arrival time, so the same state). Returns the number of events folded."""
        events = self.store.events(user)[::-1]  # oldest first
        folded = [e for e in events if e.id <= self.last_event.get(user, 0)]
        self.posted[user] = [int(i) for i in self.item_indices([e.item for e in folded])]
        pending = [e for e in events if e.id > self.last_event.get(user, 0)]
        for batch in sorted({e.batch for e in pending}):
            group = [e for e in pending if e.batch == batch]
            items = self.item_indices([e.item for e in group])
            signs = self.event_signs([e.kind for e in group], [e.value for e in group])
            state = self._update(user, EventBatch(items, signs, group[0].received))
            self.store.save_state(StoredState(user, state.vectors, state.mask, state.source, group[-1].id,
                                              state.detail()))
            self._apply(user, state, items, group[-1].id)
        return len(pending)

    def sync(self, user_id: str) -> None:
        """With a store other replicas write to, catch up on the user's events stored by another replica (the
        replay a restart does); a no-op on a store only this process writes."""
        if not getattr(self.store, "shared", False):
            return
        if self.store.newest_event(user_id) <= self.last_event.get(user_id, 0):
            return
        stored = self.store.state(user_id)
        if stored is not None and stored.last_event > self.last_event.get(user_id, 0):
            self.states[user_id] = PersonaState.from_stored(stored.vectors, stored.mask, stored.source, stored.detail)
            self.last_event[user_id] = stored.last_event
        self.catch_up(user_id)

    def item_indices(self, item_ids: list) -> np.ndarray:
        """(n,) item indices of external ids in one vectorised lookup; names the first unknown one."""
        wanted = np.asarray([str(i) for i in item_ids], dtype=object)
        found = self.item_lookup.get_indexer(wanted)
        if (found < 0).any():
            first = int(np.argmax(found < 0))
            raise UnknownItemError(f"event {first}: unknown item id '{wanted[first]}'")
        return found.astype(np.int64)

    def event_signs(self, kinds: list[str], values: list[float | None]) -> np.ndarray:
        """(n,) each event's sign in [-1, 1]: a click +1; a rating (value - middle) / half-range of the model's
        rating scale, so the lowest rating pushes (-1) and the highest pulls (+1)."""
        signs = np.ones(len(kinds))
        for n, (kind, value) in enumerate(zip(kinds, values)):
            if kind not in KINDS:
                raise DataError(f"event {n}: field 'kind' must be one of {', '.join(KINDS)}, got '{kind}'")
            if kind == "click":
                if value is not None:
                    raise DataError(f"event {n}: field 'value' belongs to rate events only")
                continue
            if self.scale is None:
                raise DataError(f"event {n}: this model's data has no ratings, so 'rate' events have no scale")
            low, high = self.scale
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or not low <= value <= high:
                shown = "a non-finite number" if isinstance(value, float) and not math.isfinite(value) else value
                raise DataError(f"event {n}: field 'value' must be a rating from {low:g} to {high:g}, got {shown}")
            signs[n] = (value - (low + high) / 2) / ((high - low) / 2)
        return signs

    # --- users -------------------------------------------------------------------------------------------
    def known_index(self, user_id: str) -> int | None:
        """The user's index when the model learned from their events; None for anyone else (a user in the id
        map with no training events, e.g. one who appears only after a temporal cut, has no trained personas)."""
        try:
            user = self.data.user_index(user_id)
        except KeyError:
            return None
        _, indptr = self.data.history_index
        return user if indptr[user + 1] > indptr[user] else None

    def history(self, user_id: str) -> np.ndarray:
        """Item indices the user has interacted with, oldest first: training events, then posted ones."""
        user = self.known_index(user_id)
        trained = self.data.user_history(user) if user is not None else np.zeros(0, dtype=np.int64)
        return np.concatenate([trained, np.asarray(self.posted.get(user_id, []), dtype=np.int64)])

    def state(self, user_id: str) -> PersonaState:
        if user_id in self.states:
            return self.states[user_id]
        if user_id not in self._trained:
            user = self.known_index(user_id)
            if len(self._trained) >= CACHED_USERS:
                self._trained.pop(next(iter(self._trained)))
            self._trained[user_id] = self.updater.trained(user) if user is not None else self.updater.new_user()
        return self._trained[user_id]

    def anchor(self, user_id: str) -> np.ndarray | None:
        """(K', dim) the state capping bounds a user's drift from: a known user's trained personas; for a user
        the model never saw, their state after their first ``anchor_events`` events (None before that)."""
        return self.state(user_id).anchor

    def _update(self, user_id: str, batch: EventBatch) -> PersonaState:
        """The user's state after ``batch``, capped by the updater."""
        return self.updater.update(self.state(user_id), self.history(user_id), batch,
                                   self.known_index(user_id) is not None)

    def _apply(self, user_id: str, state: PersonaState, items: np.ndarray, last_event: int) -> None:
        """Make a committed update current in memory."""
        self.states[user_id] = state
        self.posted.setdefault(user_id, []).extend(int(i) for i in items)
        self.last_event[user_id] = last_event

    # --- answers -----------------------------------------------------------------------------------------
    def recommend(self, user_id: str, k: int = 10, explain: bool = True) -> dict[str, Any]:
        self.sync(user_id)
        state, history = self.state(user_id), self.history(user_id)
        seen = np.unique(history)
        if state.source == "popularity":
            items = self.popular[~np.isin(self.popular, seen)][:k]
            scores = self.data.item_popularity[items].astype(float)
            method = "popularity"
        else:
            items, scores = self.retriever.top_k(state.vectors, k, state.mask, exclude=seen,
                                                 candidate=self.updater.candidate_term(state))
            method = self.retriever.method
        titles = self.data.item_titles(items)
        entries = [{"item": str(self.data.item_ids[i]), "title": t, "score": float(s)}
                   for i, t, s in zip(items, titles, scores)]
        if explain and len(items):
            for entry, why in zip(entries, self._explain(user_id, state, history, items)):
                entry.update(why)
        return {"user": user_id, "source": state.source, "retrieval": method, "items": entries}

    def _explain(self, user_id: str, state: PersonaState, history: np.ndarray, items: np.ndarray) -> list[dict]:
        if state.source == "popularity":
            return [{"persona": None, "persona_weights": [], "label": "popular with everyone",
                     "supporting_items": []} for _ in items]
        if self.updater.from_history and user_id not in self.states:
            explanations = self.model.explain(user_id, self.data.item_ids[items])  # its exact pooling shares
        else:  # AMPCF.explain's rule for learned personas, on the state the service holds
            context = self._context(user_id, state, history)
            candidates = self.retriever.items[items]
            weights = attention_of(state.vectors, candidates, self.updater.temperature, state.mask)  # (C, K)
            support = unit(candidates) @ context.unit_history.T  # (C, H) cosine
            eligible = context.owner[None, :] == weights.argmax(axis=1)[:, None]
            explanations = build_explanations(self.data, user_id, items, weights, context.labels, history, support,
                                              eligible)
        return [{"persona": e.persona, "persona_weights": e.persona_weights, "label": e.label,
                 "supporting_items": [{"item": i, "title": t} for i, t in zip(e.supporting_items, e.supporting_titles)]}
                for e in explanations]

    def _context(self, user_id: str, state: PersonaState, history: np.ndarray) -> ExplanationContext:
        """What every explanation for this persona state shares, computed once per state (labels by lift are
        the costly part of an explained request)."""
        cached = self._contexts.get(user_id)
        if cached is not None and cached.state is state:
            return cached
        owner = attention_of(state.vectors, self.retriever.items[history], self.updater.temperature,
                             state.mask).argmax(axis=1)  # (H,) the persona each history item belongs to
        labels = persona_labels(self.data, history, owner, list(range(len(state.vectors))))
        context = ExplanationContext(state, owner, labels, unit(self.retriever.items[history]))
        if len(self._contexts) >= CACHED_USERS:
            self._contexts.pop(next(iter(self._contexts)))  # oldest first
        self._contexts[user_id] = context
        return context

    def prior_weights(self, state: PersonaState, history: np.ndarray) -> np.ndarray:
        """(K,) mean attention of the user's own items over their personas (uniform with no history)."""
        k = len(state.vectors)
        if not len(history):
            return np.full(k, 1.0 / k)
        return attention_of(state.vectors, self.retriever.items[history], self.updater.temperature,
                            state.mask).mean(axis=0)

    def personas(self, user_id: str) -> dict[str, Any]:
        self.sync(user_id)
        state, history = self.state(user_id), self.history(user_id)
        meta = {"source": state.source, "posted_events": len(self.posted.get(user_id, [])),
                "last_event": self.last_event.get(user_id, 0)}
        meta["candidate"] = self._candidate(state)
        if state.source == "popularity":
            return {"user": user_id, "personas": [], "history": [], **meta}
        if user_id not in self.states:
            return self._established({**self.model.user_personas(user_id).to_dict(), **meta}, state)
        weights = attention_of(state.vectors, self.retriever.items[history], self.updater.temperature,
                               state.mask)  # (H, K)
        kept = np.flatnonzero(state.mask)
        prior = weights.mean(axis=0)[kept]
        mix = persona_mix(self.data, user_id, state.vectors[kept], prior / max(prior.sum(), 1e-12), history,
                          weights.argmax(axis=1), support_score=weights, persona_ids=kept.tolist())
        return self._established({**mix.to_dict(), **meta}, state)

    def _established(self, answer: dict[str, Any], state: PersonaState) -> dict[str, Any]:
        """Mark every persona of a personas answer established, with the evidence (events) it holds."""
        for persona in answer.get("personas", []):
            index = persona.get("persona")
            persona["state"] = "established"
            if isinstance(index, int) and index < len(state.evidence):
                persona["evidence"] = round(float(state.evidence[index]), 3)
        return answer

    def _candidate(self, state: PersonaState) -> dict[str, Any] | None:
        """The user's candidate persona: its weight, events, sessions, and what it needs to be established."""
        term = self.updater.candidate_term(state)
        if term is None:
            return None
        candidate, rule = state.candidate, self.options.update.persistence()
        nearest = np.argsort(-(self.retriever.items @ term[0]), kind="stable")[:3]
        return {"state": "candidate", "weight": round(term[1], 4), "events": candidate.events,
                "sessions": candidate.sessions, "seconds": round(candidate.last_seen - candidate.first_seen, 1),
                "nearest_items": self.data.item_titles(nearest),
                "established_after": {"events": rule.events, "sessions": rule.sessions, "seconds": rule.span}}

    def post_events(self, user_id: str, events: list[dict]) -> dict[str, Any]:
        """Validate, update the personas, store events and state in one transaction, then apply in memory."""
        post = self.prepare_post(user_id, events)
        return self.finish_post(post, self.commit_post(post))

    def prepare_post(self, user_id: str, events: list[dict]) -> PendingPost:
        """Validate the events (one vectorised item lookup) and compute the state they lead to; nothing changes
        yet. Pure with respect to the service's memory, so the app runs it off the event loop."""
        if not 1 <= len(events) <= MAX_BATCH:
            raise DataError(f"a batch holds 1 to {MAX_BATCH} events, got {len(events)}")
        items = self.item_indices([raw["item"] for raw in events])
        kinds = [raw.get("kind") or "click" for raw in events]
        values = [raw.get("value") for raw in events]
        signs = self.event_signs(kinds, values)
        now = float(self.clock())
        parsed = [Event(str(self.item_lookup[i]), now if raw.get("timestamp") is None else float(raw["timestamp"]),
                        kind, value, received=now) for i, raw, kind, value in zip(items, events, kinds, values)]
        self.sync(user_id)
        history = self.history(user_id)
        return PendingPost(user_id, parsed, items, self.state(user_id),
                           self._update(user_id, EventBatch(items, signs, now)), history,
                           self.last_event.get(user_id, 0))

    def commit_post(self, post: PendingPost) -> list[Event]:
        """Store the events and the new state in one transaction (the slow, durable part: it touches no memory
        state, so the app runs it off the event loop)."""
        new = post.new
        return self.store.append(post.user, post.events,
                                 StoredState(post.user, new.vectors, new.mask, new.source, 0, new.detail()), post.base)

    def finish_post(self, post: PendingPost, stored: list[Event]) -> dict[str, Any]:
        """After the commit: make the new state current and answer (an unacknowledged event changes nothing)."""
        drift = self._drift(post.old, post.new, post.old_history, np.concatenate([post.old_history, post.items]))
        self._apply(post.user, post.new, post.items, stored[-1].id)
        return {"user": post.user, "accepted": len(stored), "event_ids": [e.id for e in stored],
                "source": post.new.source, "drift": drift}

    def _drift(self, old: PersonaState, new: PersonaState, old_history: np.ndarray,
               new_history: np.ndarray) -> dict[str, Any]:
        if len(old.vectors) != len(new.vectors):  # a candidate was established: compare the first K personas
            new = PersonaState(new.vectors[:len(old.vectors)], new.mask[:len(old.vectors)], new.source)
        drift = mixture_drift(old.vectors, new.vectors, self.prior_weights(old, old_history),
                              self.prior_weights(new, new_history), self.updater.bounds.axis)
        return drift.to_dict()

    def events(self, user_id: str, limit: int = 100) -> dict[str, Any]:
        events = self.store.events(user_id, limit)
        found = self.item_lookup.get_indexer(np.asarray([e.item for e in events], dtype=object))
        titles = self.data.item_titles(found[found >= 0])
        named = dict(zip(np.flatnonzero(found >= 0), titles))
        return {"user": user_id, "events": [{**e.to_dict(), "title": named.get(n, e.item)} for n, e in enumerate(events)]}

    def item(self, item_id: str) -> dict[str, Any]:
        index = int(self.item_lookup.get_indexer(np.asarray([str(item_id)], dtype=object))[0])
        if index < 0:
            raise UnknownItemError(f"unknown item id '{item_id}'")
        genres = self.data.item_genres()
        return {"item": str(self.data.item_ids[index]), "title": self.data.item_titles([index])[0],
                "genres": sorted(genres[index]) if genres is not None else [],
                "popularity": int(self.data.item_popularity[index])}

    def users(self, limit: int = 50) -> dict[str, Any]:
        """Some user ids to explore: users with posted events first, then known users in id order."""
        online = sorted(self.states)[:limit]
        known = [str(u) for u in self.data.user_ids[:max(0, limit - len(online))]]
        return {"users": online + [u for u in known if u not in self.states]}

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "items": int(self.data.n_items), "users": int(self.data.n_users),
                "online_users": len(self.states), "retrieval": self.retriever.method,
                "capping": self.options.update.cap, "bounds_from": self.updater.bounds_from,
                "rating_scale": None if self.scale is None else list(self.scale)}
