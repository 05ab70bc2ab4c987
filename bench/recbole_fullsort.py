"""RecBole 1.2.1's full-sort evaluation of BPR on its own ml-100k copy, timed: the reference for
bench/scale_inference.py --parts recbole.

Runs INSIDE the separate RecBole virtualenv (never the project's: RecBole needs numpy<2); it imports nothing
from personae. bench/scale_inference.py creates that venv and calls this file with it. Prints one JSON line.

    /work/wt/recbole-venv/bin/python bench/recbole_fullsort.py --embedding 133 --threads 1 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedding", type=int, default=64, help="BPR embedding size (users and items)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import recbole
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.general_recommender import BPR
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    torch.set_num_threads(args.threads)
    scratch = tempfile.mkdtemp(prefix="recbole-")
    config = Config(model="BPR", dataset="ml-100k", config_dict={
        "data_path": os.path.join(os.path.dirname(recbole.__file__), "dataset_example"),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "embedding_size": args.embedding, "epochs": 1, "device": "cpu", "use_gpu": False,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["Recall", "NDCG", "Hit", "MRR"], "topk": [10, 20], "valid_metric": "NDCG@10",
        "show_progress": False, "checkpoint_dir": scratch, "state": "ERROR", "seed": 0, "reproducibility": True,
    })
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    _, _, test_data = data_preparation(config, dataset)
    model = BPR(config, test_data._dataset).to("cpu")
    trainer = Trainer(config, model)
    trainer.evaluate(test_data, load_best_model=False, show_progress=False)  # warm-up
    seconds, cpu = [], []
    for _ in range(args.repeats):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
        seconds.append(time.perf_counter() - wall0)
        cpu.append(time.process_time() - cpu0)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"recbole": recbole.__version__, "torch": torch.__version__, "model": "BPR",
                      "embedding_size": args.embedding, "params": params, "threads": args.threads,
                      "users": int(dataset.user_num - 1), "items": int(dataset.item_num - 1),
                      "eval_batch_size": config["eval_batch_size"], "wall_seconds": seconds, "cpu_seconds": cpu,
                      "metrics": {k: float(v) for k, v in result.items()}}))


if __name__ == "__main__":
    main()
