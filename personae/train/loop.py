"""The one training loop for every torch model: mini-batches of (user, positive, negatives), early stopping
on validation NDCG@10, the best weights restored at the end, a progress bar with loss and validation metric.
"""

from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from personae.data.errors import OptionError
from personae.data.interactions import Interactions
from personae.data.negatives import NegativeSampler
from personae.data.splits import validation_split
from personae.evaluate.evaluator import evaluate
from personae.threads import torch_threads
from personae.train.losses import LOSSES


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
    patience: int = field(default=10, metadata={"help": "epochs without validation gain before stopping"})
    min_epochs: int = field(default=0, metadata={"help": "epochs always run before early stopping may stop"})
    eval_every: int = field(default=1, metadata={"help": "epochs between validation checks"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads while training (1 is fastest at ml-100k size)"})

    def __post_init__(self) -> None:
        """Refuse values the loop cannot run with, naming the option (not a torch error deep in training)."""
        at_least = {"epochs": 0, "batch_size": 1, "negatives": 1, "patience": 0, "min_epochs": 0, "eval_every": 1,
                    "threads": 1, "lr": 0, "weight_decay": 0, "dim": 1,
                    "negative_power": 0}
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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def random_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(negative sampling, epoch order): two independent streams spawned from one seed.

    Two generators seeded with the same integer would draw the same numbers, tying each epoch's order to the
    negatives drawn beside it.
    """
    sampling, order = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(sampling), np.random.default_rng(order)


def train_network(model, train: Interactions, valid: Interactions | None, options: TrainOptions,
                  seed: int) -> TrainReport:
    """Train ``model.network_`` (built already) on ``train``; ``model`` must be a TorchRecommender.

    Each step scores (batch, 1 + negatives) candidate items with ``network(users, items)`` and applies the
    chosen loss; the network may add its own term through an optional ``penalty(users)`` method.
    """
    if options.loss not in LOSSES:
        raise OptionError(f"loss must be one of {sorted(LOSSES)}, got {options.loss!r}")
    with torch_threads(options.threads):  # see personae.threads: small products, one thread is fastest
        return _train(model, train, valid, options, seed)


def _train(model, train: Interactions, valid: Interactions | None, options: TrainOptions, seed: int) -> TrainReport:
    network: torch.nn.Module = model.network_
    loss_fn = LOSSES[options.loss]
    sampling_rng, rng = random_streams(seed)
    sampler = NegativeSampler(train.csr, seed=sampling_rng, power=options.negative_power)
    optimizer = torch.optim.Adam(network.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    split = validation_split(train, valid) if valid is not None and len(valid) else None
    users_all = torch.as_tensor(train.users)
    items_all = torch.as_tensor(train.items)
    best_state, best_ndcg, best_epoch, stale = None, -1.0, 0, 0
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    bar = tqdm(range(1, options.epochs + 1), disable=not options.progress, desc=model.name, leave=False)
    epoch = 0
    for epoch in bar:
        network.train()
        order = torch.as_tensor(rng.permutation(len(train)))
        total, steps = 0.0, 0
        for begin in range(0, len(order), options.batch_size):
            batch = order[begin:begin + options.batch_size]
            users, positives = users_all[batch], items_all[batch]
            negatives = torch.as_tensor(sampler.sample(users.numpy(), options.negatives))
            candidates = torch.cat([positives[:, None], negatives], dim=1)  # (batch, 1 + negatives)
            loss = loss_fn(network(users, candidates))
            if hasattr(network, "penalty"):
                loss = loss + network.penalty(users)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, steps = total + loss.item(), steps + 1
        record = {"epoch": float(epoch), "loss": total / max(steps, 1)}
        if split is not None and epoch % options.eval_every == 0:
            ndcg = evaluate(model, split, part="valid", ks=(10,), beyond_accuracy=False).metrics["ndcg@10"]
            record["valid_ndcg@10"] = ndcg
            if ndcg > best_ndcg:
                best_ndcg, best_epoch, stale = ndcg, epoch, 0
                best_state = copy.deepcopy(network.state_dict())
            else:
                stale += options.eval_every
        history.append(record)
        bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k != "epoch"})
        if split is not None and stale >= options.patience and epoch >= options.min_epochs:
            break
    bar.close()
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return TrainReport(
        epochs_run=epoch,
        best_epoch=best_epoch if split is not None else epoch,
        best_valid_ndcg=best_ndcg if split is not None else None,
        seconds=time.perf_counter() - start,
        history=history,
    )
