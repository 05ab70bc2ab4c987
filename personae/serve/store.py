"""The service's store: every accepted event and each user's current persona state.

The service talks to the small :class:`Store` interface only; :class:`SQLiteStore` is the embedded default (one
file in WAL mode, ``synchronous=FULL`` so a commit survives a crash of the process or the machine). A store on
a server database implements the same five methods with the same two tables (README: "Serving").

An event batch and the persona state it produced are written in ONE transaction, and the service answers only
after it commits. Each state records the id of the last event folded into it; events with larger ids (written
by another process, or imported) are replayed on start.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from personae.errors import DataError

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user TEXT NOT NULL, item TEXT NOT NULL, timestamp REAL NOT NULL, kind TEXT NOT NULL, value REAL,
    batch INTEGER NOT NULL,  -- id of the first event of the request that posted it: replay folds batches alike
    received REAL NOT NULL DEFAULT 0  -- server clock at arrival: candidate personas persist by it, not timestamp
);
CREATE INDEX IF NOT EXISTS events_by_user ON events (user, id);
CREATE TABLE IF NOT EXISTS personas (
    user TEXT PRIMARY KEY, k INTEGER NOT NULL, dim INTEGER NOT NULL,
    vectors BLOB NOT NULL, mask BLOB NOT NULL,  -- float32 / uint8 little-endian bytes, (k, dim) and (k,)
    source TEXT NOT NULL, last_event INTEGER NOT NULL, updated REAL NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'  -- JSON: evidence per persona, drift anchor, candidate persona
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StoreError(DataError):
    """The store file cannot be used (unreadable, or written for another model)."""


class StaleStateError(StoreError):
    """Another process stored events for this user after this one computed its update: reload and retry."""


@dataclass(frozen=True)
class Event:
    item: str
    timestamp: float
    kind: str  # "click" or "rate"
    value: float | None = None
    id: int = 0  # assigned by the store
    batch: int = 0
    received: float = 0.0  # server clock at arrival (seconds)

    def to_dict(self) -> dict:
        return {"id": self.id, "item": self.item, "timestamp": self.timestamp, "kind": self.kind,
                "value": self.value, "received": self.received}


@dataclass(frozen=True)
class StoredState:
    user: str
    vectors: np.ndarray  # (K, dim) float32
    mask: np.ndarray  # (K,) bool
    source: str
    last_event: int  # id of the newest event folded into ``vectors``
    detail: dict = field(default_factory=dict)  # JSON-able rest of the state (personae.serve.online)


class Store(Protocol):
    """What the service needs from a store."""

    def append(self, user: str, events: list[Event], state_after: StoredState, base: int | None = None) -> list[Event]:
        """Add ``events`` and the state they produced atomically; returns the events with ids. ``base``: the
        user's newest event id the state was computed from; a store refuses the append (StaleStateError) when
        the user has newer events (another process wrote meanwhile)."""

    def save_state(self, state: StoredState) -> None:
        """Write one state alone (after replaying events on start)."""

    def events(self, user: str, limit: int | None = None, after: int = 0) -> list[Event]:
        """The user's events with id > ``after``, newest first, at most ``limit``."""

    def states(self) -> list[StoredState]:
        """Every stored persona state."""

    def users_with_unfolded_events(self) -> list[str]:
        """Users who have events newer than their stored state (or no state at all)."""

    def meta(self, key: str, value: str | None = None) -> str | None:
        """Read a setting; with ``value``, write it first if it is not set yet."""


class SQLiteStore:
    """SQLite in WAL mode: readers never block the writer; each append is one durable transaction.

    Two connections: writes go through ``writer`` and reads through ``db``, so the service can commit from a
    worker thread while the event loop keeps reading, and a read never sees a transaction before it commits.
    """

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = self._connect(synchronous)
            self.writer.executescript(SCHEMA)
            self._add_missing_columns()
            self.db = self._connect(synchronous)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable SQLite store ({exc})") from None

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("PRAGMA busy_timeout=5000")
        return db

    def _add_missing_columns(self) -> None:
        """Stores written before candidate personas lack two columns: add them (old rows get the defaults)."""
        for table, column, declaration in (("events", "received", "REAL NOT NULL DEFAULT 0"),
                                           ("personas", "detail", "TEXT NOT NULL DEFAULT '{}'")):
            names = {row[1] for row in self.writer.execute(f"PRAGMA table_info({table})")}
            if column not in names:
                self.writer.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def close(self) -> None:
        self.db.close()
        self.writer.close()

    def append(self, user: str, events: list[Event], state_after: StoredState, base: int | None = None) -> list[Event]:
        stored = []
        cursor = self.writer.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            if base is not None:
                newest = cursor.execute("SELECT COALESCE(MAX(id), 0) FROM events WHERE user = ?", (user,)).fetchone()[0]
                if newest != base:
                    raise StaleStateError(f"user '{user}': another process stored event {newest} meanwhile; retry")
            insert = ("INSERT INTO events (user, item, timestamp, kind, value, batch, received) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)")
            rows = [(user, e.item, e.timestamp, e.kind, e.value, 0, e.received) for e in events]
            if rows:
                cursor.execute(insert, rows[0])
                batch = int(cursor.lastrowid)  # the batch is named by its first event's id
                cursor.execute("UPDATE events SET batch = ? WHERE id = ?", (batch, batch))
                cursor.executemany(insert, [row[:5] + (batch,) + row[6:] for row in rows[1:]])
                # the write lock is held, so the ids are consecutive; checked, not assumed
                last = cursor.execute("SELECT MAX(id) FROM events").fetchone()[0]
                if last != batch + len(rows) - 1:
                    raise StoreError(f"{self.path}: event ids of one batch are not consecutive")
                stored = [Event(e.item, e.timestamp, e.kind, e.value, batch + n, batch, e.received)
                          for n, e in enumerate(events)]
            self._write_state(cursor, StoredState(user, state_after.vectors, state_after.mask, state_after.source,
                                                  stored[-1].id if stored else state_after.last_event,
                                                  state_after.detail))
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        return stored

    def save_state(self, state: StoredState) -> None:
        """Write one state alone (after replaying events on start)."""
        cursor = self.writer.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        self._write_state(cursor, state)
        cursor.execute("COMMIT")

    @staticmethod
    def _write_state(cursor: sqlite3.Cursor, state: StoredState) -> None:
        vectors = np.ascontiguousarray(state.vectors, dtype="<f4")
        cursor.execute(
            "INSERT OR REPLACE INTO personas (user, k, dim, vectors, mask, source, last_event, updated, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (state.user, vectors.shape[0], vectors.shape[1], vectors.tobytes(),
             np.asarray(state.mask, dtype=np.uint8).tobytes(), state.source, state.last_event, time.time(),
             json.dumps(state.detail)))

    def events(self, user: str, limit: int | None = None, after: int = 0) -> list[Event]:
        rows = self.db.execute(
            "SELECT item, timestamp, kind, value, id, batch, received FROM events WHERE user = ? AND id > ? "
            "ORDER BY id DESC LIMIT ?", (user, after, -1 if limit is None else limit)).fetchall()
        return [Event(*row) for row in rows]

    def states(self) -> list[StoredState]:
        rows = self.db.execute(
            "SELECT user, k, dim, vectors, mask, source, last_event, detail FROM personas").fetchall()
        return [decode_state(*row) for row in rows]

    def users_with_unfolded_events(self) -> list[str]:
        rows = self.db.execute(
            "SELECT DISTINCT e.user FROM events e LEFT JOIN personas p ON p.user = e.user "
            "WHERE p.user IS NULL OR e.id > p.last_event ORDER BY e.user").fetchall()
        return [row[0] for row in rows]

    def meta(self, key: str, value: str | None = None) -> str | None:
        if value is not None:
            self.writer.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]


def decode_state(user: str, k: int, dim: int, vectors: bytes, mask: bytes, source: str, last_event: int,
                 detail: str) -> StoredState:
    """One ``personas`` row as a StoredState (the byte layouts are the same in every store)."""
    return StoredState(user, np.frombuffer(bytes(vectors), dtype="<f4").reshape(k, dim).astype(np.float32),
                       np.frombuffer(bytes(mask), dtype=np.uint8).astype(bool), source, last_event,
                       json.loads(detail or "{}"))
