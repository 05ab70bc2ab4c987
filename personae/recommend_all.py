"""Top-k recommendations with persona attribution for every user of a saved model, streamed to Parquet.

Memory stays bounded whatever the number of users: users are scored in chunks (sized so a chunk's
(users, items) score matrix stays under ``SCORE_BUDGET`` floats), each chunk's rows are appended to the
Parquet file as a row group, and the file is renamed into place only when complete.

``--shard i/n`` takes the users whose index (in the model's user order) satisfies ``index % n == i``, so n
independent processes (or machines) cover every user exactly once; the union of their files equals the
unsharded output. ``--engine ray`` computes the same rows on Ray Data workers (personae.recommend_ray) and streams
them into the same writer.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from personae.errors import DataError, OptionError
from personae.models.base import Recommender
from personae.models.persistence import load_model
from personae.models.torch_base import place_model

SCORE_BUDGET = 1 << 24  # floats in one chunk's score matrix (64 MiB)
ENGINES = ("local", "ray")
SCHEMA = pa.schema([
    ("user", pa.string()), ("rank", pa.int16()), ("item", pa.string()), ("score", pa.float32()),
    ("persona", pa.int16()), ("persona_weight", pa.float32()),
])


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n) with 0 <= i < n."""
    index, _, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not 0 <= i < n:
        raise OptionError(f"--shard {text}: expected i/n with 0 <= i < n, e.g. 0/4")
    return i, n


def chunk_rows(model: Recommender, users: np.ndarray, k: int) -> pa.Table:
    """(B,) user indices -> a table of B * k rows: each user's top-k unseen items, best first, with the
    persona that wins each item (argmax of the candidate-conditional weights; 0 with weight 1 for
    single-vector models). Ranking goes through ``model.rank``: the batched persona kernel for multi-persona
    models (personae.models.scoring), the same one the evaluator and the service use."""
    data = model.fitted_data
    found = model.rank(users, k, data.csr[users], attribution=True)  # training items excluded, as recommend
    b, kk = found.items.shape
    return pa.table({
        "user": np.repeat(data.user_ids[users].astype(str), kk),
        "rank": np.tile(np.arange(1, kk + 1, dtype=np.int16), b),
        "item": data.item_ids[found.items.ravel()].astype(str),
        "score": found.scores.ravel().astype(np.float32), "persona": found.persona.ravel().astype(np.int16),
        "persona_weight": found.weight.ravel().astype(np.float32),
    }, schema=SCHEMA)


def recommend_all(model_dir: str | Path, out: str | Path, k: int = 10, shard: str = "0/1",
                  engine: str = "local", progress: bool = False, device: str = "cpu") -> int:
    """Write the top-k of every user (of the shard) of the model saved in ``model_dir`` to Parquet ``out``.

    Columns: ``user``, ``rank`` (1..k), ``item``, ``score``, ``persona``, ``persona_weight``. The file is
    written beside ``out`` and renamed when complete. Returns the number of users written. The local engine
    scores on ``device`` (personae.train.devices); Ray workers score on their own CPUs.
    """
    if engine not in ENGINES:
        raise OptionError(f"--engine {engine}: expected one of {', '.join(ENGINES)}")
    if k < 1:
        raise OptionError(f"--k {k}: expected a positive integer")
    index, count = parse_shard(shard)
    if engine == "ray":
        from personae.recommend_ray import ray_tables  # says so in one line if ray is not installed
    model = place_model(load_model(model_dir), device)
    n_users, n_items = model.fitted_data.n_users, model.fitted_data.n_items
    users = np.arange(index, n_users, count, dtype=np.int64)
    chunk = max(1, min(4096, SCORE_BUDGET // max(1, n_items)))
    if engine == "ray":
        tables = ray_tables(model_dir, users, chunk, k, chunk_rows, SCHEMA)  # workers load their own model
    else:
        tables = (chunk_rows(model, users[s:s + chunk], k) for s in range(0, len(users), chunk))
    write_streamed(tables, Path(out), len(users), min(k, n_items), progress)
    return len(users)


def write_streamed(tables: Iterator[pa.Table], target: Path, n_users: int, per_user: int, progress: bool) -> None:
    """Append each table as a row group of a scratch file beside ``target``; rename it into place when
    complete (a failure leaves no file)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, scratch = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-")
        os.close(handle)
    except OSError as exc:
        raise DataError(f"{target}: cannot write ({exc.strerror or exc})") from None
    try:
        with pq.ParquetWriter(scratch, SCHEMA) as writer, \
                tqdm(total=n_users, unit="user", disable=not progress, desc="recommend-all") as bar:
            for table in tables:
                writer.write_table(table)
                bar.update(len(table) // per_user)
        os.chmod(scratch, 0o644)
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
