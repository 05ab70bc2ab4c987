"""``personae datasets synth``: the CLI shell over :func:`personae.data.synth.write_synthetic`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from personae.data.synth import SynthOptions, write_synthetic


def synth_command(
    users: Annotated[int, typer.Option("--users", help="number of users")],
    items: Annotated[int, typer.Option("--items", help="number of items")],
    topics: Annotated[int, typer.Option("--topics", help="number of item topics (persona targets)")],
    out: Annotated[Path, typer.Option("--out", help="directory to write the Parquet files into")],
    seed: Annotated[int, typer.Option("--seed")] = 0,
    events_per_user: Annotated[float, typer.Option("--events-per-user", help="mean events per user")] = 20.0,
    chunk_users: Annotated[int, typer.Option("--chunk-users", help="users held in memory at once")] = 65_536,
) -> None:
    """Planted-persona data at scale: interactions, items and the truth (users' personas, each event's)."""
    options = SynthOptions(users, items, topics, seed, events_per_user, chunk_users=chunk_users)
    counts = write_synthetic(options, out, progress=True)["counts"]
    print(f"wrote {counts['events']} events of {counts['users']} users over {counts['items']} items to {out}")
