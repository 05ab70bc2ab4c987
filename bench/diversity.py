"""Diversity without re-ranking (issue 7, part 3) on MovieLens-100K, leave-last-out, full ranking.

Four top-10 lists per user:
  ampcf               ampcf's plain ranking (defaults)
  bpr                 bpr's plain ranking (defaults)
  bpr+mmr             bpr re-ranked by MMR (genre Jaccard), lambda tuned on VALIDATION so that its validation
                      NDCG@10 (seed mean) is closest to ampcf's
  ampcf proportional  slots shared out among ampcf's personas by prior weight (largest remainder)
Measured on test: NDCG@10 (the one evaluator), ild@10, coverage@10, genres per list, persona share (ampcf's
personas of the same seed read every list) and calibration (JS distance of list vs history genre mix).
Paired bootstrap CIs over users (per-user values averaged over seeds) for the comparisons in COMPARISONS.

    python bench/diversity.py [--seeds 0,1,2] [--cache DIR]

Trained models are saved under --cache and reused, so adding a seed retrains only that seed.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
from results_md import machine, replace_section, stamp

from personae.data import load_dataset
from personae.data.splits import Split, leave_last_out
from personae.evaluate import evaluate
from personae.evaluate.evaluator import seen_items
from personae.evaluate.metrics import (
    calibration_distance,
    genres_per_list,
    intra_list_distances,
    persona_share,
    top_k,
)
from personae.evaluate.rerank import (
    FixedLists,
    masked_scores,
    mmr_lists,
    plain_lists,
    proportional_lists,
    winning_personas,
)
from personae.experiment import build_model, paired_bootstrap, write_json
from personae.models.base import Recommender
from personae.models.persistence import load_model

HERE = Path(__file__).parent
K = 10
LAMBDAS = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))
CANDIDATES = 100  # MMR re-ranks each user's top 100 unseen items
LISTS = ("ampcf", "bpr", "bpr+mmr", "ampcf proportional")
PER_USER = ("ndcg@10", "ild@10", "genres@10", "persona_share@10", "calibration_js@10")
HIGHER_IS_BETTER = {"ndcg@10": True, "ild@10": True, "genres@10": True, "persona_share@10": True,
                    "calibration_js@10": False}
COMPARISONS = (("ampcf", "bpr+mmr"), ("ampcf", "bpr"), ("ampcf proportional", "ampcf"),
               ("ampcf proportional", "bpr+mmr"))


def fitted(name: str, seed: int, split: Split, cache: Path) -> Recommender:
    """The model trained with defaults on ``split`` for ``seed``; reloaded from ``cache`` when saved there."""
    folder = cache / f"{name}-seed{seed}"
    if (folder / "config.json").exists():
        return load_model(folder)
    start = time.perf_counter()
    model = build_model(name, seed=seed, progress=False).fit(split.train, split.valid)
    print(f"  {name} seed {seed}: trained in {time.perf_counter() - start:.0f}s", flush=True)
    model.save(str(folder))
    return model


def build_lists(models: dict[str, Recommender], split: Split, part: str, lam: float) -> dict[str, np.ndarray]:
    """(n_users, K) item indices of every list, for rankings of ``part`` ('valid' or 'test')."""
    users = np.arange(split.train.n_users)
    seen = seen_items(split, part)
    genres = split.train.genre_onehot[0]
    ampcf_scores, bpr_scores = (masked_scores(models[n], users, seen) for n in ("ampcf", "bpr"))
    return {
        "ampcf": top_k(ampcf_scores, K),
        "bpr": top_k(bpr_scores, K),
        "bpr+mmr": mmr_lists(bpr_scores, genres, K, lam, CANDIDATES),
        "ampcf proportional": proportional_lists(models["ampcf"], users, seen, K),
    }


def ndcg(lists: np.ndarray, split: Split, part: str) -> float:
    return evaluate(FixedLists(lists, split.train.n_items), split, part, ks=(K,), beyond_accuracy=False).metrics["ndcg@10"]


def validation_curve(model: Recommender, split: Split) -> dict[float, float]:
    """Validation NDCG@10 of MMR-re-ranked lists at every lambda of the grid."""
    users = np.arange(split.train.n_users)
    scores = masked_scores(model, users, seen_items(split, "valid"))
    genres = split.train.genre_onehot[0]
    return {float(lam): ndcg(mmr_lists(scores, genres, K, lam, CANDIDATES), split, "valid") for lam in LAMBDAS}


def measure(lists: np.ndarray, split: Split, instrument: Recommender) -> tuple[np.ndarray, dict[str, np.ndarray], float]:
    """Test users, their per-user metrics, and coverage@10 of one list builder."""
    result = evaluate(FixedLists(lists, split.train.n_items), split, "test", ks=(K,))
    users = result.users
    mine = lists[users]
    genres = split.train.genre_onehot[0]
    per_user = {
        "ndcg@10": result.per_user["ndcg@10"],
        "ild@10": intra_list_distances(mine, genres),
        "genres@10": genres_per_list(mine, genres).astype(float),
        "persona_share@10": persona_share(*winning_personas(instrument, users, mine)),
        "calibration_js@10": calibration_distance(seen_items(split, "test")[users], mine, genres),
    }
    return users, per_user, result.metrics["coverage@10"]


def verdict(ci: dict[str, float], higher_is_better: bool) -> str:
    """'better', 'worse' or 'no difference' for the first list of a comparison, from its CI."""
    if ci["ci_low"] <= 0.0 <= ci["ci_high"]:
        return "no difference"
    return "better" if (ci["diff"] > 0) == higher_is_better else "worse"


def beats(comparison: dict[str, dict]) -> bool:
    """Rule: not worse on NDCG@10, better on at least one diversity measure, worse on none."""
    verdicts = {m: comparison[m]["verdict"] for m in PER_USER}
    diversity = [verdicts[m] for m in PER_USER if m != "ndcg@10"]
    return verdicts["ndcg@10"] != "worse" and "better" in diversity and "worse" not in diversity


def run(seeds: list[int], cache: Path, command: str) -> dict:
    split = leave_last_out(load_dataset("ml-100k"))
    models = {seed: {name: fitted(name, seed, split, cache) for name in ("ampcf", "bpr")} for seed in seeds}

    # --- lambda on validation: bpr+MMR's validation NDCG@10 closest to ampcf's (seed means) -------------
    everyone, seen_valid = np.arange(split.train.n_users), seen_items(split, "valid")
    target = float(np.mean([ndcg(plain_lists(models[s]["ampcf"], everyone, seen_valid, K), split, "valid")
                            for s in seeds]))
    curves = [validation_curve(models[s]["bpr"], split) for s in seeds]
    curve = {lam: float(np.mean([c[lam] for c in curves])) for lam in curves[0]}
    lam = min(curve, key=lambda x: (abs(curve[x] - target), -x))  # ties: the milder re-ranking
    print(f"validation ndcg@10: ampcf {target:.4f}; bpr+mmr at lambda {lam}: {curve[lam]:.4f}", flush=True)

    # --- test ---------------------------------------------------------------------------------------------
    per_seed: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in LISTS}
    coverages: dict[str, list[float]] = {name: [] for name in LISTS}
    valid_ndcg: dict[str, list[float]] = {name: [] for name in LISTS}
    for seed in seeds:
        lists = build_lists(models[seed], split, "test", lam)
        valid_lists = build_lists(models[seed], split, "valid", lam)
        for name in LISTS:
            users, per_user, cover = measure(lists[name], split, models[seed]["ampcf"])
            per_seed[name].append(per_user)
            coverages[name].append(cover)
            valid_ndcg[name].append(ndcg(valid_lists[name], split, "valid"))
        print(f"seed {seed}: " + ", ".join(f"{n} {per_seed[n][-1]['ndcg@10'].mean():.4f}" for n in LISTS), flush=True)

    # per-user values averaged over seeds (same test users under every seed: leave-last-out is deterministic)
    averaged = {name: {m: np.mean([p[m] for p in per_seed[name]], axis=0) for m in PER_USER} for name in LISTS}
    table, std = [], {}
    for name in LISTS:
        seed_means = {m: [float(np.nanmean(p[m])) for p in per_seed[name]] for m in PER_USER}
        seed_means["coverage@10"] = coverages[name]
        seed_means["valid ndcg@10"] = valid_ndcg[name]
        table.append({"list": name, **{m: float(np.mean(v)) for m, v in seed_means.items()}})
        std[name] = {m: float(np.std(v)) for m, v in seed_means.items()}
    comparisons = {}
    for a, b in COMPARISONS:
        entry = {}
        for m in PER_USER:
            diff = averaged[a][m] - averaged[b][m]
            ci = paired_bootstrap(diff[np.isfinite(diff)])
            entry[m] = {**ci, "verdict": verdict(ci, HIGHER_IS_BETTER[m])}
        comparisons[f"{a} - {b}"] = entry
    proportional_wins = all(beats(comparisons[f"ampcf proportional - {b}"]) for b in ("ampcf", "bpr+mmr"))
    return {
        "title": "Diversity without re-ranking (ml-100k, top-10)",
        "command": command,
        "table": table,
        "summary": {
            "dataset": "ml-100k", "protocol": "leave-last-out/full", "seeds": seeds, "k": K,
            "machine": machine() + " (2 cores, 24 GiB, shared with other jobs)", "date": date.today().isoformat(),
            "mmr_lambda": lam, "mmr_candidates": CANDIDATES,
            "valid_ndcg@10_target_ampcf": target, "valid_ndcg@10_bpr_mmr_by_lambda": curve,
            "std_over_seeds": std, "comparisons": comparisons,
            "beats_rule": "not worse on ndcg@10, better on >= 1 of ild/genres/persona share/calibration, worse on none",
            "proportional_beats_both": proportional_wins,
            "test_users": len(users),
        },
    }


COLUMNS = (("ndcg@10", "NDCG@10"), ("ild@10", "ild@10"), ("coverage@10", "coverage@10"),
           ("genres@10", "genres/list"), ("persona_share@10", "persona share"),
           ("calibration_js@10", "calibration JS (lower = closer)"), ("valid ndcg@10", "valid NDCG@10"))


def markdown(report: dict) -> str:
    s = report["summary"]
    seeds = ",".join(map(str, s["seeds"]))
    lines = [
        "## Diversity without re-ranking (issue 7, part 3): ampcf vs bpr vs bpr+MMR on ml-100k", "",
        stamp(report["command"]).replace("torch CPU", "torch CPU; shared with other jobs"), "",
        (f"Leave-last-out, full ranking, top-10 lists, {s['test_users']} test users, seeds {seeds} (mean ± std over "
        "seeds). Both models use their defaults. `bpr+mmr` re-ranks bpr's top "
        f"{s['mmr_candidates']} by MMR with genre-Jaccard similarity; λ = {s['mmr_lambda']} was chosen on "
        f"validation so that its validation NDCG@10 ({s['valid_ndcg@10_bpr_mmr_by_lambda'][s['mmr_lambda']]:.4f}) "
        f"is closest to ampcf's ({s['valid_ndcg@10_target_ampcf']:.4f}). `ampcf proportional` shares the 10 slots "
        "among the user's ampcf personas by prior weight (largest remainder), each persona filling its slots "
        "with its own best items, then orders them by ampcf's score. Persona share reads every list through "
        "ampcf's personas (same seed): the share of the user's kept personas that win at least one item. "
        "Calibration is the base-2 Jensen-Shannon distance between the genre mix of the user's history "
        "(train + validation items) and of the list, each item's mass spread evenly over its genres (after Steck 2018)."),
        "",
        "| list | " + " | ".join(label for _, label in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for row in report["table"]:
        std = s["std_over_seeds"][row["list"]]
        lines.append(f"| {row['list']} | " + " | ".join(f"{row[m]:.4f} ± {std[m]:.4f}" for m, _ in COLUMNS) + " |")
    lines += ["", ("Paired differences over test users (per-user values averaged over seeds), 95% bootstrap CI; "
              "a CI that includes zero is reported as no difference:"), "",
              "| comparison | " + " | ".join(label for m, label in COLUMNS if m in PER_USER) + " |",
              "|---|" + "---|" * len(PER_USER)]
    for name, entry in s["comparisons"].items():
        cells = [f"{entry[m]['diff']:+.4f} [{entry[m]['ci_low']:+.4f}, {entry[m]['ci_high']:+.4f}] "
                 f"{entry[m]['verdict']}" for m in PER_USER]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", reading(report)]
    return "\n".join(lines)


def reading(report: dict) -> str:
    """A plain reading generated from the CIs, so the words cannot drift from the figures."""
    s = report["summary"]
    names = dict(COLUMNS)

    def says(comparison: str) -> str:
        entry = s["comparisons"][comparison]
        return "; ".join(f"{names[m]} {entry[m]['verdict']}" for m in PER_USER)

    verdict_words = "beats" if s["proportional_beats_both"] else "does not beat"
    return ("Reading (for the first list of each pair; better = higher NDCG, ild, genres and persona share, lower "
            f"calibration distance). ampcf vs bpr+MMR: {says('ampcf - bpr+mmr')}. ampcf vs plain bpr: "
            f"{says('ampcf - bpr')}. Persona-proportional vs ampcf: {says('ampcf proportional - ampcf')}. "
            f"Persona-proportional vs bpr+MMR: {says('ampcf proportional - bpr+mmr')}. By the rule "
            f"({s['beats_rule']}), the persona-proportional list {verdict_words} both.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--cache", default="/tmp/personae-diversity-models", help="folder of trained models")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    command = "python bench/diversity.py " + " ".join(sys.argv[1:])
    report = run(seeds, Path(args.cache), command.strip())
    write_json(HERE / "results" / "diversity.json", report)
    replace_section("diversity", markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
