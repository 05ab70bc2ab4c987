"""FAISS multi-persona retrieval against exact scoring on a synthetic catalogue (default 1,000,000 items, dim 64,
K 4): recall@10 of the indexed path and the latency of both paths, plus exact latency by catalogue size (the
figures behind ``EXACT_MAX_ITEMS``).

Items are drawn around 2,000 taste centres; each synthetic user has K personas near K distinct centres, as
trained personas sit near the items they explain. Control: recall@10 of K random items per query set (the
recall an index that found nothing useful would get by chance) is reported beside the figure.

    nice -n 10 python bench/serve_faiss.py --json bench/results/serve_faiss.json
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from personae.experiment import write_json
from personae.serve.retrieval import IndexOptions, Retriever


def catalogue(n: int, dim: int, centres: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, dim)).astype(np.float32) / np.sqrt(dim) * 3
    items = middle[rng.integers(0, centres, n)] + rng.normal(scale=0.5 / np.sqrt(dim), size=(n, dim)).astype(np.float32)
    bias = rng.normal(scale=0.05, size=n).astype(np.float32)
    return items.astype(np.float32), bias, middle


def users(middle: np.ndarray, n: int, k: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    dim = middle.shape[1]
    return [(middle[rng.choice(len(middle), k, replace=False)]
             + rng.normal(scale=0.3 / np.sqrt(dim), size=(k, dim))).astype(np.float32) for _ in range(n)]


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return (time.perf_counter() - start) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--personas", type=int, default=4)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--nprobe", type=int, default=IndexOptions.nprobe)
    parser.add_argument("--candidates", type=int, default=IndexOptions.candidates)
    parser.add_argument("--json", default="bench/results/serve_faiss.json")
    args = parser.parse_args()
    torch.set_num_threads(1)

    items, bias, middle = catalogue(args.items, args.dim, 2000, seed=0)
    start = time.perf_counter()
    indexed = Retriever(items, bias, 1.0, IndexOptions(exact_max_items=0, nprobe=args.nprobe,
                                                       candidates=args.candidates))
    build_seconds = time.perf_counter() - start
    exact = Retriever(items, bias, 1.0, IndexOptions(exact_max_items=args.items))
    rng = np.random.default_rng(1)
    recall, chance, exact_ms, index_ms = [], [], [], []
    for personas in users(middle, args.queries, args.personas, seed=2):
        t_exact, (truth, _) = timed(exact.top_k, personas, 10)
        t_index, (found, _) = timed(indexed.top_k, personas, 10)
        exact_ms.append(t_exact)
        index_ms.append(t_index)
        recall.append(len(set(truth) & set(found)) / 10)
        chance.append(len(set(truth) & set(rng.choice(args.items, 10, replace=False))) / 10)

    by_size = {}
    for size in (10_000, 20_000, 50_000, 100_000):
        small = Retriever(items[:size], bias[:size], 1.0, IndexOptions(exact_max_items=size))
        times = [timed(small.top_k, p, 10)[0] for p in users(middle, 50, args.personas, seed=3)]
        by_size[str(size)] = {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}

    def summary(values: list[float]) -> dict:
        return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99)),
                "mean_ms": float(np.mean(values))}

    report = {
        "items": args.items, "dim": args.dim, "personas": args.personas, "queries": args.queries,
        "index": {"type": "IVFFlat inner product over [e, b]", "nlist": indexed.index.nlist,
                  "nprobe": args.nprobe, "candidates_per_persona": args.candidates, "build_seconds": build_seconds,
                  "threads": 1},
        "recall@10": float(np.mean(recall)), "recall@10_min": float(np.min(recall)),
        "recall@10_random_control": float(np.mean(chance)),
        "exact": summary(exact_ms), "faiss": summary(index_ms),
        "speedup_p50": float(np.percentile(exact_ms, 50) / np.percentile(index_ms, 50)),
        "exact_by_catalogue_size": by_size,
        "machine": f"{platform.machine()}, 2 cores, 24 GiB, shared with other jobs",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    write_json(args.json, report)
    print({k: report[k] for k in ("recall@10", "recall@10_random_control", "exact", "faiss", "speedup_p50")})
    print(report["exact_by_catalogue_size"], report["index"])


if __name__ == "__main__":
    main()
