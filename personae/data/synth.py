"""Planted-persona data at scale, written to Parquet in chunks of users (bounded memory).

Items are split into ``topics`` contiguous blocks (item ``j`` has topic ``j * topics // items``); within a
topic, item popularity follows Zipf (the topic's first item is its most popular). Each user has 1-3 true
personas, each a distinct topic with a weight (Dirichlet(1)); every event draws a persona by weight, then an
item of its topic by popularity, and the clock moves forward by an exponential gap. Repeated (user, item)
draws keep the first.

Randomness is drawn per block of ``BLOCK_USERS`` users from its own generator (seeded by ``(seed, block)``),
so the data do not depend on the chunk size: chunks only decide how much is held in memory at once.
The small in-memory twin for tests and demos is :func:`personae.data.synthetic.planted_interests`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from personae.data.synthetic import zipf_weights
from personae.errors import DataError, OptionError
from personae.files import write_text_atomic

BLOCK_USERS = 256  # users per random stream; chunks are whole blocks
MAX_PERSONAS = 3
SECONDS_PER_DAY = 86_400
SPAN_SECONDS = 3 * 365 * SECONDS_PER_DAY  # users start within three years of time 0

FILES = {
    "interactions.parquet": {
        "user_id": "int64, user id (0..users-1)",
        "item_id": "int64, item id (0..items-1)",
        "timestamp": "int64, seconds; increasing within each user",
    },
    "event_personas.parquet": {
        "_row": "one row per row of interactions.parquet, in the same order",
        "user_id": "int64", "item_id": "int64",
        "persona": "int8, index into the user's personas in users.parquet (the true persona of the event)",
    },
    "users.parquet": {
        "user_id": "int64",
        "topics": "list<int32>, the topic of each true persona (1-3, distinct)",
        "weights": "list<float32>, each persona's share of the user's events in expectation (sums to 1)",
    },
    "items.parquet": {
        "item_id": "int64",
        "topic": "int32, the item's topic",
        "genres": "string 'topic<t>', read as the item's genre by --item-info",
        "title": "string",
        "popularity_rank": "int32, rank within its topic (0 = most popular)",
    },
}


@dataclass(frozen=True)
class SynthOptions:
    """What to generate. ``events_per_user`` is the mean (at least 3 each, before repeats are dropped)."""

    users: int
    items: int
    topics: int
    seed: int = 0
    events_per_user: float = 20.0
    zipf: float = 1.0
    chunk_users: int = 65_536

    def check(self) -> None:
        for name in ("users", "items", "topics", "chunk_users"):
            if getattr(self, name) < 1:
                raise OptionError(f"--{name.replace('_', '-')} {getattr(self, name)}: expected a positive integer")
        if self.topics > self.items:
            raise OptionError(f"--topics {self.topics}: more topics than --items {self.items}")
        if not self.events_per_user >= 3:
            raise OptionError(f"--events-per-user {self.events_per_user}: expected at least 3")
        if not self.zipf >= 0:
            raise OptionError(f"--zipf {self.zipf}: expected a non-negative number")


@dataclass
class UserBlock:
    """One block of users: their personas, and their events in time order (user-major)."""

    user_id: np.ndarray  # (B,)
    topics: list[list[int]]
    weights: list[list[float]]
    event_user: np.ndarray  # (E,)
    event_item: np.ndarray  # (E,)
    event_time: np.ndarray  # (E,)
    event_persona: np.ndarray  # (E,)


class Catalogue:
    """Items in contiguous topic blocks, with a Zipf sampler per topic size (sizes differ by at most one)."""

    def __init__(self, options: SynthOptions) -> None:
        self.topic_of_item = (np.arange(options.items, dtype=np.int64) * options.topics // options.items)
        self.start = np.searchsorted(self.topic_of_item, np.arange(options.topics))  # (T,) first item
        self.size = np.diff(np.append(self.start, options.items))  # (T,)
        self.cdf = {int(n): np.cumsum(zipf_weights(int(n), options.zipf)) for n in np.unique(self.size)}

    def sample(self, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(E,) topics -> (E,) item ids, by Zipf popularity within each topic."""
        ranks = np.empty(len(topics), dtype=np.int64)
        draws = rng.random(len(topics))
        sizes = self.size[topics]
        for n, cdf in self.cdf.items():
            mask = sizes == n
            ranks[mask] = np.minimum(np.searchsorted(cdf, draws[mask] * cdf[-1], side="right"), n - 1)
        return self.start[topics] + ranks


def user_block(options: SynthOptions, catalogue: Catalogue, block: int) -> UserBlock:
    """Generate block ``block`` (users ``block * BLOCK_USERS`` onwards) from its own random stream."""
    rng = np.random.default_rng([options.seed, block])
    first = block * BLOCK_USERS
    users = np.arange(first, min(first + BLOCK_USERS, options.users), dtype=np.int64)
    b, slots = len(users), min(MAX_PERSONAS, options.topics)
    n_personas = rng.integers(1, slots + 1, size=b)  # (B,)
    topics = _distinct_topics(rng, b, slots, options.topics)  # (B, slots)
    present = np.arange(slots)[None, :] < n_personas[:, None]  # (B, slots)
    weights = rng.gamma(1.0, size=(b, slots)) * present  # Dirichlet(1) over the user's personas
    weights /= weights.sum(axis=1, keepdims=True)

    n_events = 3 + rng.poisson(options.events_per_user - 3, size=b)  # (B,)
    event_user = np.repeat(np.arange(b), n_events)  # (E,) local user index
    cumulative = np.cumsum(weights, axis=1)[event_user]  # (E, slots)
    persona = (rng.random(len(event_user))[:, None] >= cumulative).sum(axis=1)
    persona = np.minimum(persona, n_personas[event_user] - 1)  # float rounding at the top end
    items = catalogue.sample(topics[event_user, persona], rng)
    gaps = rng.exponential(SECONDS_PER_DAY, size=len(event_user))  # (E,)
    clock = np.cumsum(gaps)
    before = (clock - gaps)[np.cumsum(n_events) - n_events]  # (B,) clock before each user's first event
    times = rng.uniform(0, SPAN_SECONDS, size=b)[event_user] + clock - before[event_user]

    # Keep each (user, item) pair's first event: times increase within a user, so order stays by time.
    _, first_seen = np.unique(event_user * options.items + items, return_index=True)
    keep = np.sort(first_seen)
    return UserBlock(
        user_id=users,
        topics=[row[:n].tolist() for row, n in zip(topics, n_personas)],
        weights=[row[:n].tolist() for row, n in zip(weights.astype(np.float32), n_personas)],
        event_user=users[event_user[keep]], event_item=items[keep],
        event_time=times[keep].astype(np.int64), event_persona=persona[keep].astype(np.int8),
    )


def _distinct_topics(rng: np.random.Generator, b: int, slots: int, n_topics: int) -> np.ndarray:
    """(b, slots) topics, distinct within each row; redraws rows with a repeat (rare unless few topics)."""
    topics = rng.integers(0, n_topics, size=(b, slots))
    while True:
        ordered = np.sort(topics, axis=1)
        repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if not repeated.any():
            return topics
        topics[repeated] = rng.integers(0, n_topics, size=(int(repeated.sum()), slots))


def user_chunks(options: SynthOptions) -> Iterator[UserBlock]:
    """The users in chunks of about ``chunk_users`` (whole blocks), each one concatenated block."""
    catalogue = Catalogue(options)
    per_chunk = max(1, -(-options.chunk_users // BLOCK_USERS))
    n_blocks = -(-options.users // BLOCK_USERS)
    for first in range(0, n_blocks, per_chunk):
        blocks = [user_block(options, catalogue, b) for b in range(first, min(first + per_chunk, n_blocks))]
        yield UserBlock(
            user_id=np.concatenate([x.user_id for x in blocks]),
            topics=[t for x in blocks for t in x.topics], weights=[w for x in blocks for w in x.weights],
            **{f: np.concatenate([getattr(x, f) for x in blocks])
               for f in ("event_user", "event_item", "event_time", "event_persona")},
        )


def write_synthetic(options: SynthOptions, out: str | Path, progress: bool = False) -> dict:
    """Write the data, the truth and ``dataset.json`` (files, columns, options, counts) into ``out``.

    Each file is written beside its final name and renamed when complete. Returns the description.
    """
    options.check()
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: exists and is not a directory")
    folder.mkdir(parents=True, exist_ok=True)
    schemas = {
        "interactions.parquet": pa.schema([("user_id", pa.int64()), ("item_id", pa.int64()),
                                           ("timestamp", pa.int64())]),
        "event_personas.parquet": pa.schema([("user_id", pa.int64()), ("item_id", pa.int64()),
                                             ("persona", pa.int8())]),
        "users.parquet": pa.schema([("user_id", pa.int64()), ("topics", pa.list_(pa.int32())),
                                    ("weights", pa.list_(pa.float32()))]),
    }
    scratch = {name: folder / f".{name}.partial" for name in [*schemas, "items.parquet"]}
    writers = {name: pq.ParquetWriter(scratch[name], schema) for name, schema in schemas.items()}
    n_events = 0
    try:
        from tqdm import tqdm

        with tqdm(total=options.users, unit="user", disable=not progress, desc="synth") as bar:
            for chunk in user_chunks(options):
                events = {"user_id": chunk.event_user, "item_id": chunk.event_item}
                writers["interactions.parquet"].write_table(
                    pa.table({**events, "timestamp": chunk.event_time}, schema=schemas["interactions.parquet"]))
                writers["event_personas.parquet"].write_table(
                    pa.table({**events, "persona": chunk.event_persona}, schema=schemas["event_personas.parquet"]))
                writers["users.parquet"].write_table(pa.table(
                    {"user_id": chunk.user_id, "topics": chunk.topics, "weights": chunk.weights},
                    schema=schemas["users.parquet"]))
                n_events += len(chunk.event_user)
                bar.update(len(chunk.user_id))
        for writer in writers.values():
            writer.close()
        _write_items(options, scratch["items.parquet"])
        for name, path in scratch.items():
            os.replace(path, folder / name)
    except BaseException:
        for writer in writers.values():
            writer.close()
        for path in scratch.values():
            path.unlink(missing_ok=True)
        raise
    description = {"generator": "personae datasets synth", "options": asdict(options),
                   "counts": {"users": options.users, "items": options.items, "events": n_events},
                   "files": FILES,
                   "train": f"personae train --data {folder / 'interactions.parquet'} --user-col user_id "
                            f"--item-col item_id --time-col timestamp --item-info {folder / 'items.parquet'} "
                            f"--model ampcf --out DIR"}
    write_text_atomic(folder / "dataset.json", json.dumps(description, indent=2) + "\n")
    return description


def _write_items(options: SynthOptions, path: Path) -> None:
    catalogue = Catalogue(options)
    ids = np.arange(options.items, dtype=np.int64)
    topic = catalogue.topic_of_item.astype(np.int32)
    rank = (ids - catalogue.start[topic]).astype(np.int32)
    genres = pc.binary_join_element_wise("topic", pa.array(topic).cast(pa.string()), "")
    title = pc.binary_join_element_wise(genres, pa.array(rank).cast(pa.string()), " item ")
    table = pa.table({"item_id": ids, "topic": topic, "genres": genres, "title": title, "popularity_rank": rank})
    pq.write_table(table, path)
