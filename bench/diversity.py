"""Diversity without re-ranking (issue 7, part 3) on MovieLens-100K, leave-last-out, full ranking.

Four top-10 lists per user:
  ampcf               ampcf's plain ranking (defaults)
  bpr                 bpr's plain ranking (defaults)
  bpr+mmr             bpr re-ranked by MMR (genre Jaccard), lambda tuned on VALIDATION so that its validation
                      NDCG@10 (seed mean) is closest to ampcf's
  bpr+mmr ild-matched the same, lambda tuned so that its validation ild@10 is closest to the proportional list's:
                      what re-ranking costs in NDCG to buy that diversity
  ampcf proportional  slots shared out among ampcf's personas by prior weight (largest remainder)
Measured on test: NDCG@10 (the one evaluator), ild@10, coverage@10, genres per list, persona share (ampcf's
personas of the same seed read every list) and calibration (JS distance of list vs history genre mix).
Paired t intervals over users (personae.stats.compare_paired; per-user values averaged over seeds, validation NDCG@10 seed-aware) for the comparisons in COMPARISONS.

    python bench/diversity.py [--seeds 0,1,2] [--cache DIR]

Trained models are saved under --cache and reused, so adding a seed retrains only that seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
from results_md import git_revision, machine, replace_section, stamp

from personae.data import load_dataset
from personae.data.splits import Split, leave_last_out
from personae.evaluate import EvaluationResult, evaluate
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
    proportional_lists,
    winning_personas,
)
from personae.experiment import build_model, ci_entry, write_json
from personae.models.base import Recommender
from personae.models.persistence import load_model
from personae.stats import compare_paired

HERE = Path(__file__).parent
K = 10
# coarse over [0, 0.9], fine near 1 where MMR's small steps in diversity happen
LAMBDAS = tuple(float(x) for x in np.round(np.r_[np.arange(0.0, 0.9, 0.1), np.arange(0.9, 1.0001, 0.01)], 2))
CANDIDATES = 100  # MMR re-ranks each user's top 100 unseen items
LISTS = ("ampcf", "bpr", "bpr+mmr", "bpr+mmr ild-matched", "ampcf proportional")
PER_USER = ("ndcg@10", "ild@10", "genres@10", "persona_share@10", "calibration_js@10")
HIGHER_IS_BETTER = {"ndcg@10": True, "ild@10": True, "genres@10": True, "persona_share@10": True,
                    "calibration_js@10": False}
COMPARISONS = (("ampcf", "bpr+mmr"), ("ampcf", "bpr"), ("ampcf proportional", "ampcf"),
               ("ampcf proportional", "bpr+mmr"), ("ampcf proportional", "bpr+mmr ild-matched"))


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


def build_lists(models: dict[str, Recommender], split: Split, part: str,
                mmr_lambdas: dict[str, float]) -> dict[str, np.ndarray]:
    """(n_users, K) item indices of every list, for rankings of ``part`` ('valid' or 'test').

    ``mmr_lambdas`` names the bpr+MMR lists to build and gives each its lambda.
    """
    users = np.arange(split.train.n_users)
    seen = seen_items(split, part)
    genres = split.train.genre_onehot[0]
    ampcf_scores, bpr_scores = (masked_scores(models[n], users, seen) for n in ("ampcf", "bpr"))
    lists = {"ampcf": top_k(ampcf_scores, K), "bpr": top_k(bpr_scores, K),
             "ampcf proportional": proportional_lists(models["ampcf"], users, seen, K)}
    for name, lam in mmr_lambdas.items():
        lists[name] = mmr_lists(bpr_scores, genres, K, lam, CANDIDATES)
    return lists


def valid_result(lists: np.ndarray, split: Split) -> EvaluationResult:
    """Validation metrics of one list builder, from the one evaluator."""
    return evaluate(FixedLists(lists, split.train.n_items), split, "valid", ks=(K,))


def valid_metrics(lists: np.ndarray, split: Split) -> tuple[float, float]:
    """Validation (NDCG@10, ild@10) of one list builder."""
    metrics = valid_result(lists, split).metrics
    return metrics["ndcg@10"], metrics["ild@10"]


def validation_curve(model: Recommender, split: Split) -> dict[float, tuple[float, float]]:
    """Validation (NDCG@10, ild@10) of bpr+MMR lists at every lambda of the grid."""
    users = np.arange(split.train.n_users)
    scores = masked_scores(model, users, seen_items(split, "valid"))
    genres = split.train.genre_onehot[0]
    return {float(lam): valid_metrics(mmr_lists(scores, genres, K, lam, CANDIDATES), split) for lam in LAMBDAS}


def closest(curve: dict[float, float], target: float) -> float:
    """The lambda whose value is closest to ``target``; ties go to the milder re-ranking (larger lambda)."""
    return min(curve, key=lambda lam: (abs(curve[lam] - target), -lam))


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

    # --- lambda on validation (seed means): matched to ampcf's NDCG@10, and to the proportional list's ild@10 ---
    valid = {seed: build_lists(models[seed], split, "valid", {}) for seed in seeds}
    target_ndcg = float(np.mean([valid_metrics(valid[s]["ampcf"], split)[0] for s in seeds]))
    target_ild = float(np.mean([valid_metrics(valid[s]["ampcf proportional"], split)[1] for s in seeds]))
    curves = [validation_curve(models[s]["bpr"], split) for s in seeds]
    ndcg_curve = {lam: float(np.mean([c[lam][0] for c in curves])) for lam in curves[0]}
    ild_curve = {lam: float(np.mean([c[lam][1] for c in curves])) for lam in curves[0]}
    lambdas = {"bpr+mmr": closest(ndcg_curve, target_ndcg), "bpr+mmr ild-matched": closest(ild_curve, target_ild)}
    print(f"validation: ampcf ndcg@10 {target_ndcg:.4f}, proportional ild@10 {target_ild:.4f}; lambdas {lambdas}",
          flush=True)

    # --- test ---------------------------------------------------------------------------------------------
    per_seed: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in LISTS}
    coverages: dict[str, list[float]] = {name: [] for name in LISTS}
    valid_ndcg: dict[str, list[np.ndarray]] = {name: [] for name in LISTS}  # per user, per seed
    for seed in seeds:
        lists = build_lists(models[seed], split, "test", lambdas)
        bpr_valid = masked_scores(models[seed]["bpr"], np.arange(split.train.n_users), seen_items(split, "valid"))
        for name, lam in lambdas.items():
            valid[seed][name] = mmr_lists(bpr_valid, split.train.genre_onehot[0], K, lam, CANDIDATES)
        for name in LISTS:
            users, per_user, cover = measure(lists[name], split, models[seed]["ampcf"])
            per_seed[name].append(per_user)
            coverages[name].append(cover)
            valid_ndcg[name].append(valid_result(valid[seed][name], split).per_user["ndcg@10"])
        print(f"seed {seed}: " + ", ".join(f"{n} {per_seed[n][-1]['ndcg@10'].mean():.4f}" for n in LISTS), flush=True)

    # per-user values averaged over seeds (same test users under every seed: leave-last-out is deterministic)
    averaged = {name: {m: np.mean([p[m] for p in per_seed[name]], axis=0) for m in PER_USER} for name in LISTS}
    table, std = [], {}
    for name in LISTS:
        seed_means = {m: [float(np.nanmean(p[m])) for p in per_seed[name]] for m in PER_USER}
        seed_means["coverage@10"] = coverages[name]
        seed_means["valid ndcg@10"] = [float(np.mean(v)) for v in valid_ndcg[name]]
        table.append({"list": name, **{m: float(np.mean(v)) for m, v in seed_means.items()}})
        std[name] = {m: float(np.std(v)) for m, v in seed_means.items()}
    comparisons = {}
    for a, b in COMPARISONS:
        entry = {}
        for m in PER_USER:
            diff = averaged[a][m] - averaged[b][m]
            kept = np.isfinite(diff)  # seed-averaged per user (lists differ per seed): seed variance not in it
            ci = ci_entry(compare_paired(averaged[a][m][kept], averaged[b][m][kept], unit="users"))
            entry[m] = {**ci, "verdict": verdict(ci, HIGHER_IS_BETTER[m])}
        entry["valid ndcg@10"] = ci_entry(compare_paired(np.stack(valid_ndcg[a]), np.stack(valid_ndcg[b]),
                                                         unit="validation users"))
        entry["valid ndcg@10"]["verdict"] = verdict(entry["valid ndcg@10"], True)
        comparisons[f"{a} - {b}"] = entry
    proportional_wins = all(beats(comparisons[f"ampcf proportional - {b}"]) for b in ("ampcf", "bpr+mmr"))
    return {
        "title": "Diversity without re-ranking (ml-100k, top-10)",
        "command": command,
        "table": table,
        "summary": {
            "dataset": "ml-100k", "protocol": "leave-last-out/full", "seeds": seeds, "k": K,
            "machine": machine() + " (2 cores, 24 GiB, shared with other jobs)", "date": date.today().isoformat(),
            "mmr_lambda": lambdas["bpr+mmr"], "mmr_lambda_ild_matched": lambdas["bpr+mmr ild-matched"],
            "mmr_candidates": CANDIDATES,
            "valid_ndcg@10_target_ampcf": target_ndcg, "valid_ild@10_target_proportional": target_ild,
            "valid_ndcg@10_bpr_mmr_by_lambda": ndcg_curve, "valid_ild@10_bpr_mmr_by_lambda": ild_curve,
            "std_over_seeds": std, "comparisons": comparisons,
            "beats_rule": "not worse on ndcg@10, better on >= 1 of ild/genres/persona share/calibration, worse on none",
            "proportional_beats_both": proportional_wins,
            "test_users": len(users),
            "revision": git_revision(),  # the code that trained the models and built the lists
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
        stamp(report["command"]).replace("torch CPU", "torch CPU; shared with other jobs").rstrip("\n")
        + f"  \nCode: {s.get('revision', 'unknown')}\n",
        (f"Leave-last-out, full ranking, top-10 lists, {s['test_users']} test users, seeds {seeds} (mean ± std over "
        "seeds). Both models use their defaults. `bpr+mmr` re-ranks bpr's top "
        f"{s['mmr_candidates']} by MMR with genre-Jaccard similarity; λ = {s['mmr_lambda']} was chosen on "
        f"validation so that its validation NDCG@10 ({at(s['valid_ndcg@10_bpr_mmr_by_lambda'], s['mmr_lambda']):.4f}) "
        f"is closest to ampcf's ({s['valid_ndcg@10_target_ampcf']:.4f}); `bpr+mmr ild-matched` uses "
         f"λ = {s['mmr_lambda_ild_matched']}, chosen so that its validation ild@10 "
         f"({at(s['valid_ild@10_bpr_mmr_by_lambda'], s['mmr_lambda_ild_matched']):.4f}) is closest to the proportional "
         f"list's ({s['valid_ild@10_target_proportional']:.4f}). `ampcf proportional` shares the 10 slots "
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
    compared = (*PER_USER, "valid ndcg@10")
    lines += ["", ("Paired differences over users (per-user values averaged over seeds; test users, and "
                   "validation users for the last column, crossed seeds x users), 95% paired t interval; a CI that includes zero is reported as "
                   "no difference:"), "",
              "| comparison | " + " | ".join(label for m, label in COLUMNS if m in compared) + " |",
              "|---|" + "---|" * len(compared)]
    for name, entry in s["comparisons"].items():
        cells = [f"{entry[m]['diff']:+.4f} [{entry[m]['ci_low']:+.4f}, {entry[m]['ci_high']:+.4f}] "
                 f"{entry[m]['verdict']}" for m in compared]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", reading(report), "", CAVEATS]
    return "\n".join(lines)


CAVEATS = ("Caveats. Persona share is partly built into the proportional list: its slots are shared among the same "
           "personas that read it (the reading is the attention winner of each item, not the slot that chose it). "
           "bpr varies more between seeds than ampcf (see the ± columns); the CIs pair users on seed-averaged values.")


def at(curve: dict, lam: float) -> float:
    """A lambda's value in a curve, whether its keys are floats (in memory) or strings (read back from JSON)."""
    return curve[lam] if lam in curve else curve[str(lam)]


def reading(report: dict) -> str:
    """A plain reading generated from the CIs, so the words cannot drift from the figures."""
    s = report["summary"]
    names = dict(COLUMNS)

    def says(comparison: str) -> str:
        entry = s["comparisons"][comparison]
        return "; ".join(f"{names[m]} {entry[m]['verdict']}" for m in PER_USER)

    verdict_words = "beats" if s["proportional_beats_both"] else "does not beat"
    table = {row["list"]: row for row in report["table"]}
    reached = at(s["valid_ndcg@10_bpr_mmr_by_lambda"], s["mmr_lambda"])
    no_rerank = (f"No λ brings bpr's validation NDCG@10 up to ampcf's; λ = {s['mmr_lambda']} is the grid value that "
                 f"comes nearest ({reached:.4f} against {s['valid_ndcg@10_target_ampcf']:.4f}), so the match is not "
                 "exact: bpr+MMR stays below ampcf in validation NDCG@10. "
                 if reached < s["valid_ndcg@10_target_ampcf"] else "")
    on_valid = s["comparisons"]["ampcf proportional - ampcf"]["valid ndcg@10"]["verdict"]
    validation = (f"On validation the proportional list's NDCG@10 is {table['ampcf proportional']['valid ndcg@10']:.4f} "
                  f"against ampcf's {table['ampcf']['valid ndcg@10']:.4f} ({on_valid}). ")
    return (no_rerank + validation + "Reading (for the first list of each pair; better = higher NDCG, ild, genres and persona share, lower "
            f"calibration distance). ampcf vs bpr+MMR: {says('ampcf - bpr+mmr')}. ampcf vs plain bpr: "
            f"{says('ampcf - bpr')}. Persona-proportional vs ampcf: {says('ampcf proportional - ampcf')}. "
            f"Persona-proportional vs bpr+MMR: {says('ampcf proportional - bpr+mmr')}. Persona-proportional vs "
            f"bpr+MMR at the same validation ild@10: {says('ampcf proportional - bpr+mmr ild-matched')}. By the rule "
            f"({s['beats_rule']}), the persona-proportional list {verdict_words} both ampcf and bpr+MMR.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--cache", default="/tmp/personae-diversity-models", help="folder of trained models")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite RESULTS.md from the saved JSON")
    args = parser.parse_args()
    if args.markdown_only:
        replace_section("diversity", markdown(json.loads((HERE / "results" / "diversity.json").read_text())))
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    command = "python bench/diversity.py " + " ".join(sys.argv[1:])
    report = run(seeds, Path(args.cache), command.strip())
    write_json(HERE / "results" / "diversity.json", report)
    replace_section("diversity", markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
