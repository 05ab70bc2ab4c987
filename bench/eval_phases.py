"""Where a full-ranking evaluation of an ml-100k ampcf spends its CPU (issue 21): masking, scoring, top-k,
metrics, from cProfile's cumulative times over repeated evaluations (after a warm-up), one thread.

    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 15 python bench/eval_phases.py --repeats 20

Phases: ``scoring`` = persona_scores (the kernel); ``top-k`` = select_top_k; ``masking`` = seen_items (train +
valid CSR), the per-batch CSR row slice and the -inf fill inside persona_top_k (its cumulative time less the
two phases above); ``metrics`` = the hit lookup and accuracy_at_k (the evaluator's own time less rank());
``total`` = evaluate(). The control is the whole: the phases add up to the total within the profiler's overhead.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from personae.data import leave_last_out, load_dataset
from personae.evaluate.evaluator import evaluate
from personae.models.ampcf import AMPCF


def cumulative(stats: pstats.Stats, name: str, module: str) -> float:
    """Cumulative seconds of the function ``name`` defined in a file ending ``module``."""
    return sum(row[3] for (file, _, function), row in stats.stats.items()
               if function == name and file.endswith(module))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    torch.set_num_threads(1)
    split = leave_last_out(load_dataset("ml-100k"))
    model = AMPCF(epochs=1, progress=False, seed=0).fit(split.train)  # weights do not change the work done
    evaluate(model, split, beyond_accuracy=False)  # warm-up
    cpu = time.process_time()
    for _ in range(args.repeats):
        evaluate(model, split, beyond_accuracy=False)
    plain = (time.process_time() - cpu) / args.repeats
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(args.repeats):
        evaluate(model, split, beyond_accuracy=False)
    profiler.disable()
    stats = pstats.Stats(profiler)
    per = {name: cumulative(stats, name, module) / args.repeats for name, module in (
        ("evaluate", "evaluate/evaluator.py"), ("rank", "evaluate/evaluator.py"),
        ("persona_top_k", "models/scoring.py"), ("persona_scores", "models/scoring.py"),
        ("select_top_k", "models/scoring.py"), ("seen_items", "evaluate/evaluator.py"))}
    phases = {"scoring": per["persona_scores"], "top-k": per["select_top_k"],
              "masking": per["seen_items"] + per["persona_top_k"] - per["persona_scores"] - per["select_top_k"],
              "metrics": per["evaluate"] - per["rank"] - per["seen_items"]}
    phases["rank other (model.rank outside the kernel)"] = per["rank"] - per["persona_top_k"]
    out = {"cpu_seconds_per_evaluation": plain, "profiled_total": per["evaluate"], "phases_cpu_seconds": phases,
           "load1": os.getloadavg()[0], "repeats": args.repeats}
    print(json.dumps(out, indent=1))
    stats.sort_stats("tottime").print_stats(12)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
