"""Training checkpoints: everything the loop needs to continue exactly where it stopped.

A checkpoint folder holds ``state-<epoch>.safetensors`` (weights, best weights so far, optimiser moments, each
rank's torch RNG state) and ``checkpoint.json`` (epoch counters, history, each rank's numpy stream positions,
optimiser step counts, and the SHA-256 of the weights file). The weights file is written beside its name and
renamed; checkpoint.json, written atomically after it, is what makes a new checkpoint current, so a crash at
any moment leaves the previous checkpoint whole. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from personae.errors import DataError
from personae.files import read_json, write_text_atomic
from personae.train.optim import Optimizers

FORMAT = "personae-checkpoint/1"
INDEX = "checkpoint.json"


@dataclass
class LoopState:
    """Where the loop is: the last finished epoch and the early-stopping bookkeeping."""

    epoch: int = 0
    best_ndcg: float = -1.0
    best_epoch: int = 0
    stale: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    finished: bool = False  # early stopping fired: resuming only restores the best weights


@dataclass
class Checkpoint:
    loop: LoopState
    network: dict[str, torch.Tensor]
    best: dict[str, torch.Tensor] | None
    streams: list[dict[str, Any]]  # per rank: numpy bit-generator states of the sampling and order streams
    torch_rng: list[torch.Tensor]  # per rank


def save_checkpoint(folder: str | Path, meta: dict[str, Any], loop: LoopState, network: torch.nn.Module,
                    best: dict[str, torch.Tensor] | None, optimizers: Optimizers, streams: list[dict[str, Any]],
                    torch_rng: list[torch.Tensor]) -> Path:
    """Write a checkpoint into ``folder`` (rank 0 alone calls this); returns the weights file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # safetensors files hold CPU tensors; a network trained on a GPU is copied down
    tensors = {f"network.{k}": v.detach().cpu().clone().contiguous() for k, v in network.state_dict().items()}
    if best is not None:
        tensors.update({f"best.{k}": v.cpu().contiguous() for k, v in best.items()})
    moments, scalars = _optimizer_state(optimizers)
    tensors.update(moments)
    tensors.update({f"torch_rng.{rank}": state for rank, state in enumerate(torch_rng)})
    weights = folder / f"state-{loop.epoch}.safetensors"
    handle, scratch = tempfile.mkstemp(dir=folder, prefix=f".{weights.name}-")
    os.close(handle)
    try:
        save_file(tensors, scratch)
        os.chmod(scratch, 0o644)  # mkstemp makes files private
        os.replace(scratch, weights)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    index = {"format": FORMAT, "meta": meta, "loop": asdict(loop), "streams": streams, "optimizer": scalars,
             "weights": weights.name, "sha256": _sha256(weights)}
    write_text_atomic(folder / INDEX, json.dumps(index, indent=1))
    for old in folder.glob("state-*.safetensors"):
        if old != weights:
            old.unlink(missing_ok=True)
    return weights


def load_checkpoint(folder: str | Path, meta: dict[str, Any], optimizers: Optimizers) -> Checkpoint:
    """Read the checkpoint in ``folder``, refusing one written for another run (``meta`` differs), and load
    the optimiser state into ``optimizers``."""
    folder = Path(folder)
    index_path = folder / INDEX
    if not index_path.is_file():
        raise DataError(f"{index_path}: no checkpoint to resume from")
    index = read_json(index_path)
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise DataError(f"{index_path}: not a {FORMAT} file (field 'format')")
    for key, value in meta.items():
        if index["meta"].get(key) != value:
            raise DataError(f"{index_path}: field 'meta.{key}' is {index['meta'].get(key)!r}, this run has {value!r}")
    weights = folder / index["weights"]
    if not weights.is_file() or _sha256(weights) != index["sha256"]:
        raise DataError(f"{weights}: missing or checksum mismatch")
    try:
        tensors = load_file(str(weights))
    except SafetensorError as exc:
        raise DataError(f"{weights}: not a readable safetensors file ({exc})") from None
    _load_optimizer_state(optimizers, tensors, index["optimizer"])

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    best = part("best.")
    return Checkpoint(loop=LoopState(**index["loop"]), network=part("network."), best=best or None,
                      streams=index["streams"], torch_rng=[tensors[f"torch_rng.{r}"] for r in range(len(index["streams"]))])


def _optimizer_state(optimizers: Optimizers) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Moments as tensors ``optimizer.<part>.<param>.<key>``; step counts kept as JSON numbers when not tensors."""
    tensors, scalars = {}, {}
    for j, part in enumerate(optimizers.parts):
        for i, state in part.state_dict()["state"].items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer.{j}.{i}.{key}"] = value.cpu().contiguous()
                else:
                    scalars[f"{j}.{i}.{key}"] = value
    return tensors, scalars


def _load_optimizer_state(optimizers: Optimizers, tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> None:
    for j, part in enumerate(optimizers.parts):
        state: dict[int, dict[str, Any]] = {}
        for name, value in tensors.items():
            head, _, key = name.rpartition(".")
            if head.startswith(f"optimizer.{j}."):
                state.setdefault(int(head.split(".")[2]), {})[key] = value
        for name, value in scalars.items():
            index, param, key = name.split(".")
            if int(index) == j:
                state.setdefault(int(param), {})[key] = value
        part.load_state_dict({"state": state, "param_groups": part.state_dict()["param_groups"]})


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
