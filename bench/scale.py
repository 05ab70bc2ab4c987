"""Scale (issue 12): step cost, growth with size, recovery at 100k users, DDP speed, and the inference parts.

    nice -n 10 python bench/scale.py --parts steps,growth,recovery,ddp
    nice -n 10 python bench/scale.py --parts kernel,evaluate,recbole,ray   # runs bench/scale_inference.py

The inference parts (scoring kernel against raw matmul, evaluation speed against RecBole, recommend-all on Ray)
live in bench/scale_inference.py; this script hands them over with the same part names.

Every training measurement runs in a fresh process (its peak RSS is its own) on planted-persona data generated
in memory by personae.data.synth (users = items, 100 topics, ~18 events per user), with ampcf's defaults
(K=4, dim=64, sampled softmax with 20 negatives, batch 2048) and one torch thread.

- steps: seconds per step over a fixed number of steps, sparse tables + SparseAdam against dense Adam (the
  control: a dense step rewrites every row, so it grows with users).
- growth: sparse training throughput, time per epoch and peak memory per size (full epochs where they fit the
  CPU budget, a fixed number of steps otherwise; each row says which).
- recovery: ampcf and its single-vector twin mf on 100,000 users: ARI of planted vs assigned personas of history
  items (null: shuffled assignment) and NDCG@10 with a paired t interval over users (personae.stats).
- ddp: throughput of 2 torchrun processes against 1 (gloo, tables replicated, data sharded by user).
- sampler (issue 21): CPU ms per step of the negative sampler's "is this a positive?" test for one batch
  (2048 x 20 draws): the hash set (personae.data.negatives.KeySet, O(1)) against the sorted-key binary search it
  replaced (the control, O(log events)), in one process per size; written to bench/results/scale_sampler.json
  and bench/figures/scale_sampler.png.
- pool (issue 21): CPU ms per sparse step with each batch's negatives drawn from a shared pool of 4,096 items
  (TrainOptions.negative_pool) against independent draws (the control), sizes and variants interleaved;
  bench/results/scale_pool.json and bench/figures/scale_pool.png.
- pool-growth (issue 21): one whole epoch per size, pool and control: CPU per training event;
  bench/results/scale_pool_growth.json.
- pool-recovery (issue 21): the recovery part's figures (NDCG@10, ARI) for ampcf with and without the pool,
  two seeds each, so the difference is read against the seed noise; bench/results/scale_pool_recovery.json.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

INFERENCE_PARTS = ("kernel", "evaluate", "recbole", "ray")  # handed to bench/scale_inference.py
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results_md import git_revision, replace_section
from personae.data.interactions import Interactions
from personae.data.synth import Catalogue, SynthOptions, user_chunks

MACHINE = "2 cores, 24 GiB, shared with other jobs"
TOPICS = 100
BATCH = 2048
RESULTS_JSON = ROOT / "bench" / "results" / "scale_training.json"
FIGURE = ROOT / "bench" / "figures" / "scale_training.png"
SAMPLER_JSON = ROOT / "bench" / "results" / "scale_sampler.json"
LOCALITY_JSON = ROOT / "bench" / "results" / "scale_locality.json"
LOCALITY_FIGURE = ROOT / "bench" / "figures" / "scale_locality.png"
POOL = 4096  # shared negatives per step: twice the batch, fixed before any pool run
POOL_JSON = ROOT / "bench" / "results" / "scale_pool.json"
POOL_FIGURE = ROOT / "bench" / "figures" / "scale_pool.png"
POOL_GROWTH_JSON = ROOT / "bench" / "results" / "scale_pool_growth.json"
POOL_RECOVERY_JSON = ROOT / "bench" / "results" / "scale_pool_recovery.json"
SAMPLER_FIGURE = ROOT / "bench" / "figures" / "scale_sampler.png"


def synth_data(users: int, items: int, topics: int = TOPICS, seed: int = 0) -> tuple[Interactions, np.ndarray]:
    """(events, (items,) planted topic of each item), generated chunk by chunk in memory; ids are indices."""
    options = SynthOptions(users=users, items=items, topics=topics, seed=seed)
    parts: dict[str, list[np.ndarray]] = {"event_user": [], "event_item": [], "event_time": []}
    for chunk in user_chunks(options):
        for name, arrays in parts.items():
            arrays.append(getattr(chunk, name))
    data = Interactions(user_ids=np.arange(users).astype(str), item_ids=np.arange(items).astype(str),
                        users=np.concatenate(parts["event_user"]), items=np.concatenate(parts["event_item"]),
                        timestamps=np.concatenate(parts["event_time"]).astype(np.float64), name=f"synth-{users}")
    return data, Catalogue(options).topic_of_item


def rss_mib() -> float:
    """Current resident memory of this process (MiB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- one measurement, in its own process ----------------------------------------------------------------
def worker(args: argparse.Namespace) -> None:
    """Train ampcf and print one JSON line (rank 0 only): one full epoch, or with ``--steps S`` two epochs of S
    steps, timed on the second (the first pays one-off costs: the optimiser's moment tables, first page faults)."""
    from personae.models.ampcf import AMPCF
    from personae.train import distributed

    world = distributed.start() if args.distributed else distributed.Distributed()
    if args.sparse_step == "before":  # the control of the locality part: the sparse step as it was before issue 21
        use_step_before_locality()
    start = time.perf_counter()
    data, _ = synth_data(args.users, args.users)
    build_seconds = time.perf_counter() - start
    rss_data = rss_mib()
    model = AMPCF(epochs=2 if args.steps else 1, steps_per_epoch=args.steps, optimizer=args.optimizer, progress=False, seed=0,
                  batch_size=BATCH, negative_pool=args.negative_pool)
    model.fit(data)
    events_per_rank = len(world.shard(data.users))
    epoch_steps = -(-events_per_rank // BATCH)
    steps = min(epoch_steps, args.steps) if args.steps else epoch_steps
    seconds, cpu_seconds = model.report_.epoch_seconds[-1], model.report_.epoch_cpu_seconds[-1]
    permutation = permutation_cpu_seconds(events_per_rank)
    table_bytes = sum(p.numel() * p.element_size() for p in model.network_.parameters())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    distributed.stop()
    if world.rank == 0:
        print(json.dumps({
            "users": args.users, "items": args.users, "events": len(data), "optimizer": model.report_.optimizer,
            "processes": world.world, "sparse_step": args.sparse_step, "negative_pool": args.negative_pool, "steps": steps, "full_epoch": steps == epoch_steps,
            "train_seconds": round(seconds, 3), "seconds_per_step": seconds / steps,
            "cpu_seconds_per_step": cpu_seconds / steps,
            "permutation_cpu_seconds": permutation,  # once per epoch, inside the timed epoch
            "cpu_seconds_per_step_without_permutation": (cpu_seconds - permutation) / steps,
            "epoch_steps": epoch_steps,
            "first_epoch_cpu_seconds_per_step": model.report_.epoch_cpu_seconds[0] / steps,
            "examples_per_second": world.world * min(steps * BATCH, events_per_rank) / seconds,
            "examples_per_cpu_second": min(steps * BATCH, events_per_rank) / cpu_seconds,  # per process
            "data_build_seconds": round(build_seconds, 2), "rss_after_data_mib": round(rss_data, 1),
            "peak_rss_mib": round(peak, 1), "parameter_bytes": table_bytes}))


def permutation_cpu_seconds(n_events: int, repeats: int = 3) -> float:
    """CPU seconds of one epoch's event order (personae.train.loop.epoch_batches draws it once per epoch), median of
    ``repeats``. A run timed on S steps of an epoch pays it once, so at 18M events and S = 20 it adds ~35 ms to each
    step; a whole epoch spreads it over every step (~0.1 ms each at 1M users)."""
    import torch

    rng, times = np.random.default_rng(0), []
    for _ in range(repeats):
        start = time.process_time()
        torch.as_tensor(rng.permutation(n_events))
        times.append(time.process_time() - start)
    return float(np.median(times))


class _GatherBeforeLocality:
    """The control's row gather (before issue 21): one gradient entry per occurrence, coalesced by the optimiser."""

    @staticmethod
    def apply(table, index):
        import torch

        class Rows(torch.autograd.Function):
            @staticmethod
            def forward(ctx, table, index):
                ctx.save_for_backward(index)
                ctx.table_shape = table.shape
                return table[index]

            @staticmethod
            def backward(ctx, grad):
                (index,) = ctx.saved_tensors
                flat = index.reshape(-1)
                values = grad.reshape(len(flat), *ctx.table_shape[1:])
                return torch.sparse_coo_tensor(flat[None], values, ctx.table_shape, check_invariants=False), None

        return Rows.apply(table, index)


def use_step_before_locality() -> None:
    """Swap in the sparse step as it was before issue 21: per-occurrence gathers and torch's SparseAdam."""
    import torch

    from personae.train import optim, rows
    optim.RowAdam = torch.optim.SparseAdam
    rows._SparseRows = _GatherBeforeLocality


def run_worker(users: int, optimizer: str, steps: int, processes: int = 1, sparse_step: str = "after",
               negative_pool: int = 0) -> dict:
    """Run :func:`worker` in fresh process(es) (torchrun for more than one) and return its JSON line."""
    argv = [str(Path(__file__).resolve()), "--worker", "--users", str(users), "--optimizer", optimizer,
            "--steps", str(steps), "--sparse-step", sparse_step, "--negative-pool", str(negative_pool)]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   *argv, "--distributed"]
    else:
        command = [sys.executable, *argv]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    entry = json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])
    print(json.dumps(entry), file=sys.stderr)
    return entry


# --- parts ---------------------------------------------------------------------------------------------
def part_steps(sizes: list[int], steps: int, dense_steps: int) -> list[dict]:
    return [run_worker(n, optimizer, steps if optimizer == "sparse" else dense_steps)
            for n in sizes for optimizer in ("sparse", "dense")]


def part_growth(sizes: list[int], full_epoch_up_to: int, steps: int) -> list[dict]:
    return [run_worker(n, "sparse", 0 if n <= full_epoch_up_to else steps) for n in sizes]


def interleaved_rounds(sizes: list[int], steps: int, rounds: int, variants: list[dict]) -> list[dict]:
    """One sparse run per (round, size, variant), sizes and variants interleaved within each round so load hits
    all alike; each variant is a dict of :func:`run_worker` keyword arguments."""
    rows = []
    for round_index in range(rounds):
        for n in sizes:
            for variant in variants:
                entry = run_worker(n, "sparse", steps, **variant)
                rows.append({**entry, "round": round_index, "load1": os.getloadavg()[0]})
    return rows


def part_locality(sizes: list[int], steps: int, rounds: int) -> list[dict]:
    """Issue 21: CPU per sparse step after the locality change (distinct rows gathered once in order, RowAdam)
    against the step before it (the control: per-occurrence gathers, torch's SparseAdam)."""
    return interleaved_rounds(sizes, steps, rounds, [{"sparse_step": "after"}, {"sparse_step": "before"}])


def part_pool(sizes: list[int], steps: int, rounds: int) -> list[dict]:
    """Issue 21: CPU per sparse step with a shared pool of negatives against independent draws (the control)."""
    return interleaved_rounds(sizes, steps, rounds, [{"negative_pool": POOL}, {"negative_pool": 0}])


def part_pool_growth(sizes: list[int]) -> list[dict]:
    """Issue 21: one whole epoch per size (CPU per training event), with the shared pool and without it."""
    rows = []
    for n in sizes:
        for pool in (POOL, 0):
            entry = run_worker(n, "sparse", 0, negative_pool=pool)
            rows.append({**entry, "load1": os.getloadavg()[0]})
    return rows


def plot_pool(rows: list[dict], growth: list[dict], path: Path) -> None:
    """Left: CPU ms per step without the once-per-epoch permutation, against users (median over rounds), pool
    against independent draws, each with its 1.5x band. Right: CPU us per training event over one whole epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for pool, label in ((POOL, f"shared pool of {POOL:,} negatives"), (0, "independent negatives (control)")):
        sizes = sorted({r["users"] for r in rows if r["negative_pool"] == pool})
        ms = [1e3 * float(np.median([r["cpu_seconds_per_step_without_permutation"] for r in rows
                                     if r["negative_pool"] == pool and r["users"] == n])) for n in sizes]
        left.plot(sizes, ms, marker="o", label=label)
        left.axhline(1.5 * ms[0], linestyle=":", color=left.lines[-1].get_color(), label="1.5x its smallest (target)")
        mine = sorted((r for r in growth if r["negative_pool"] == pool), key=lambda r: r["events"])
        if mine:
            per_event = [1e6 / r["examples_per_cpu_second"] for r in mine]
            right.plot([r["events"] for r in mine], per_event, marker="o", label=label)
            right.axhline(1.3 * per_event[0], linestyle=":", color=right.lines[-1].get_color(),
                          label="1.3x its smallest (target)")
    left.set_xscale("log")
    left.set_xlabel("users (= items)")
    left.set_ylabel("CPU ms per sparse step (batch 2048, 20 negatives)")
    left.set_title("a step, without the epoch's permutation")
    left.legend(fontsize=7)
    right.set_xscale("log")
    right.set_xlabel("training events")
    right.set_ylabel("CPU microseconds per event (one whole epoch)")
    right.set_title("a whole epoch per event")
    right.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def plot_locality(rows: list[dict], path: Path) -> None:
    """CPU ms per step against users, one line per optimiser (median over rounds), the 1.5x band drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for step, label in (("after", "distinct rows in order + RowAdam"), ("before", "before issue 21 (control)")):
        sizes = sorted({r["users"] for r in rows if r["sparse_step"] == step})
        ms = [1e3 * float(np.median([r["cpu_seconds_per_step"] for r in rows
                                     if r["sparse_step"] == step and r["users"] == n])) for n in sizes]
        ax.plot(sizes, ms, marker="o", label=label)
        if step == "after":
            ax.axhline(1.5 * ms[0], color="grey", linestyle=":", label="1.5x the smallest (target)")
    ax.set_xscale("log")
    ax.set_xlabel("users (= items)")
    ax.set_ylabel("CPU ms per sparse step (batch 2048, 20 negatives)")
    ax.set_title("ampcf sparse step: median over interleaved rounds")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def part_ddp(users: int, dense_users: int, steps: int) -> list[dict]:
    """Sparse tables (gloo sparse all-reduce) at ``users``; dense DDP at ``dense_users`` (its all-reduce carries
    whole tables, so it is measured smaller)."""
    return [run_worker(n, optimizer, steps, processes) for optimizer, n in (("sparse", users), ("dense", dense_users))
            for processes in (1, 2)]


def recovery_split(users: int, items: int, eval_users: int):
    """Planted data, leave-last-out, and the test users sampled (seed 0) for NDCG@10."""
    from personae.data.splits import Split, leave_last_out

    data, topic_of_item = synth_data(users, items)
    split = leave_last_out(data)
    rng = np.random.default_rng(0)
    sample = rng.choice(np.unique(split.test.users), size=min(eval_users, users), replace=False)
    test = split.test.subset(np.isin(split.test.users, sample), name="test-sample")
    return data, topic_of_item, Split(split.train, split.valid, test, split.method), sample


def part_pool_recovery(users: int, items: int, epochs: int, eval_users: int, ari_users: int,
                       seeds: tuple[int, ...] = (0, 1)) -> dict:
    """ampcf with the shared negative pool against ampcf without it, ``seeds`` each, on the recovery part's data:
    NDCG@10 paired over test users crossed with seeds, and the ARI per seed beside its shuffled null."""
    from personae.evaluate.evaluator import evaluate
    from personae.experiment import ci_entry
    from personae.models.ampcf import AMPCF
    from personae.space.structure import planted_recovery
    from personae.stats import compare_paired

    data, topic_of_item, sampled, sample = recovery_split(users, items, eval_users)
    out: dict = {"users": users, "items": items, "events": len(data), "epochs": epochs, "pool": POOL,
                 "eval_users": len(sample), "ari_users": ari_users, "seeds": list(seeds), "runs": []}
    per_user: dict[int, list[np.ndarray]] = {POOL: [], 0: []}
    for seed in seeds:
        for pool in (POOL, 0):
            model = AMPCF(epochs=epochs, progress=False, seed=seed, negative_pool=pool)
            model.fit(sampled.train)  # fixed epochs, no early stopping: equal budget for both
            result = evaluate(model, sampled, ks=(10,), beyond_accuracy=False)
            per_user[pool].append(result.per_user["ndcg@10"])
            entry = {"seed": seed, "negative_pool": pool, "ndcg@10": result.metrics["ndcg@10"],
                     "train_seconds": model.report_.seconds,
                     "train_cpu_seconds": float(sum(model.report_.epoch_cpu_seconds)),
                     "optimizer": model.report_.optimizer, "loss": [h["loss"] for h in model.report_.history],
                     "recovery": planted_recovery(model, topic_of_item, sample[:ari_users])}
            out["runs"].append(entry)
            print(json.dumps(entry), file=sys.stderr)
    out["pool_vs_independent"] = ci_entry(compare_paired(np.array(per_user[POOL]), np.array(per_user[0]),
                                                         unit="test users"))
    out["seed_1_vs_seed_0_independent"] = ci_entry(compare_paired(per_user[0][1], per_user[0][0], unit="test users"))
    return out


def part_recovery(users: int, items: int, epochs: int, eval_users: int, ari_users: int) -> dict:
    """ampcf vs mf on planted data: ARI of history-item personas, NDCG@10 on a sample of test users."""
    from personae.evaluate.evaluator import evaluate
    from personae.experiment import ci_entry
    from personae.models.ampcf import AMPCF
    from personae.models.mf import MF
    from personae.space.structure import planted_recovery
    from personae.stats import compare_paired

    data, topic_of_item, sampled, sample = recovery_split(users, items, eval_users)
    out: dict = {"users": users, "items": items, "topics": TOPICS, "events": len(data), "epochs": epochs,
                 "eval_users": len(sample), "ari_users": ari_users}
    per_user = {}
    for cls in (AMPCF, MF):
        model = cls(epochs=epochs, progress=False, seed=0)
        model.fit(sampled.train)  # fixed epochs, no early stopping: equal budget for both models
        result = evaluate(model, sampled, ks=(10,), beyond_accuracy=False)
        per_user[cls.name] = result.per_user["ndcg@10"]
        entry = {"ndcg@10": result.metrics["ndcg@10"], "train_seconds": model.report_.seconds,
                 "optimizer": model.report_.optimizer, "loss": [h["loss"] for h in model.report_.history]}
        if cls is AMPCF:
            entry["recovery"] = planted_recovery(model, topic_of_item, sample[:ari_users])
        out[cls.name] = entry
        print(json.dumps({cls.name: entry}), file=sys.stderr)
    out["ampcf_vs_mf"] = ci_entry(compare_paired(per_user["ampcf"], per_user["mf"], unit="users"))
    return out


def part_sparse_check(seed: int = 0) -> dict:
    """ml-100k validation NDCG@10 of ampcf trained dense (the published default) and sparse, paired CI."""
    from personae.data import load_dataset
    from personae.data.splits import leave_last_out, validation_split
    from personae.evaluate.evaluator import evaluate
    from personae.experiment import ci_entry
    from personae.models.ampcf import AMPCF
    from personae.stats import compare_paired

    split = leave_last_out(load_dataset("ml-100k"))
    valid = validation_split(split.train, split.valid)
    out, per_user = {"dataset": "ml-100k", "seed": seed}, {}
    for optimizer in ("dense", "sparse"):
        model = AMPCF(optimizer=optimizer, progress=False, seed=seed).fit(split.train, split.valid)
        result = evaluate(model, valid, part="valid", ks=(10,), beyond_accuracy=False)
        per_user[optimizer] = result.per_user["ndcg@10"]
        out[optimizer] = {"valid_ndcg@10": result.metrics["ndcg@10"], "epochs_run": model.report_.epochs_run,
                          "train_seconds": model.report_.seconds}
        print(json.dumps({optimizer: out[optimizer]}), file=sys.stderr)
    out["sparse_vs_dense"] = ci_entry(compare_paired(per_user["sparse"], per_user["dense"], unit="validation users"))
    return out


def sorted_search_membership(keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The look-up the hash set replaced (the control): binary search of sorted queries in sorted keys."""
    order = np.argsort(queries)
    found = np.empty_like(order)
    found[order] = np.minimum(np.searchsorted(keys, queries[order]), len(keys) - 1)
    return keys[found] == queries


def part_sampler(sizes: list[int], repeats: int = 30, negatives: int = 20) -> list[dict]:
    """Median CPU ms of one batch's membership test, hash set vs sorted search, at each size (same queries)."""
    from personae.data.negatives import KeySet

    rows = []
    for users in sizes:
        data, _ = synth_data(users, users)
        csr = data.csr
        owners = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
        keys = np.sort(owners * users + csr.indices.astype(np.int64))
        start = time.process_time()
        table = KeySet(keys)
        build = time.process_time() - start
        rng = np.random.default_rng(0)
        timings: dict[str, list[float]] = {"hash set": [], "sorted search": []}
        for _ in range(repeats):
            batch = np.repeat(rng.integers(0, users, BATCH), negatives)
            queries = batch * users + rng.integers(0, users, len(batch))
            for name, look_up in (("hash set", table.contains),
                                  ("sorted search", functools.partial(sorted_search_membership, keys))):
                start = time.process_time()
                answer = look_up(queries)
                timings[name].append(time.process_time() - start)
            assert np.array_equal(answer, table.contains(queries))  # the same answers, only faster
        rows.append({"users": users, "events": len(data), "hash_build_cpu_seconds": round(build, 2),
                     **{f"{name} cpu ms per step": round(1e3 * float(np.median(t)), 3) for name, t in timings.items()}})
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def plot_sampler(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    events = [r["events"] for r in rows]
    for name, style in (("hash set", "o-"), ("sorted search", "s--")):
        ax.plot(events, [r[f"{name} cpu ms per step"] for r in rows], style, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("training events")
    ax.set_ylabel("CPU ms per step (2048 x 20 draws)")
    ax.set_title("negative sampler: is the draw a positive?")
    ax.set_ylim(bottom=0)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# --- report ------------------------------------------------------------------------------------------
def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for optimizer, style in (("sparse", "o-"), ("dense", "s--")):
        rows = [r for r in results.get("steps", []) if r["optimizer"] == optimizer]
        if rows:
            left.plot([r["users"] for r in rows], [1000 * r["cpu_seconds_per_step"] for r in rows], style,
                      label=optimizer)
    left.set(xscale="log", yscale="log", xlabel="users (= items)", ylabel="CPU ms per step (batch 2048)",
             title="Time per training step")
    left.legend()
    rows = results.get("growth", [])
    if rows:
        right.plot([r["users"] for r in rows], [r["peak_rss_mib"] for r in rows], "o-", label="peak RSS")
        right.plot([r["users"] for r in rows], [r["parameter_bytes"] / 2**20 for r in rows], "^:", label="parameters")
    right.set(xscale="log", yscale="log", xlabel="users (= items)", ylabel="MiB", title="Memory (sparse training)")
    right.legend()
    figure.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(FIGURE, dpi=110)


def markdown(results: dict) -> str:
    commands = results.get("commands", {})
    lines = ["## Scale: training cost, recovery at 100k users, DDP", "",
             "Commands: " + "; ".join(f"{part}: `{c}`" for part, c in commands.items()) + "  ",
             "JSON: bench/results/scale_training.json; figure: bench/figures/scale_training.png  ",
             f"Machine: {MACHINE}  ", f"Date: {results['date']} (git {results['git']})", "",
             ("ampcf defaults (K=4, dim=64, sampled softmax, 20 negatives, batch 2048), one torch thread, planted data "
             f"generated in memory (users = items, {TOPICS} topics, ~18 events per user). Each row is a fresh "
             "process. Examples = positive events (each with 20 sampled negatives)."), ""]
    if results.get("steps"):
        lines += [("Time per step, sparse tables + SparseAdam against dense Adam (the control). Two epochs of the "
                   "given steps; the second is timed (the first pays one-off costs, shown apart). CPU time of the "
                   "process is the figure to read: wall time on this shared machine mostly measures other jobs."), "",
                  ("| users = items | optimizer | steps timed | CPU ms/step | CPU ms/step, 1st epoch | wall ms/step | "
                  "examples per CPU-s | peak RSS MiB |"), "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['users']:,} | {r['optimizer']} | {r['steps']} | {1000 * r['cpu_seconds_per_step']:.0f} | "
                  f"{1000 * r['first_epoch_cpu_seconds_per_step']:.0f} | {1000 * r['seconds_per_step']:.0f} | "
                  f"{r['examples_per_cpu_second']:,.0f} | {r['peak_rss_mib']:,.0f} |" for r in results["steps"]]
        for optimizer in ("sparse", "dense"):
            rows = [r for r in results["steps"] if r["optimizer"] == optimizer]
            if len(rows) > 1:
                lines.append(f"\n{optimizer}: CPU per step x{rows[-1]['cpu_seconds_per_step'] / rows[0]['cpu_seconds_per_step']:.1f} "
                             f"from {rows[0]['users']:,} to {rows[-1]['users']:,} users (x{rows[-1]['users'] // rows[0]['users']}).")
        lines.append("")
    if results.get("growth"):
        lines += [("Growth with size (sparse). `full epoch` yes: one whole epoch timed; no: two epochs of the given "
                   "steps, the second timed, and the epoch extrapolated as CPU seconds per step x steps per epoch."), "",
                  ("| users = items | events | full epoch | steps | examples per CPU-s | examples/s wall | epoch CPU s | "
                   "peak RSS MiB | parameters MiB | peak RSS bytes per user |"), "|---|---|---|---|---|---|---|---|---|---|"]
        for r in results["growth"]:
            epoch = r["cpu_seconds_per_step"] * -(-r["events"] // BATCH)
            lines.append(f"| {r['users']:,} | {r['events']:,} | {'yes' if r['full_epoch'] else 'no'} | {r['steps']} | "
                         f"{r['examples_per_cpu_second']:,.0f} | {r['examples_per_second']:,.0f} | {epoch:,.1f} | "
                         f"{r['peak_rss_mib']:,.0f} | {r['parameter_bytes'] / 2**20:,.0f} | "
                         f"{r['peak_rss_mib'] * 2**20 / r['users']:,.0f} |")
        rows = results["growth"]
        sizes = ", ".join(f"{r['users']:,}" for r in rows)
        per_event = ", ".join(f"{1e6 * r['cpu_seconds_per_step'] * -(-r['events'] // BATCH) / r['events']:.0f}"
                              for r in rows)
        lines += ["", (f"CPU per training event: {per_event} microseconds at {sizes} "
                       "users: the epoch grows faster than the events by that factor. Every step does the same O(batch) "
                       "work; what grows is the cost of reaching random rows of larger tables (caches, then TLB) and the "
                       "sampler's O(log events) look-ups.")]
        slopes = [f"{(b['peak_rss_mib'] - a['peak_rss_mib']) * 2**20 / (b['users'] - a['users']):,.0f} bytes per user "
                  f"from {a['users']:,} to {b['users']:,}" for a, b in itertools.pairwise(rows)]
        lines += ["", (f"Marginal peak memory: {'; '.join(slopes)}. Per user (with one item per user here): K x dim x 4 "
                  "bytes of personas + dim x 4 + 4 of item vector and bias = 1,284 bytes of parameters, x3 with "
                  "SparseAdam's two moment tables, plus the events (~18 per user) and the sampler's keys."), ""]
    if results.get("recovery"):
        r = results["recovery"]
        rec, ci = r["ampcf"]["recovery"], r["ampcf_vs_mf"]
        verdict = "no difference" if ci["ci_low"] <= 0 <= ci["ci_high"] else ("ampcf better" if ci["diff"] > 0 else "mf better")
        lines += [(f"Recovery: {r['users']:,} users, {r['items']:,} items, {r['topics']} topics, {r['events']:,} events, "
                  f"leave-last-out, {r['epochs']} epochs each (no early stopping), NDCG@10 on {r['eval_users']:,} "
                  f"sampled test users, ARI on {rec['users']:,} of them."), "",
                  ("| model | optimizer | train s (wall) | NDCG@10 | ARI (planted vs assigned persona of history items) | "
                  "ARI, shuffled null | ARI, multi-persona users | its null |"), "|---|---|---|---|---|---|---|---|",
                  (f"| ampcf | {r['ampcf']['optimizer']} | {r['ampcf']['train_seconds']:.0f} | {r['ampcf']['ndcg@10']:.4f} | "
                  f"{rec['ari']:.3f} | {rec['shuffled_ari']:.3f} | {rec['ari_multi_interest_users']:.3f} | "
                   f"{rec['shuffled_ari_multi_interest_users']:.3f} |"),
                  f"| mf | {r['mf']['optimizer']} | {r['mf']['train_seconds']:.0f} | {r['mf']['ndcg@10']:.4f} | - | - | - | - |",
                  "", (f"ampcf - mf NDCG@10: {ci['diff']:+.4f} [95% CI {ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}] "
                  f"(paired t over users, one seed): {verdict}. Targets: ARI >= 0.6 "
                  f"{'met' if rec['ari'] >= 0.6 else 'not met'}; NDCG@10 above mf "
                  f"{'met' if ci['ci_low'] > 0 else 'not met'}."), ""]
    if results.get("ddp"):
        lines += [("DDP: 2 torchrun processes (gloo) against 1, same per-process batch (2048), tables replicated, data "
                   "sharded by user. Sparse: the tables' row gradients are averaged by a gloo sparse all-reduce; dense: "
                   "DDP all-reduces every parameter. This machine has 2 cores shared with other jobs (load average "
                   "11-16 during these runs), so 2 processes are bounded by 2 cores, and wall-clock ratios mostly "
                   "measure how the other jobs' load moved between runs. The CPU column is the stable one: "
                   "`CPU-bound examples/s` = processes x examples per step / CPU seconds per step, the throughput if "
                   "each process had a core of its own."), "",
                  ("| users = items | optimizer | processes | steps per process | CPU ms/step per process | "
                   "CPU-bound examples/s | vs 1 process | wall ms/step | examples/s wall | vs 1 process |"),
                  "|---|---|---|---|---|---|---|---|---|---|"]
        bound = {id(r): r["processes"] * r["examples_per_cpu_second"] for r in results["ddp"]}
        single = {r["optimizer"]: r for r in results["ddp"] if r["processes"] == 1}
        for r in results["ddp"]:
            one = single[r["optimizer"]]
            lines.append(f"| {r['users']:,} | {r['optimizer']} | {r['processes']} | {r['steps']} | "
                         f"{1000 * r['cpu_seconds_per_step']:.0f} | {bound[id(r)]:,.0f} | "
                         f"{bound[id(r)] / bound[id(one)]:.2f}x | {1000 * r['seconds_per_step']:.0f} | "
                         f"{r['examples_per_second']:,.0f} | {r['examples_per_second'] / one['examples_per_second']:.2f}x |")
        lines.append("")
    if results.get("sparse_check"):
        r = results["sparse_check"]
        ci = r["sparse_vs_dense"]
        verdict = "no difference" if ci["ci_low"] <= 0 <= ci["ci_high"] else "a difference"
        lines += [("Sparse against dense on small data (ml-100k, ampcf defaults, early stopping on validation, seed "
                  f"{r['seed']}): validation NDCG@10 dense {r['dense']['valid_ndcg@10']:.4f} "
                  f"({r['dense']['epochs_run']} epochs), sparse {r['sparse']['valid_ndcg@10']:.4f} "
                  f"({r['sparse']['epochs_run']} epochs); sparse - dense {ci['diff']:+.4f} "
                  f"[95% CI {ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}]: {verdict}. Validation only: no test figure "
                  "chose anything."), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="steps,growth,recovery,ddp")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--steps", type=int, default=40, help="steps timed per sparse size (steps part)")
    parser.add_argument("--dense-steps", type=int, default=10, help="steps timed per dense size (steps part)")
    parser.add_argument("--full-epoch-up-to", type=int, default=100_000, help="growth: full epochs up to this size")
    parser.add_argument("--growth-steps", type=int, default=300, help="growth: steps timed above that size")
    parser.add_argument("--recovery-users", type=int, default=100_000)
    parser.add_argument("--recovery-items", type=int, default=10_000)
    parser.add_argument("--recovery-epochs", type=int, default=5)
    parser.add_argument("--eval-users", type=int, default=10_000)
    parser.add_argument("--ari-users", type=int, default=2_000)
    parser.add_argument("--ddp-users", type=int, default=100_000)
    parser.add_argument("--ddp-dense-users", type=int, default=10_000)
    parser.add_argument("--ddp-steps", type=int, default=60)
    # one measurement (internal: run_worker starts these)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, default=10_000, help=argparse.SUPPRESS)
    parser.add_argument("--optimizer", default="sparse", help=argparse.SUPPRESS)
    parser.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sparse-step", default="after", help=argparse.SUPPRESS)
    parser.add_argument("--negative-pool", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=2, help="locality: interleaved rounds")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    inference = [p for p in parts if p in INFERENCE_PARTS]
    if inference:  # one entry point for every scale figure
        subprocess.run([sys.executable, str(Path(__file__).with_name("scale_inference.py")), "--parts",
                        ",".join(inference)], check=True)
        parts = [p for p in parts if p not in INFERENCE_PARTS]
        if not parts:
            return
    sizes = [int(s) for s in args.sizes.split(",")]
    if "locality" in parts:  # its own JSON and figure (issue 21)
        rows = part_locality(sizes, args.steps, args.rounds)
        LOCALITY_JSON.parent.mkdir(parents=True, exist_ok=True)
        LOCALITY_JSON.write_text(json.dumps({"machine": MACHINE, "command": " ".join(sys.argv), "rows": rows},
                                            indent=1))
        plot_locality(rows, LOCALITY_FIGURE)
        parts = [p for p in parts if p != "locality"]
        if not parts:
            return
    if "pool" in parts:  # its own JSON and figure (issue 21)
        rows = part_pool(sizes, args.steps, args.rounds)
        POOL_JSON.parent.mkdir(parents=True, exist_ok=True)
        POOL_JSON.write_text(json.dumps({"machine": MACHINE, "command": "python bench/scale.py " + " ".join(sys.argv[1:]),
                                         "date": str(date.today()), "git": git_revision(), "rows": rows}, indent=1))
        plot_pool(rows, json.loads(POOL_GROWTH_JSON.read_text())["rows"] if POOL_GROWTH_JSON.exists() else [],
                  POOL_FIGURE)
        parts = [p for p in parts if p != "pool"]
        if not parts:
            return
    if "pool-growth" in parts:  # its own JSON (issue 21)
        rows = part_pool_growth(sizes)
        POOL_GROWTH_JSON.write_text(json.dumps({"machine": MACHINE, "date": str(date.today()), "git": git_revision(),
                                                "command": "python bench/scale.py " + " ".join(sys.argv[1:]),
                                                "rows": rows}, indent=1))
        if POOL_JSON.exists():
            plot_pool(json.loads(POOL_JSON.read_text())["rows"], rows, POOL_FIGURE)
        parts = [p for p in parts if p != "pool-growth"]
        if not parts:
            return
    if "pool-recovery" in parts:  # its own JSON (issue 21)
        found = part_pool_recovery(args.recovery_users, args.recovery_items, args.recovery_epochs, args.eval_users,
                                   args.ari_users)
        POOL_RECOVERY_JSON.write_text(json.dumps({"machine": MACHINE, "date": str(date.today()), "git": git_revision(),
                                                  "command": "python bench/scale.py " + " ".join(sys.argv[1:]),
                                                  "load_after": os.getloadavg(), **found}, indent=1))
        parts = [p for p in parts if p != "pool-recovery"]
        if not parts:
            return
    if "sampler" in parts:  # its own JSON and figure (issue 21)
        rows = part_sampler(sizes)
        load = os.getloadavg()[0]
        SAMPLER_JSON.write_text(json.dumps({"command": "nice -n 10 python bench/scale.py " + " ".join(sys.argv[1:]),
                                            "load_average": load, "date": str(date.today()), "git": git_revision(),
                                            "rows": rows}, indent=1) + "\n")
        plot_sampler(rows, SAMPLER_FIGURE)
        parts = [p for p in parts if p != "sampler"]
        if not parts:
            return
    found: dict = {}
    if "steps" in parts:
        found["steps"] = part_steps(sizes, args.steps, args.dense_steps)
    if "growth" in parts:
        found["growth"] = part_growth(sizes, args.full_epoch_up_to, args.growth_steps)
    if "recovery" in parts:
        found["recovery"] = part_recovery(args.recovery_users, args.recovery_items, args.recovery_epochs,
                                          args.eval_users, args.ari_users)
    if "ddp" in parts:
        found["ddp"] = part_ddp(args.ddp_users, args.ddp_dense_users, args.ddp_steps)
    if "sparse-check" in parts:
        found["sparse_check"] = part_sparse_check()
    # parts may run as separate invocations: merge into what the file holds now
    results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    command = "nice -n 10 python bench/scale.py " + " ".join(sys.argv[1:])
    results.setdefault("commands", {}).update({part: command for part in parts})
    results.update({**found, "date": str(date.today()), "git": git_revision(), "machine": MACHINE})
    from personae.experiment import write_json

    write_json(RESULTS_JSON, results)
    plot(results)
    replace_section("scale-training", markdown(results))


if __name__ == "__main__":
    main()
