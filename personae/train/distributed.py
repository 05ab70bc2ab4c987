"""Data-parallel training on PyTorch's own engine (torch.distributed, launched by ``torchrun``).

Tables are replicated, data are sharded by user: every rank holds the whole model and trains on the events of
the users with ``user index % world_size == rank``. Dense parameters are averaged by DDP. Row tables trained
sparsely (see :mod:`personae.train.optim`) are averaged by a sparse all-reduce of their row gradients: DDP's
own reducer only recognises sparse gradients from ``nn.Embedding(sparse=True)`` modules, and our persona tables
are (users, K, dim) parameters. Gloo implements the sparse all-reduce; NCCL does not, so under NCCL the loop
trains dense. Outside torchrun, :meth:`Distributed.current` is a world of one and every method is a no-op.

With CUDA (``--device auto`` on a GPU machine, or ``cuda``) each process joins with NCCL and takes the GPU of
its LOCAL_RANK: one GPU per process. NCCL moves CUDA tensors only, so the small bookkeeping collectives
(step counts, the validation metric, random stream states) travel through :attr:`Distributed.device`.
"""

from __future__ import annotations

import gc
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from personae.errors import OptionError
from personae.train.devices import resolve_device


def start(device: str = "auto") -> Distributed:
    """Join the process group that ``torchrun`` describes in the environment: gloo when training on the CPU,
    NCCL with one GPU per process when ``device`` resolves to CUDA."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise OptionError("--distributed: launch with torchrun (RANK and WORLD_SIZE are not set)")
    if not dist.is_initialized():
        place = resolve_device(device)
        if place.type == "cuda":
            torch.cuda.set_device(place)
        dist.init_process_group(backend_for(place))
    return Distributed.current()


def backend_for(device: torch.device) -> str:
    """The collective backend for networks on ``device``: NCCL for GPUs, gloo for the CPU."""
    return "nccl" if device.type == "cuda" else "gloo"


def stop() -> None:
    """Leave the process group, then collect garbage while the interpreter is whole: DDP wrappers caught in
    reference cycles otherwise die at interpreter exit, after the group, and about 1 run in 10 on 2 loaded cores
    aborted there ("terminate called without an active exception", exit code -6) with its work already done."""
    if dist.is_initialized():
        dist.destroy_process_group()
        gc.collect()


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1

    @classmethod
    def current(cls) -> Distributed:
        if not dist.is_available() or not dist.is_initialized():
            return cls()
        return cls(dist.get_rank(), dist.get_world_size())

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def sparse_collectives(self) -> bool:
        """Whether the backend can all-reduce sparse gradients (gloo can, nccl cannot)."""
        return not self.active or dist.get_backend() == "gloo"

    def shard(self, users: np.ndarray) -> np.ndarray:
        """(events,) user index of each event -> indices of this rank's events (its users' events)."""
        mine = np.flatnonzero(users % self.world == self.rank) if self.active else np.arange(len(users))
        if self.active and not len(mine):
            raise OptionError(f"rank {self.rank} of {self.world} has no training events: fewer users than processes?")
        return mine

    @property
    def device(self) -> torch.device:
        """Where this rank's collective tensors live: its GPU under NCCL, else the CPU."""
        if self.active and dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def steps_per_epoch(self, n_events: int, batch_size: int) -> int:
        """Steps every rank takes in an epoch: the largest shard's, so all ranks step (and reduce) together."""
        steps = torch.tensor([-(-n_events // batch_size)], dtype=torch.long, device=self.device)
        if self.active:
            dist.all_reduce(steps, op=dist.ReduceOp.MAX)
        return int(steps)

    def wrap(self, network: torch.nn.Module, sparse_tables: list[str]) -> torch.nn.Module:
        """The module to call in training: DDP over the dense parameters, or the network itself.

        Parameters start equal on every rank (rank 0's are broadcast). Buffers are not broadcast per step:
        they do not change while training.
        """
        if not self.active:
            return network
        for tensor in [*network.parameters(), *network.buffers()]:
            dist.broadcast(tensor.data, src=0)
        names = set(sparse_tables)
        if all(name in names for name, _ in network.named_parameters()):
            return network  # every parameter is a sparse table: reduce_tables averages them all
        # DDP spells a top-level parameter "name" in one check and ".name" in another: give both
        ignored = [spelling for name in names for spelling in (name, name if "." in name else f".{name}")]
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(network, ignored)
        place = next(network.parameters()).device
        device_ids = [place.index] if place.type == "cuda" else None  # one GPU per process
        return DistributedDataParallel(network, device_ids=device_ids, forward_sync_buffers=False)

    def reduce_tables(self, tables: dict[str, torch.nn.Parameter]) -> None:
        """Average the sparse row gradients of the tables over ranks (a gloo sparse all-reduce each)."""
        if not self.active:
            return
        for table in tables.values():
            grad = table.grad if table.grad is not None else torch.sparse_coo_tensor(
                torch.zeros((1, 0), dtype=torch.long), torch.zeros((0, *table.shape[1:])), table.shape)
            grad = grad.coalesce()
            dist.all_reduce(grad)  # in place on the coalesced tensor
            table.grad = grad / self.world

    def from_rank0(self, value: float) -> float:
        """Rank 0's value on every rank (e.g. the validation metric that rank 0 alone computes)."""
        if not self.active:
            return value
        box = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.broadcast(box, src=0)
        return float(box)

    def gather_json(self, value: Any) -> list[Any]:
        """Every rank's JSON-able ``value``, in rank order (sent as UTF-8 bytes: nothing is pickled)."""
        if not self.active:
            return [value]
        where = self.device
        data = torch.tensor(list(json.dumps(value).encode("utf-8")), dtype=torch.uint8)
        sizes = [torch.zeros(1, dtype=torch.long, device=where) for _ in range(self.world)]
        dist.all_gather(sizes, torch.tensor([len(data)], device=where))
        longest = int(max(sizes))
        padded = torch.zeros(longest, dtype=torch.uint8, device=where)
        padded[:len(data)] = data
        parts = [torch.zeros(longest, dtype=torch.uint8, device=where) for _ in range(self.world)]
        dist.all_gather(parts, padded)
        return [json.loads(bytes(p[:int(n)].cpu().tolist()).decode("utf-8")) for p, n in zip(parts, sizes)]

    def gather_tensor(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's tensor (same shape and dtype on all ranks), in rank order."""
        if not self.active:
            return [tensor]
        on_device = tensor.to(self.device)
        parts = [torch.empty_like(on_device) for _ in range(self.world)]
        dist.all_gather(parts, on_device)
        return [part.to(tensor.device) for part in parts]


def checkpoint_params(checkpoint: str | os.PathLike | None, resume: str | os.PathLike | None) -> list[str]:
    """``--checkpoint DIR`` / ``--resume DIR`` as training options (``--resume`` keeps writing into DIR)."""
    if resume is not None:
        return [f"checkpoint_dir={resume}", "resume=true"]
    return [f"checkpoint_dir={checkpoint}"] if checkpoint is not None else []
