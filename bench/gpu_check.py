"""The GPU check (issue 21): what ``bench/gpu_check.sh`` measures, in one process, sized to fit 10 minutes.

    python bench/gpu_check.py --device cuda --json bench/results/gpu_check.json     # on a GPU
    python bench/gpu_check.py --device cpu --smoke --json /tmp/gpu_check.json       # CI: tiny sizes, ~10 s

Parts, each with the peak GPU memory it reached (``torch.cuda.max_memory_allocated``; null on the CPU):
- ``ml1m``: ampcf on ml-1m, seed 0, to convergence (early stopping on validation NDCG@10, patience 10), in fp32
  and in bf16 autocast: wall seconds and test NDCG@10, beside the CPU figure of bench/RESULTS.md. The smoke
  mode trains on small planted data instead (no download).
- ``epoch``: one training epoch of ampcf (sparse tables, the default from 100,000 users) on 1M synthetic users
  (bench/scale.py's generator: users = items, ~18 events per user).
- ``kernel``: the scoring kernel against the device's own matmul of the same shapes, (users*K, d) @ (d, items):
  share = matmul seconds / kernel seconds (the kernel adds the softmax over personas and the weighted sum).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scale import synth_data
from personae.data.splits import leave_last_out
from personae.data.synthetic import planted_interests
from personae.evaluate.evaluator import evaluate
from personae.models.ampcf import AMPCF
from personae.models.scoring import persona_scores
from personae.train.devices import resolve_device

# The CPU figure to set beside the GPU's: bench/RESULTS.md "Multi-persona models ... (ml-1m)", ampcf, seed mean
# of 3, capped at 10 epochs with patience 3 (the 2-core machine could not run to convergence).
CPU_ML1M = {"ndcg@10": 0.0414, "train_seconds": 880.4, "epochs": "10 (cap), patience 3", "source": "bench/RESULTS.md"}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def part_ml1m(device: torch.device, smoke: bool, precisions: list[str]) -> list[dict]:
    """ampcf seed 0 to convergence in each precision: time, epochs, validation and test NDCG@10."""
    if smoke:
        split = leave_last_out(planted_interests(n_users=200, n_clusters=6, items_per_cluster=12, events_per_user=12))
        options = {"epochs": 2, "dim": 16}
    else:
        from personae.data.registry import load_dataset

        split = leave_last_out(load_dataset("ml-1m"))
        options = {}  # the defaults: up to 100 epochs, patience 10
    rows = []
    for precision in precisions:
        reset_peak(device)
        start = time.perf_counter()
        model = AMPCF(seed=0, progress=False, device=str(device), precision=precision, **options)
        model.fit(split.train, split.valid)
        synchronize(device)
        seconds = time.perf_counter() - start
        test = evaluate(model, split, ks=(10,), beyond_accuracy=False).metrics["ndcg@10"]
        rows.append({"precision": precision, "train_seconds": round(seconds, 2), "epochs_run": model.report_.epochs_run,
                     "best_epoch": model.report_.best_epoch, "valid_ndcg@10": model.report_.best_valid_ndcg,
                     "test_ndcg@10": test, "peak_gpu_mib": peak_mib(device)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def part_epoch(device: torch.device, users: int) -> dict:
    """One epoch of ampcf's defaults on ``users`` synthetic users (sparse tables from 100,000 users)."""
    data, _ = synth_data(users, users)
    reset_peak(device)
    model = AMPCF(seed=0, progress=False, device=str(device), epochs=1)
    start = time.perf_counter()
    model.fit(data)
    synchronize(device)
    seconds = time.perf_counter() - start
    row = {"users": users, "events": len(data), "optimizer": model.report_.optimizer, "epoch_seconds": round(seconds, 2),
           "events_per_second": round(len(data) / seconds), "peak_gpu_mib": peak_mib(device)}
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def best_seconds(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up: kernels compiled or loaded, memory reserved
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times)


def part_kernel(device: torch.device, users: int, items: int, k: int, dim: int, repeats: int) -> dict:
    """The kernel's share of the device's own matmul for the same shapes (higher is better; 1 = no overhead)."""
    generator = torch.Generator().manual_seed(0)
    personas = torch.randn(users, k, dim, generator=generator).to(device)
    vectors = torch.randn(items, dim, generator=generator).to(device)
    bias = torch.randn(items, generator=generator).to(device)
    out = torch.empty(users, items, device=device)
    reset_peak(device)
    with torch.no_grad():
        raw = best_seconds(lambda: torch.mm(personas.reshape(users * k, dim), vectors.T), device, repeats)
        kernel = best_seconds(lambda: persona_scores(personas, vectors, bias, out=out), device, repeats)
    row = {"users": users, "items": items, "k": k, "dim": dim, "raw_matmul_seconds": raw, "kernel_seconds": kernel,
           "share_of_matmul": raw / kernel, "raw_gflops": 2 * users * k * dim * items / raw / 1e9,
           "peak_gpu_mib": peak_mib(device)}
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine()})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the CI check that the script runs")
    parser.add_argument("--parts", default="ml1m,epoch,kernel")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--epoch-users", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    device = resolve_device(args.device)
    parts = args.parts.split(",")
    result: dict = {"device": device_name(device), "torch": torch.__version__, "smoke": args.smoke,
                    "load_average": [round(x, 2) for x in os.getloadavg()]}
    start = time.perf_counter()
    if "ml1m" in parts:
        result["ml1m"] = {"runs": part_ml1m(device, args.smoke, args.precisions.split(",")),
                          "cpu_figure": None if args.smoke else CPU_ML1M}
    if "epoch" in parts:
        result["epoch"] = part_epoch(device, 1_000 if args.smoke else args.epoch_users)
    if "kernel" in parts:
        shape = (64, 500) if args.smoke else (1024, 20_000)
        result["kernel"] = part_kernel(device, *shape, k=4, dim=64, repeats=3 if args.smoke else 20)
    result["seconds"] = round(time.perf_counter() - start, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
