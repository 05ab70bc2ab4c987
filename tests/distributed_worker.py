"""Run by tests/test_scale_training.py under ``torch.distributed.run --nproc_per_node=2``: trains on tiny planted
data with DDP and writes, from rank 0, whether parameters agree across ranks and the loss per epoch."""

from __future__ import annotations

import json
import sys

import torch

from personae.data import leave_last_out
from personae.data.synthetic import planted_interests
from personae.models.ampcf import AMPCF
from personae.models.mf import MF
from personae.train import distributed


def in_sync(model) -> bool:
    """Whether every parameter equals rank 0's, bit for bit."""
    world = distributed.Distributed.current()
    return all(torch.equal(*world.gather_tensor(p.detach())) for p in model.network_.parameters())


def main(out: str, checkpoints: str) -> None:
    world = distributed.start()
    split = leave_last_out(planted_interests(n_users=60, n_clusters=4, items_per_cluster=10, events_per_user=12))
    results = {}
    for name, cls, optimizer in (("ampcf-dense", AMPCF, "dense"), ("mf-sparse", MF, "sparse")):
        model = cls(epochs=4, dim=8, batch_size=64, lr=0.02, progress=False, optimizer=optimizer,
                    checkpoint_dir=f"{checkpoints}/{name}").fit(split.train)
        results[name] = {"in_sync": in_sync(model), "loss": [h["loss"] for h in model.report_.history],
                         "optimizer": model.report_.optimizer, "world": world.world}
    if world.rank == 0:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(results, handle)
    distributed.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
