"""Online persona updates on ml-100k: replay the last 20% of events in time order through the service's update
path and score each event as the next item before folding it in (next-item NDCG@10, full ranking, seen items
excluded).

Split: a global time cut (``personae.data.splits.temporal``): the first 70% of events train the model, the next
10% (validation) choose the update's learning rate and capping percentiles, the last 20% are the test replay.
The drift bound's percentile is the strictest whose validation NDCG@10 is not measurably below uncapped (the
95% CI of capped minus uncapped reaches zero).
Validation events are folded in (one batch per user) before the test replay starts; every arm excludes them.

For the CPU budget a random ``--user-fraction`` (30%) of users is replayed, all of their events.

Arms on the same events, paired per user (paired t interval over users, personae.stats):
- frozen: the trained personas never change (users with no training events get popularity);
- online, capped (the service default) and online, uncapped: the cost of capping on honest users;
- control: online, capped, but each update folds in a random item instead of the user's own (an update that
  carries no information about the user should not help).

    nice -n 10 python bench/serve_online.py --json bench/results/serve_online.json
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from personae.data import load_dataset
from personae.data.splits import temporal
from personae.experiment import write_json
from personae.models.ampcf import AMPCF
from personae.serve.online import UpdateOptions
from personae.serve.service import PersonaService, ServeOptions
from personae.serve.store import SQLiteStore
from personae.stats import compare_paired


def events_in_time_order(part) -> list[tuple[str, int]]:
    order = np.lexsort((np.arange(len(part)), part.timestamps))
    return [(str(part.user_ids[part.users[i]]), int(part.items[i])) for i in order]


def rank_ndcg(scores: np.ndarray, target: int, seen: set[int]) -> float:
    """NDCG@10 of one target item: its rank among unseen items (ties counted against it)."""
    scores = scores.astype(np.float64).copy()
    scores[list(seen - {target})] = -np.inf
    rank = int((scores > scores[target]).sum() + (scores[np.arange(len(scores)) != target] == scores[target]).sum())
    return 1.0 / np.log2(rank + 2) if rank < 10 else 0.0


def replay(model: AMPCF, warmup: list[tuple[str, int]], events: list[tuple[str, int]], update: UpdateOptions | None,
           random_items: bool = False, seed: int = 0) -> dict[str, list[float]]:
    """Per-user lists of next-item NDCG@10 over ``events``; ``update=None`` is the frozen arm."""
    with tempfile.TemporaryDirectory() as scratch:
        service = PersonaService(model, SQLiteStore(Path(scratch) / "replay.sqlite", synchronous="OFF"),
                                 ServeOptions(update=update or UpdateOptions()))
        rng = np.random.default_rng(seed)
        item_ids = service.data.item_ids
        seen: dict[str, set[int]] = {}
        for user, item in warmup:
            seen.setdefault(user, set(service.history(user).tolist())).add(item)
        if update is not None:  # fold the validation period in, one batch per user
            batches: dict[str, list[int]] = {}
            for user, item in warmup:
                batches.setdefault(user, []).append(item)
            for user, items in batches.items():
                posted = rng.integers(0, len(item_ids), len(items)) if random_items else items
                service.post_events(user, [{"item": item_ids[i]} for i in posted])
        ndcg: dict[str, list[float]] = {}
        for user, item in events:
            mine = seen.setdefault(user, set(service.history(user).tolist()))
            state = service.state(user)
            if state.source == "popularity":
                scores = service.data.item_popularity.astype(np.float64)
            else:
                scores = service.retriever.exact(state.vectors, state.mask)
            ndcg.setdefault(user, []).append(rank_ndcg(scores, item, mine))
            mine.add(item)
            if update is not None:
                posted = int(rng.integers(0, len(item_ids))) if random_items else item
                mine.add(posted)
                service.post_events(user, [{"item": item_ids[posted]}])
        return ndcg


def per_user_mean(ndcg: dict[str, list[float]], users: list[str]) -> np.ndarray:
    return np.array([np.mean(ndcg[u]) for u in users])


def compare(a: dict, b: dict, users: list[str]) -> dict:
    return compare_paired(per_user_mean(a, users), per_user_mean(b, users), unit="users").to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench/results/serve_online.json")
    parser.add_argument("--lrs", default="0.01,0.03,0.1")
    parser.add_argument("--step-percentiles", default="99")
    parser.add_argument("--drift-percentiles", default="50,90,99")
    parser.add_argument("--user-fraction", type=float, default=0.3, help="share of users replayed (CPU budget)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    split = temporal(load_dataset("ml-100k"), valid_fraction=0.1, test_fraction=0.2)
    model = AMPCF(seed=0, progress=False).fit(split.train, split.valid)
    train_seconds = time.perf_counter() - start
    valid, test = events_in_time_order(split.valid), events_in_time_order(split.test)
    everyone = sorted({u for u, _ in valid + test})
    sampled = set(np.random.default_rng(0).choice(everyone, int(len(everyone) * args.user_fraction), replace=False))
    valid, test = [e for e in valid if e[0] in sampled], [e for e in test if e[0] in sampled]
    valid_users = sorted({u for u, _ in valid})

    # 1. choose lr, the step percentile and the drift percentile on the validation replay
    frozen_valid = replay(model, [], valid, None)
    tuning = {}
    for lr in [float(x) for x in args.lrs.split(",")]:
        for pct in [float(x) for x in args.step_percentiles.split(",")]:
            for drift in [float(x) for x in args.drift_percentiles.split(",")]:
                arm = replay(model, [], valid, UpdateOptions(lr=lr, step_percentile=pct, drift_percentile=drift))
                tuning[(lr, pct, drift)] = {"arm": arm, "ndcg@10": float(per_user_mean(arm, valid_users).mean()),
                                            "vs_frozen": compare(arm, frozen_valid, valid_users)}
                print("valid", lr, pct, drift, tuning[(lr, pct, drift)]["ndcg@10"], flush=True)
    lr, pct, _ = max(tuning, key=lambda key: tuning[key]["ndcg@10"])
    uncapped_valid = replay(model, [], valid, UpdateOptions(lr=lr, step_percentile=pct, cap=False))
    # the drift bound: the strictest percentile whose validation NDCG is not measurably below uncapped
    # (the CI of capped minus uncapped reaches zero), else the loosest tried
    drifts = sorted(d for (a, b, d) in tuning if (a, b) == (lr, pct))
    for drift in drifts:
        tuning[(lr, pct, drift)]["vs_uncapped"] = compare(tuning[(lr, pct, drift)]["arm"], uncapped_valid, valid_users)
    fine = [d for d in drifts if tuning[(lr, pct, d)]["vs_uncapped"]["high"] >= 0]
    drift = fine[0] if fine else drifts[-1]
    chosen = UpdateOptions(lr=lr, step_percentile=pct, drift_percentile=drift)
    tuning = {f"lr={a},step_percentile={b},drift_percentile={d}": {k: v for k, v in t.items() if k != "arm"}
              for (a, b, d), t in tuning.items()}
    tuning["uncapped"] = {"ndcg@10": float(per_user_mean(uncapped_valid, valid_users).mean())}

    # 2. the test replay, four arms on the same events
    arms = {"frozen": replay(model, valid, test, None),
            "online_capped": replay(model, valid, test, chosen),
            "online_uncapped": replay(model, valid, test, replace(chosen, cap=False)),
            "control_random_updates": replay(model, valid, test, chosen, random_items=True)}
    users = sorted({u for u, _ in test})
    cold = [u for u in users if len(split.train.user_history(split.train.user_index(u))) == 0]
    report = {
        "dataset": "ml-100k", "split": "temporal 70/10/20 (global time cut)", "model": "ampcf defaults, seed 0",
        "train_seconds": train_seconds, "test_events": len(test), "test_users": len(users), "cold_test_users": len(cold),
        "valid_events": len(valid), "user_fraction": args.user_fraction, "tuning_on_validation": tuning, "chosen": {"lr": lr, "step_percentile": pct, "drift_percentile": drift},
        "ndcg@10": {name: float(np.mean([x for u in users for x in arm[u]])) for name, arm in arms.items()},
        "ndcg@10_per_user_mean": {name: float(per_user_mean(arm, users).mean()) for name, arm in arms.items()},
        "online_capped_vs_frozen": compare(arms["online_capped"], arms["frozen"], users),
        "online_uncapped_vs_frozen": compare(arms["online_uncapped"], arms["frozen"], users),
        "capping_cost_capped_vs_uncapped": compare(arms["online_capped"], arms["online_uncapped"], users),
        "control_vs_frozen": compare(arms["control_random_updates"], arms["frozen"], users),
        "warm_users_online_capped_vs_frozen": compare(arms["online_capped"], arms["frozen"],
                                                      [u for u in users if u not in cold]),
        "seconds": time.perf_counter() - start,
        "machine": f"{platform.machine()}, 2 cores, 24 GiB, shared with other jobs",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    write_json(args.json, report)
    print({k: report[k] for k in ("ndcg@10", "online_capped_vs_frozen", "capping_cost_capped_vs_uncapped",
                                  "control_vs_frozen", "chosen")})


if __name__ == "__main__":
    main()
