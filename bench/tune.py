"""Validation-only tuning with an equal budget: every model gets the same number of Optuna trials, each scored
by NDCG@10 on the validation split (the second-to-last event of each user); the test split is never read.

Each trial trains on the training events (torch models stop early on the same validation split) and is scored
by the one evaluator. The sampler is Optuna's TPE and is seeded, as is every model (torch trains on one
thread), so a run is reproducible. ``--max-epochs`` caps torch training so a budget fits a shared machine;
the cap is recorded with the results because it favours fast learning rates.

    nice -n 10 python bench/tune.py --dataset ml-100k --models itemknn,ease,bpr,mf,ampcf --trials 4 \\
        --max-epochs 15 --json bench/results/tune-ml-100k.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from personae.data import leave_last_out, load_dataset
from personae.data.splits import Split
from personae.evaluate import evaluate
from personae.experiment import build_model, ci_entry, write_json
from personae.files import read_json
from personae.stats import compare_paired

Suggest = Callable[[optuna.Trial], dict[str, Any]]

# The search space of each model, as the Optuna calls that draw one configuration. Torch models keep dim 64
# (the bottleneck study varies it); what is tuned is how they learn.
SPACES: dict[str, Suggest] = {
    "itemknn": lambda t: {"neighbours": t.suggest_int("neighbours", 10, 500, log=True),
                          "shrink": t.suggest_float("shrink", 0.0, 100.0)},
    "ease": lambda t: {"l2": t.suggest_float("l2", 10.0, 5000.0, log=True)},
    "bpr": lambda t: {"lr": t.suggest_float("lr", 1e-3, 2e-2, log=True),
                      "weight_decay": t.suggest_float("weight_decay", 1e-7, 1e-3, log=True),
                      "negatives": t.suggest_int("negatives", 1, 20, log=True)},
    "mf": lambda t: {"lr": t.suggest_float("lr", 1e-3, 2e-2, log=True),
                     "weight_decay": t.suggest_float("weight_decay", 1e-7, 1e-3, log=True),
                     "dropout": t.suggest_float("dropout", 0.0, 0.6)},
    "ampcf": lambda t: {"personas": t.suggest_int("personas", 1, 8),
                        "temperature": t.suggest_float("temperature", 0.1, 10.0, log=True),
                        "lr": t.suggest_float("lr", 1e-3, 2e-2, log=True),
                        "weight_decay": t.suggest_float("weight_decay", 1e-7, 1e-3, log=True),
                        "dropout": t.suggest_float("dropout", 0.0, 0.6)},
    "din": lambda t: {"lr": t.suggest_float("lr", 1e-3, 2e-2, log=True),
                      "weight_decay": t.suggest_float("weight_decay", 1e-7, 1e-3, log=True),
                      "dropout": t.suggest_float("dropout", 0.0, 0.6),
                      "attention_hidden": t.suggest_int("attention_hidden", 8, 64, log=True),
                      "max_history": t.suggest_int("max_history", 10, 50, log=True)},
    "mind": lambda t: {"lr": t.suggest_float("lr", 1e-3, 2e-2, log=True),
                       "weight_decay": t.suggest_float("weight_decay", 1e-7, 1e-3, log=True),
                       "interests": t.suggest_int("interests", 1, 8),
                       "attention_hidden": t.suggest_int("attention_hidden", 32, 256, log=True),
                       "max_history": t.suggest_int("max_history", 10, 50, log=True)},
}
SPACE_TEXT = {  # the same spaces in words, for the record
    "itemknn": "neighbours int 10..500 (log), shrink 0..100",
    "ease": "l2 10..5000 (log)",
    "bpr": "lr 1e-3..2e-2 (log), weight_decay 1e-7..1e-3 (log), negatives int 1..20 (log)",
    "mf": "lr 1e-3..2e-2 (log), weight_decay 1e-7..1e-3 (log), dropout 0..0.6",
    "ampcf": "personas int 1..8, temperature 0.1..10 (log), lr 1e-3..2e-2 (log), "
             "weight_decay 1e-7..1e-3 (log), dropout 0..0.6",
    "din": "lr 1e-3..2e-2 (log), weight_decay 1e-7..1e-3 (log), dropout 0..0.6, attention_hidden int 8..64 (log), "
           "max_history int 10..50 (log)",
    "mind": "lr 1e-3..2e-2 (log), weight_decay 1e-7..1e-3 (log), interests int 1..8, attention_hidden int 32..256 "
            "(log), max_history int 10..50 (log)",
}
TORCH_MODELS = {"bpr", "mf", "ampcf", "din", "mind"}


def validation_ndcg(name: str, params: dict[str, Any], split: Split, seed: int) -> np.ndarray:
    """Fit on train (early stopping on valid) and return per-user NDCG@10 on the validation targets."""
    model = build_model(name, params, seed=seed, progress=False)
    model.fit(split.train, split.valid)
    return evaluate(model, split, part="valid", ks=(10,), beyond_accuracy=False).per_user["ndcg@10"]


def best_against_default(name: str, best_params: dict[str, Any], fixed: dict[str, Any], split: Split,
                         seed: int) -> dict[str, Any]:
    """The evidence a default change needs: the best trial refitted (seeded, so the same model) against the
    model's current defaults under the same epoch cap, paired over validation users. A change is supported
    only when the CI of (best - default) lies above zero."""
    best = validation_ndcg(name, {**best_params, **fixed}, split, seed)
    default = validation_ndcg(name, dict(fixed), split, seed)
    return {"default_valid_ndcg@10": float(default.mean()), "best_valid_ndcg@10": float(best.mean()),
            "best_minus_default": ci_entry(compare_paired(best, default, unit="validation users"))}


def tune_model(name: str, split: Split, trials: int, max_epochs: int | None, seed: int,
               finished: list[dict[str, Any]] | None = None,
               save: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """``trials`` TPE trials for one model; returns the space, every trial and the best configuration.

    ``finished`` trials (from a stopped run's JSON) are replayed into the study with their recorded values
    instead of being retrained, so a long search can resume; ``save`` receives the partial entry after every
    trial, so a stopped run keeps what it finished."""
    fixed = {"epochs": max_epochs} if max_epochs and name in TORCH_MODELS else {}
    records: list[dict[str, Any]] = []
    replay = {json.dumps(r["params"], sort_keys=True): r for r in finished or []}

    def objective(trial: optuna.Trial) -> float:
        params = SPACES[name](trial)
        record = replay.pop(json.dumps(params, sort_keys=True), None)
        if record is None:
            start = time.process_time()
            value = float(validation_ndcg(name, {**params, **fixed}, split, seed).mean())
            record = {"number": trial.number, "params": params, "valid_ndcg@10": value,
                      "cpu_seconds": time.process_time() - start}
        records.append(record)
        print(f"  {name} trial {trial.number}: {record['valid_ndcg@10']:.4f} {params}", flush=True)
        if save:
            save({"space": SPACE_TEXT[name], "fixed": fixed, "trials": records})
        return record["valid_ndcg@10"]

    # A resumed study's sampler gets a seed shifted by the replayed trials: replays do not advance its random
    # stream, so the original seed would draw the replayed configurations again.
    sampler = optuna.samplers.TPESampler(seed=seed + len(finished or []))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for record in finished or []:
        study.enqueue_trial(record["params"])
    study.optimize(objective, n_trials=trials)
    return {"space": SPACE_TEXT[name], "fixed": fixed, "trials": records, "best_params": study.best_params,
            "best_valid_ndcg@10": study.best_value,
            "evidence": best_against_default(name, study.best_params, fixed, split, seed)}


def markdown(results: dict[str, Any]) -> str:
    """One table row per model: trials, best validation NDCG@10, chosen values."""
    lines = [("| model | trials | search space | best trial | valid NDCG@10 best / default | best - default "
             "[95% CI] |"), "|---|---|---|---|---|---|"]
    for name, entry in results["models"].items():
        chosen = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in entry["best_params"].items())
        evidence = entry.get("evidence")
        versus, ci = "-", "-"
        if evidence:
            versus = f"{evidence['best_valid_ndcg@10']:.4f} / {evidence['default_valid_ndcg@10']:.4f}"
            gap = evidence["best_minus_default"]
            ci = f"{gap['diff']:+.4f} [{gap['ci_low']:+.4f}, {gap['ci_high']:+.4f}]"
        lines.append(f"| {name} | {len(entry['trials'])} | {entry['space']} | {chosen} | {versus} | {ci} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--models", default="itemknn,ease,bpr,mf,ampcf")
    parser.add_argument("--trials", type=int, default=20, help="trials per model (the same for every model)")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap on torch training epochs per trial")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampler and of every model")
    parser.add_argument("--json", required=True)
    parser.add_argument("--resume", action="store_true",
                        help="replay the trials already in --json (same models, space and seed) and run the rest")
    parser.add_argument("--evidence-only", action="store_true",
                        help="read finished trials from --json and only add the best-vs-default evidence")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    split = leave_last_out(load_dataset(args.dataset))
    if args.evidence_only:
        results = json.loads(Path(args.json).read_text())
        for name, entry in results["models"].items():
            entry["evidence"] = best_against_default(name, entry["best_params"], entry["fixed"], split,
                                                     results["seed"])
            print(name, entry["evidence"], flush=True)
            write_json(args.json, results)
        print(markdown(results))
        return
    previous = read_json(args.json) if args.resume and Path(args.json).is_file() else {}
    results: dict[str, Any] = {"dataset": args.dataset, "objective": "validation ndcg@10", "trials": args.trials,
                               "max_epochs": args.max_epochs, "seed": args.seed, "models": {}}
    for name in args.models.split(","):
        finished = previous.get("models", {}).get(name, {}).get("trials", [])

        def save(partial: dict[str, Any], name: str = name) -> None:
            results["models"][name] = partial
            write_json(args.json, results)

        results["models"][name] = tune_model(name, split, args.trials, args.max_epochs, args.seed, finished, save)
        write_json(args.json, results)
    print(markdown(results))


if __name__ == "__main__":
    main()
