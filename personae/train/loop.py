"""The one training loop for every torch model: mini-batches of (user, positive, negatives), early stopping
on validation NDCG@10, the best weights restored at the end, a progress bar with loss and validation metric.

Scale (see README "Training at scale"): ``optimizer`` picks dense Adam or sparse tables + SparseAdam
(:mod:`personae.train.optim`); under ``torchrun`` each rank trains on its users' events and gradients are
averaged (:mod:`personae.train.distributed`); ``checkpoint_dir`` writes a checkpoint after every epoch and
``resume`` continues from it exactly (:mod:`personae.train.checkpoint`).
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from personae.data.interactions import Interactions
from personae.data.negatives import NegativeSampler
from personae.data.splits import validation_split
from personae.errors import OptionError
from personae.evaluate.evaluator import evaluate
from personae.threads import torch_threads
from personae.train.checkpoint import Checkpoint, LoopState, load_checkpoint, save_checkpoint
from personae.train.devices import autocast, check_precision, module_device
from personae.train.distributed import Distributed
from personae.train.losses import LOSSES
from personae.train.optim import Optimizers, wants_sparse


@dataclass
class TrainOptions:
    """Options shared by every torch model (a model's own options dataclass inherits these)."""

    epochs: int = field(default=100, metadata={"help": "maximum passes over the training events"})
    batch_size: int = field(default=2048, metadata={"help": "training events per step"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam weight decay (L2 on all parameters)"})
    loss: str = field(default="bpr", metadata={"help": "'bpr' or 'softmax' (sampled softmax)"})
    negatives: int = field(default=1, metadata={"help": "sampled negatives per positive"})
    negative_power: float = field(default=0.0, metadata={
        "help": "negatives drawn in proportion to (item count + 1) ** power; 0 = uniform"})
    negative_pool: int = field(default=0, metadata={
        "help": "negatives drawn from a per-step pool of this many items (0 = independent draws)"})
    patience: int = field(default=10, metadata={"help": "epochs without validation gain before stopping"})
    min_epochs: int = field(default=0, metadata={"help": "epochs always run before early stopping may stop"})
    eval_every: int = field(default=1, metadata={"help": "epochs between validation checks"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads while training (1 is fastest at ml-100k size)"})
    optimizer: str = field(default="auto", metadata={
        "help": "'dense' (Adam), 'sparse' (row tables + SparseAdam) or 'auto' (sparse from 100,000 users)"})
    steps_per_epoch: int = field(default=0, metadata={"help": "cap on steps per epoch (0 = every event once)"})
    checkpoint_dir: str = field(default="", metadata={"help": "write a checkpoint here after every epoch ('' = none)"})
    resume: bool = field(default=False, metadata={"help": "continue from the checkpoint in checkpoint_dir"})
    device: str = field(default="auto", metadata={
        "help": "'auto' (the GPU when there is one), 'cpu' or 'cuda': where the network trains and scores"})
    precision: str = field(default="fp32", metadata={
        "help": "'fp32' or 'bf16' (autocast of the training forward pass; meant for GPUs)"})

    def __post_init__(self) -> None:
        """Refuse values the loop cannot run with, naming the option (not a torch error deep in training)."""
        at_least = {"epochs": 0, "batch_size": 1, "negatives": 1, "patience": 0, "min_epochs": 0, "eval_every": 1,
                    "threads": 1, "lr": 0, "weight_decay": 0, "dim": 1,
                    "steps_per_epoch": 0, "negative_power": 0, "negative_pool": 0}
        for name, low in at_least.items():
            value = getattr(self, name, low)
            if isinstance(value, (int, float)) and value < low:
                raise OptionError(f"{name} must be at least {low}, got {value}")


@dataclass
class TrainReport:
    epochs_run: int
    best_epoch: int
    best_valid_ndcg: float | None
    seconds: float
    history: list[dict[str, float]]
    optimizer: str = "dense"  # what 'auto' chose: 'dense' or 'sparse'
    cpu_seconds: float = 0.0  # this process's CPU time over the epochs (wall ``seconds`` counts other jobs' load)
    epoch_seconds: list[float] = field(default_factory=list)  # wall, per epoch run in this call (timing only)
    epoch_cpu_seconds: list[float] = field(default_factory=list)  # CPU, per epoch run in this call


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def random_streams(seed: int, rank: int = 0) -> tuple[np.random.Generator, np.random.Generator]:
    """(negative sampling, epoch order): two independent streams spawned from one seed.

    Two generators seeded with the same integer would draw the same numbers, tying each epoch's order to the
    negatives drawn beside it. Rank r of a distributed run takes children 2r and 2r + 1 (rank 0: the
    single-process streams).
    """
    sampling, order = np.random.SeedSequence(seed).spawn(2 * rank + 2)[-2:]
    return np.random.default_rng(sampling), np.random.default_rng(order)


def epoch_batches(n_events: int, rng: np.random.Generator, batch_size: int, n_steps: int) -> Iterator[torch.Tensor]:
    """``n_steps`` batches of event positions in a fresh random order; a new order is drawn if the events run out
    first (a small shard keeping step with the largest). Streams slices of one permutation: no per-epoch lists."""
    order, position = torch.as_tensor(rng.permutation(n_events)), 0
    for _ in range(n_steps):
        if position >= n_events:
            order, position = torch.as_tensor(rng.permutation(n_events)), 0
        yield order[position:position + batch_size]
        position += batch_size


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch tensor on the training device (on the CPU: the tensor itself, untouched)."""
    return tensor if device.type == "cpu" else tensor.to(device)


def train_network(model, train: Interactions, valid: Interactions | None, options: TrainOptions,
                  seed: int) -> TrainReport:
    """Train ``model.network`` (built already) on ``train``; ``model`` must be a TorchRecommender.

    Each step scores (batch, 1 + negatives) candidate items with ``network(users, items)`` and applies the
    chosen loss, plus the network's own ``penalty(users)`` term when it returns one (personae.models.network).
    """
    if options.loss not in LOSSES:
        raise OptionError(f"loss must be one of {sorted(LOSSES)}, got {options.loss!r}")
    check_precision(options.precision)
    with torch_threads(options.threads):  # see personae.threads: small products, one thread is fastest
        return _train(model, train, valid, options, seed)


def _train(model, train: Interactions, valid: Interactions | None, options: TrainOptions, seed: int) -> TrainReport:
    network: torch.nn.Module = model.network
    device = module_device(network)  # the model placed it (TorchRecommender.fit): batches follow it
    loss_fn = LOSSES[options.loss]
    world = Distributed.current()
    sparse = wants_sparse(options.optimizer, network, train.n_users) and world.sparse_collectives
    optimizers = Optimizers(network, options.lr, options.weight_decay, sparse)
    sampling_rng, rng = random_streams(seed, world.rank)
    sampler = NegativeSampler(train.csr, seed=sampling_rng, power=options.negative_power)
    split = validation_split(train, valid) if valid is not None and len(valid) else None
    mine = world.shard(train.users)  # (events,) positions of this rank's events; all of them in one process
    users_all = torch.as_tensor(train.users[mine])
    items_all = torch.as_tensor(train.items[mine])
    n_steps = world.steps_per_epoch(len(mine), options.batch_size)
    n_steps = min(n_steps, options.steps_per_epoch) if options.steps_per_epoch else n_steps
    trainer = world.wrap(network, list(optimizers.tables))
    meta = {"model": model.name, "n_users": train.n_users, "n_items": train.n_items, "events": len(train),
            "seed": seed, "world_size": world.world, "optimizer": "sparse" if sparse else "dense"}
    state, best_state = LoopState(), None
    if options.resume:
        restored = load_checkpoint(options.checkpoint_dir, meta, optimizers)
        state, best_state = restored.loop, restored.best
        _restore_streams(restored, network, world.rank, sampling_rng, rng)
    start, cpu_start = time.perf_counter(), time.process_time()
    epoch_seconds: list[float] = []
    epoch_cpu_seconds: list[float] = []
    last = state.epoch if state.finished else options.epochs  # early stopping fired before the checkpoint
    bar = tqdm(range(state.epoch + 1, last + 1), disable=not options.progress, desc=model.name, leave=False)
    network.sparse_gradients = sparse  # row tables gather with sparse gradients (networks that have them)
    try:
        for epoch in bar:
            epoch_start, epoch_cpu = time.perf_counter(), time.process_time()
            network.train()
            # float64 sum of float32 losses, as a Python float sum of loss.item() would be, but kept on the
            # device: no GPU sync per step
            total, steps = torch.zeros((), dtype=torch.float64, device=device), 0
            for batch in epoch_batches(len(mine), rng, options.batch_size, n_steps):
                users, positives = users_all[batch], items_all[batch]
                negatives = torch.as_tensor(sampler.sample(users.numpy(), options.negatives,
                                                                 pool=options.negative_pool))
                candidates = torch.cat([positives[:, None], negatives], dim=1)  # (batch, 1 + negatives)
                users, candidates = to_device(users, device), to_device(candidates, device)
                with autocast(device, options.precision):
                    loss = loss_fn(trainer(users, candidates))
                    extra = network.penalty(users)
                    if extra is not None:
                        loss = loss + extra
                optimizers.zero_grad()
                loss.backward()
                world.reduce_tables(optimizers.tables)
                optimizers.step()
                total, steps = total + loss.detach().double(), steps + 1
            record = {"epoch": float(epoch), "loss": float(total) / max(steps, 1)}
            epoch_seconds.append(time.perf_counter() - epoch_start)
            epoch_cpu_seconds.append(time.process_time() - epoch_cpu)
            state.epoch = epoch
            if split is not None and epoch % options.eval_every == 0:
                # rank 0 evaluates (parameters are equal on every rank) and tells the others
                ndcg = evaluate(model, split, part="valid", ks=(10,), beyond_accuracy=False).metrics["ndcg@10"] \
                    if world.rank == 0 else 0.0
                ndcg = world.from_rank0(ndcg)
                record["valid_ndcg@10"] = ndcg
                if ndcg > state.best_ndcg:
                    state.best_ndcg, state.best_epoch, state.stale = ndcg, epoch, 0
                    best_state = copy.deepcopy(network.state_dict())
                else:
                    state.stale += options.eval_every
            state.history.append(record)
            bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k != "epoch"})
            state.finished = split is not None and state.stale >= options.patience and epoch >= options.min_epochs
            if options.checkpoint_dir:
                _checkpoint(options.checkpoint_dir, meta, state, network, best_state, optimizers, world,
                            sampling_rng, rng)
            if state.finished:
                break
    finally:
        network.sparse_gradients = False
    bar.close()
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return TrainReport(
        epochs_run=state.epoch,
        best_epoch=state.best_epoch if split is not None else state.epoch,
        best_valid_ndcg=state.best_ndcg if split is not None else None,
        seconds=time.perf_counter() - start,
        history=state.history,
        optimizer="sparse" if sparse else "dense",
        cpu_seconds=time.process_time() - cpu_start,
        epoch_seconds=epoch_seconds,
        epoch_cpu_seconds=epoch_cpu_seconds,
    )


def _checkpoint(folder: str, meta: dict, state: LoopState, network: torch.nn.Module, best_state: dict | None,
                optimizers: Optimizers, world: Distributed, sampling_rng: np.random.Generator,
                rng: np.random.Generator) -> None:
    """Gather every rank's random stream positions; rank 0 alone writes the checkpoint."""
    streams = world.gather_json({"sampling": sampling_rng.bit_generator.state, "order": rng.bit_generator.state})
    torch_rng = world.gather_tensor(torch.get_rng_state())
    if world.rank == 0:
        save_checkpoint(folder, meta, state, network, best_state, optimizers, streams, torch_rng)


def _restore_streams(restored: Checkpoint, network: torch.nn.Module, rank: int, sampling_rng: np.random.Generator,
                     rng: np.random.Generator) -> None:
    """Weights, and this rank's random streams where the checkpoint left them."""
    network.load_state_dict(restored.network)
    sampling_rng.bit_generator.state = restored.streams[rank]["sampling"]
    rng.bit_generator.state = restored.streams[rank]["order"]
    torch.set_rng_state(restored.torch_rng[rank])
