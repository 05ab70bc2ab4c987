"""Capping against injected clicks: 50 random clicks per attacked user, posted one at a time through the
service's update path, with and without capping. How far do the user's top-10 recommendations move?

Figure: overlap@10 between the user's top-10 before and after the burst (1 = unmoved, 0 = all replaced), and
how far the personas moved (max over personas of the distance from the state before the burst, which for these
known users is the drift bound's anchor, their trained personas), capped vs uncapped, with a paired t
interval over users (personae.stats). Control: the overlap@10 of two different users' top-10 lists, i.e. what
"moved to somebody else entirely" looks like. Capping's cost on honest users is measured by
bench/serve_online.py (capped vs uncapped next-item NDCG@10).

    nice -n 10 python bench/serve_capping.py runs/ml100k-ampcf --json bench/results/serve_capping.json
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from personae.experiment import write_json
from personae.models.persistence import load_model
from personae.serve.online import UpdateOptions
from personae.serve.service import PersonaService, ServeOptions
from personae.serve.store import SQLiteStore
from personae.stats import compare_paired


def top10(service: PersonaService, user: str) -> set[str]:
    return {i["item"] for i in service.recommend(user, 10, explain=False)["items"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--clicks", type=int, default=50)
    parser.add_argument("--step-percentile", type=float, default=UpdateOptions.step_percentile)
    parser.add_argument("--drift-percentile", type=float, default=UpdateOptions.drift_percentile,
                        help="percentile of honest drifts bounding the drift from the anchor (negative: none)")
    parser.add_argument("--json", default="bench/results/serve_capping.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model_dir)
    data = model.fitted_data
    rng = np.random.default_rng(0)
    attacked = [str(u) for u in rng.choice(data.user_ids, args.users, replace=False)]
    result = {}
    with tempfile.TemporaryDirectory() as scratch:
        drift = None if args.drift_percentile < 0 else args.drift_percentile
        capped = ServeOptions(update=UpdateOptions(step_percentile=args.step_percentile, drift_percentile=drift))
        services = {"capped": PersonaService(model, SQLiteStore(Path(scratch) / "c.sqlite", synchronous="OFF"), capped),
                    "uncapped": PersonaService(model, SQLiteStore(Path(scratch) / "u.sqlite", synchronous="OFF"),
                                               ServeOptions(update=UpdateOptions(cap=False)))}
        before = {u: top10(services["capped"], u) for u in attacked}
        bursts = {u: rng.choice(data.n_items, args.clicks, replace=False) for u in attacked}
        for name, service in services.items():
            overlap, moved = [], []
            for user in attacked:
                start = service.state(user).vectors.copy()
                for item in bursts[user]:
                    service.post_events(user, [{"item": str(data.item_ids[item])}])
                overlap.append(len(before[user] & top10(service, user)) / 10)
                moved.append(float(np.linalg.norm(service.state(user).vectors - start, axis=1).max()))
            result[name] = {"overlap": np.array(overlap), "moved": np.array(moved)}
        bounds = services["capped"].updater.bounds
    others = [(a, b) for a, b in zip(attacked, attacked[1:] + attacked[:1])]
    control = np.array([len(before[a] & before[b]) / 10 for a, b in others])
    report = {
        "model_dir": args.model_dir, "attacked_users": args.users, "clicks_per_user": args.clicks,
        "clicks": "uniformly random unseen-or-seen catalogue items, posted one event at a time",
        "bounds": {"low": bounds.low, "high": bounds.high, "max_step": bounds.max_step, "max_drift": bounds.max_drift,
                   "percentiles": list(UpdateOptions().percentiles), "step_percentile": args.step_percentile,
                   "drift_percentile": drift},
        "overlap@10": {name: float(r["overlap"].mean()) for name, r in result.items()},
        "persona_distance_moved_mean": {name: float(r["moved"].mean()) for name, r in result.items()},
        "overlap@10_capped_minus_uncapped": compare_paired(result["capped"]["overlap"], result["uncapped"]["overlap"],
                                                            unit="users").to_dict(),
        "distance_capped_minus_uncapped": compare_paired(result["capped"]["moved"], result["uncapped"]["moved"],
                                                         unit="users").to_dict(),
        "control_overlap@10_between_different_users": float(control.mean()),
        "no_attack_overlap@10": 1.0,
        "machine": f"{platform.machine()}, 2 cores, 24 GiB, shared with other jobs",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    write_json(args.json, report)
    print({k: report[k] for k in ("overlap@10", "persona_distance_moved_mean", "overlap@10_capped_minus_uncapped",
                                  "control_overlap@10_between_different_users")})


if __name__ == "__main__":
    main()
