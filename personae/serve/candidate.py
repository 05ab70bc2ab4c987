"""Candidate personas: a burst of interest outside every persona is held apart until it persists.

After PinnerSage, which keeps short-term clusters apart from long-term ones: an event that no established
persona claims (its item ranks low for the user) feeds one *candidate* persona instead of moving the
established ones. The candidate enters the user's scores with a bounded weight (``weight``), so fifty clicks
in one minute change the list by at most that weight. It becomes an established persona only when the
interest persists: enough events, over enough sessions, spanning enough time, all measured on the server's
clock (an attacker controls the events' own timestamps, not the time they arrive).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PersistenceRule:
    """When a candidate becomes established (server clock, seconds)."""

    events: int = 5  # novel events it has absorbed
    sessions: int = 2  # sessions they came in (a new session starts after ``session_gap`` of silence)
    span: float = 3600.0  # seconds from its first event to its latest
    session_gap: float = 1800.0


@dataclass(frozen=True)
class Candidate:
    """One candidate persona: the mean direction of the novel items it absorbed, scaled to ``norm``."""

    total: np.ndarray  # (dim,) sum of the unit vectors of its items
    events: int
    first_seen: float  # server clock of its first event
    last_seen: float
    sessions: int

    def vector(self, norm: float) -> np.ndarray:
        """(dim,) the candidate as a persona vector of length ``norm`` (the user's typical persona length)."""
        length = float(np.linalg.norm(self.total))
        return (self.total * (norm / max(length, 1e-12))).astype(np.float32)

    def absorb(self, unit_items: np.ndarray, now: float, rule: PersistenceRule) -> Candidate:
        """The candidate after novel items (n, dim unit vectors) that arrived at server time ``now``."""
        new_session = now - self.last_seen >= rule.session_gap
        return Candidate(self.total + unit_items.sum(axis=0), self.events + len(unit_items), self.first_seen, now,
                         self.sessions + int(new_session))

    def persisted(self, rule: PersistenceRule) -> bool:
        return (self.events >= rule.events and self.sessions >= rule.sessions
                and self.last_seen - self.first_seen >= rule.span)

    def to_dict(self) -> dict:
        return {"total": self.total.tolist(), "events": self.events, "first_seen": self.first_seen,
                "last_seen": self.last_seen, "sessions": self.sessions}

    @classmethod
    def from_dict(cls, values: dict) -> Candidate:
        return cls(np.asarray(values["total"], dtype=np.float64), int(values["events"]),
                   float(values["first_seen"]), float(values["last_seen"]), int(values["sessions"]))


def start_candidate(unit_items: np.ndarray, now: float) -> Candidate:
    """A new candidate from its first novel items (n, dim unit vectors) at server time ``now``."""
    return Candidate(unit_items.sum(axis=0).astype(np.float64), len(unit_items), now, now, 1)
