"""``personae recommend-all``: the CLI shell over :func:`personae.recommend_all.recommend_all`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from personae.recommend_all import recommend_all


def recommend_all_command(
    model_dir: Path,
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write")],
    k: Annotated[int, typer.Option("--k", help="items per user")] = 10,
    shard: Annotated[str, typer.Option("--shard", help="i/n: only users whose index % n == i")] = "0/1",
    engine: Annotated[str, typer.Option("--engine", help="local, or ray (Ray Data on a local Ray instance)")] = "local",
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda: where the local engine scores")] = "auto",
) -> None:
    """Top-k with persona attribution for every user of a saved model, streamed to Parquet."""
    n = recommend_all(model_dir, out, k=k, shard=shard, engine=engine, progress=True, device=device)
    print(f"wrote top-{k} of {n} users to {out}")
