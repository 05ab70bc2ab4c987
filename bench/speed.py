"""Training and full-ranking time of the torch models on MovieLens-100K (seed 0), for the DIN/MIND speed-up.

Measures, per model, seconds per training epoch (validation off, so the epoch is training alone), seconds of
one full-ranking evaluation of every test user, and optionally a complete default training run (early
stopping on validation, which runs a full ranking of the validation users every epoch). Run it once on the
code before a change and once after; both JSON files go in bench/results/.

    nice -n 10 python bench/speed.py --models din,mind,ampcf --epochs 2 --json bench/results/speed-after.json
    nice -n 10 python bench/speed.py --models din,mind --full --json ...   # adds a whole default training run
    python bench/speed.py --models din,mind,ampcf --repeats 5 --json ...  # medians over 5 interleaved rounds

On a virtual machine one measurement varies by about 10 % even when idle, so ratios between models are taken
from medians over ``--repeats`` rounds; each round times every model once, so a slow spell hits all of them.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Self

import torch

from personae.data import leave_last_out, load_dataset
from personae.evaluate import evaluate
from personae.experiment import build_model, write_json


class Clock:
    """Wall and CPU seconds of a block. On a shared machine the CPU time of this (one-thread) process is the
    figure that compares runs made under different loads; wall time is kept beside it."""

    def __enter__(self) -> Self:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def time_model(name: str, split, epochs: int, full: bool) -> dict[str, float]:
    """CPU (and wall) seconds per training epoch, per full ranking, and (``full``) of a default training run."""
    torch.set_num_threads(1)  # training uses one thread; the evaluation is timed on one thread as well
    model = build_model(name, {"epochs": epochs}, seed=0, progress=False)
    with Clock() as clock:
        model.fit(split.train, None)  # no validation: training alone
    entry = {"epoch_cpu_seconds": clock.cpu / epochs, "epoch_wall_seconds": clock.wall / epochs}
    with Clock() as clock:
        entry["test_ndcg@10_after_epochs"] = evaluate(model, split, beyond_accuracy=False).metrics["ndcg@10"]
    entry["full_ranking_cpu_seconds"], entry["full_ranking_wall_seconds"] = clock.cpu, clock.wall
    if full:
        model = build_model(name, {}, seed=0, progress=False)
        with Clock() as clock:
            model.fit(split.train, split.valid)
        entry["train_cpu_seconds"], entry["train_wall_seconds"] = clock.cpu, clock.wall
        entry["epochs_run"] = model.report_.epochs_run
        entry["test_ndcg@10"] = evaluate(model, split, beyond_accuracy=False).metrics["ndcg@10"]
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="din,mind,ampcf", help="the last one is the reference of the ratio")
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed per model (validation off)")
    parser.add_argument("--full", action="store_true", help="also time a complete default training run")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds; medians are reported")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    split = leave_last_out(load_dataset("ml-100k"))
    names = args.models.split(",")
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for round_index in range(args.repeats):
        for name in names:
            rounds[name].append(time_model(name, split, args.epochs, args.full))
            print(f"round {round_index}", name, rounds[name][-1], flush=True)
    results = {name: median_entry(entries) for name, entries in rounds.items()}
    for name, entry in results.items():
        entry["epoch_plus_ranking_vs_" + names[-1]] = epoch_plus_ranking(entry) / epoch_plus_ranking(results[names[-1]])
    write_json(args.json, {"dataset": "ml-100k", "seed": 0, "epochs_timed": args.epochs, "repeats": args.repeats,
                           "models": results, "rounds": rounds})


def median_entry(entries: list[dict[str, float]]) -> dict[str, float]:
    """Median of every figure over the rounds (a single round is returned as it is)."""
    return {key: statistics.median(entry[key] for entry in entries) for key in entries[0]}


def epoch_plus_ranking(entry: dict[str, float]) -> float:
    """CPU seconds of one training epoch plus one full ranking: what an epoch with validation costs."""
    return entry["epoch_cpu_seconds"] + entry["full_ranking_cpu_seconds"]


if __name__ == "__main__":
    main()
