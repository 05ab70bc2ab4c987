"""``recommend-all --engine ray``: the same rows as the local engine, computed by Ray Data workers.

The user indices become a Ray dataset of one block per chunk (8 bytes a user; in-memory blocks, so no read
task competes with the workers for the CPUs, which deadlocked ``ray.data.range`` on 2 CPUs); each worker is an
actor that loads the saved model once and turns a block of user ids into rows with the function the local
engine hands it (:func:`~personae.recommend_all.chunk_rows`: a plug-in, it never imports its caller). The driver streams the result blocks, in order, into
the same Parquet writer, so memory stays bounded and the file equals the local one row for row.

Without a running Ray instance one is started on this machine (``num_cpus`` workers, no dashboard, no usage
report) and stopped at the end; on a cluster, call ``ray.init(address=...)`` first and it is used as is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from personae.errors import OptionError
from personae.models.base import Recommender
from personae.models.persistence import load_model

try:
    import ray
    import ray.data
except ImportError:  # an optional extra: personae[scale]
    raise OptionError("--engine ray: ray is not installed (pip install 'personae[scale]')") from None

LOCAL_CPUS = 2  # workers of a Ray instance started here (this machine has 2 cores)


RowsOf = Callable[[Recommender, np.ndarray, int], pa.Table]  # (model, (B,) user indices, k) -> B * k rows


class RankBlock:
    """A Ray Data actor: a block of user ids -> their top-k rows, with the model loaded once per actor."""

    def __init__(self, model_dir: str, k: int, rows_of: RowsOf) -> None:
        self.model, self.k, self.rows_of = load_model(model_dir), k, rows_of

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        return self.rows_of(self.model, np.asarray(batch["user"], dtype=np.int64), self.k)


def ray_tables(model_dir: str | Path, users: np.ndarray, chunk: int, k: int, rows_of: RowsOf,
               schema: pa.Schema, workers: int = LOCAL_CPUS) -> Iterator[pa.Table]:
    """Tables of rows for ``users`` (B,) in order, ``chunk`` users per Ray batch, over ``workers`` actors;
    ``rows_of`` makes a block's rows (the local engine's own function) and ``schema`` is theirs."""
    if not len(users):
        return
    started = not ray.is_initialized()
    if started:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no report over the network
        ray.init(num_cpus=LOCAL_CPUS, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # rows in user order, as the local engine writes them
        context.enable_progress_bars = False  # recommend-all draws its own
        blocks = [pa.table({"user": users[s:s + chunk]}) for s in range(0, len(users), chunk)]
        dataset = ray.data.from_arrow(blocks).map_batches(
            RankBlock, fn_constructor_kwargs={"model_dir": str(model_dir), "k": k, "rows_of": rows_of},
            batch_size=chunk, batch_format="numpy", concurrency=workers, num_cpus=1)
        for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            yield table.select(schema.names).cast(schema)
    finally:
        if started:
            ray.shutdown()
