"""The service's store on PostgreSQL: the same two tables as SQLite, one transaction per POST, shared by replicas.

Several ``personae serve`` processes (replicas) can share one database; each user is served by one replica at
a time, chosen by a hash of the user id (:func:`personae.serve.replicas.replica_for`). Two rules keep a user's
events ordered and every replica's state consistent with the database:

- ``append`` takes a transaction-scoped advisory lock on the user and checks that the user's newest stored
  event is the one the new state was computed from; otherwise another replica wrote meanwhile and the append
  is refused (:class:`~personae.serve.store.StaleStateError`: the service reloads the user and the client retries);
- before answering for a user, a replica compares the user's newest stored event with its own
  (``newest_event``) and, when behind, reloads the stored state and replays the newer events, the same replay
  a restart does. So when a replica dies, the one that takes its users over continues from the database.

Needs psycopg 3 (``pip install "psycopg[binary]"``, the ``serve`` extra).
"""

from __future__ import annotations

import time

import numpy as np

from personae.serve.store import Event, StaleStateError, StoredState, StoreError, decode_state

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    "user" TEXT NOT NULL, item TEXT NOT NULL, timestamp DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL,
    value DOUBLE PRECISION, batch BIGINT NOT NULL, received DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_by_user ON events ("user", id);
CREATE TABLE IF NOT EXISTS personas (
    "user" TEXT PRIMARY KEY, k INTEGER NOT NULL, dim INTEGER NOT NULL, vectors BYTEA NOT NULL, mask BYTEA NOT NULL,
    source TEXT NOT NULL, last_event BIGINT NOT NULL, updated DOUBLE PRECISION NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
STATE_COLUMNS = '"user", k, dim, vectors, mask, source, last_event, detail'


class PostgresStore:
    """PostgreSQL behind the :class:`~personae.serve.store.Store` interface; ``url`` is a libpq URL
    (``postgresql://user@host:port/db``). Writes go through one connection (used from a worker thread), reads
    through another in autocommit mode, as with SQLite."""

    shared = True  # other replicas may write: the service checks a user's newest event before answering

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        try:
            self.writer = psycopg.connect(url)
            self.db = psycopg.connect(url, autocommit=True)
            with self.writer.transaction():
                self.writer.execute("SELECT pg_advisory_xact_lock(20)")  # replicas starting together
                self.writer.execute(SCHEMA)
        except psycopg.Error as exc:
            raise StoreError(f"{_safe(url)}: cannot use this PostgreSQL database ({exc})") from None

    @property
    def path(self) -> str:
        return _safe(self.url)

    def close(self) -> None:
        self.db.close()
        self.writer.close()

    def append(self, user: str, events: list[Event], state_after: StoredState, base: int | None = None) -> list[Event]:
        """Add ``events`` and the state they produced in one transaction. ``base``: the newest event id the
        state was computed from (checked under the user's lock; None skips the check)."""
        stored = []
        with self.writer.transaction():
            self.writer.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (user,))
            if base is not None:
                newest = self._newest(self.writer, user)
                if newest != base:
                    raise StaleStateError(f"user '{user}': another replica stored event {newest} meanwhile; retry")
            batch = 0
            for event in events:
                row = self.writer.execute(
                    'INSERT INTO events ("user", item, timestamp, kind, value, batch, received) '
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (user, event.item, event.timestamp, event.kind, event.value, batch, event.received)).fetchone()
                event_id = int(row[0])
                if not batch:
                    batch = event_id
                    self.writer.execute("UPDATE events SET batch = %s WHERE id = %s", (batch, event_id))
                stored.append(Event(event.item, event.timestamp, event.kind, event.value, event_id, batch,
                                    event.received))
            self._write_state(StoredState(user, state_after.vectors, state_after.mask, state_after.source,
                                          stored[-1].id if stored else state_after.last_event, state_after.detail))
        return stored

    def save_state(self, state: StoredState) -> None:
        with self.writer.transaction():
            self.writer.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (state.user,))
            current = self.writer.execute('SELECT last_event FROM personas WHERE "user" = %s',
                                          (state.user,)).fetchone()
            if current is None or current[0] <= state.last_event:  # never overwrite a newer state
                self._write_state(state)

    def _write_state(self, state: StoredState) -> None:
        import json

        vectors = np.ascontiguousarray(state.vectors, dtype="<f4")
        self.writer.execute(
            'INSERT INTO personas ("user", k, dim, vectors, mask, source, last_event, updated, detail) '
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (\"user\") DO UPDATE SET k = EXCLUDED.k, "
            "dim = EXCLUDED.dim, vectors = EXCLUDED.vectors, mask = EXCLUDED.mask, source = EXCLUDED.source, "
            "last_event = EXCLUDED.last_event, updated = EXCLUDED.updated, detail = EXCLUDED.detail",
            (state.user, vectors.shape[0], vectors.shape[1], vectors.tobytes(),
             np.asarray(state.mask, dtype=np.uint8).tobytes(), state.source, state.last_event, time.time(),
             json.dumps(state.detail)))

    @staticmethod
    def _newest(connection, user: str) -> int:
        row = connection.execute('SELECT COALESCE(MAX(id), 0) FROM events WHERE "user" = %s', (user,)).fetchone()
        return int(row[0])

    def newest_event(self, user: str) -> int:
        """Id of the user's newest stored event (0 without events)."""
        return self._newest(self.db, user)

    def state(self, user: str) -> StoredState | None:
        row = self.db.execute(f'SELECT {STATE_COLUMNS} FROM personas WHERE "user" = %s', (user,)).fetchone()
        return None if row is None else decode_state(*row)

    def events(self, user: str, limit: int | None = None, after: int = 0) -> list[Event]:
        rows = self.db.execute(
            'SELECT item, timestamp, kind, value, id, batch, received FROM events WHERE "user" = %s AND id > %s '
            "ORDER BY id DESC LIMIT %s", (user, after, limit)).fetchall()
        return [Event(*row) for row in rows]

    def states(self) -> list[StoredState]:
        return [decode_state(*row) for row in self.db.execute(f"SELECT {STATE_COLUMNS} FROM personas").fetchall()]

    def users_with_unfolded_events(self) -> list[str]:
        rows = self.db.execute(
            'SELECT DISTINCT e."user" FROM events e LEFT JOIN personas p ON p."user" = e."user" '
            'WHERE p."user" IS NULL OR e.id > p.last_event ORDER BY e."user"').fetchall()
        return [row[0] for row in rows]

    def meta(self, key: str, value: str | None = None) -> str | None:
        if value is not None:
            with self.writer.transaction():
                self.writer.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                                    (key, value))
        row = self.db.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else row[0]


def _safe(url: str) -> str:
    """The URL without its password (errors and logs name the database, never the secret)."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"
