"""Persona quality with nulls (personae.explain.persona_quality) beside accuracy, per model and data set.

For each model: train on leave-last-out for each seed (saved under ``--runs``/DATASET/, reused when present), test NDCG@10, then on a seeded sample of users: coherence of the top-10 with the explaining
persona's label (null: another persona of the same user), the same for supporting items, seed ARI of the
history assignment between the first two seeds (null: shuffled), the share of empty personas, and the label
silhouette (null: shuffled labels).

    python bench/persona_quality.py --dataset ml-100k --models ampcf,ampcf-clusters,ease-personas --seeds 0,1

Model labels: ``ampcf`` (defaults), ``ampcf-clusters`` (persona_source=clusters), ``ease-personas``,
``ease-personas-genre`` (clusters also follow genres: genre_weight=1), or any model name. ``--param KEY=VALUE`` applies to every model that has the option.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from personas import parse_bench_params
from results_md import replace_section, stamp

from personae.data import DataSource, load_source, make_split
from personae.evaluate.evaluator import evaluate
from personae.experiment import build_model, params_for, write_json
from personae.explain.faithfulness import persona_faithfulness
from personae.explain.part_faithfulness import part_faithfulness
from personae.explain.persona_quality import persona_quality
from personae.models.persistence import load_model
from personae.stats import compare_paired

HERE = Path(__file__).parent
VARIANTS = {"ampcf-clusters": ("ampcf", {"persona_source": "clusters"}),
            "ease-personas-genre": ("ease-personas", {"genre_weight": 1.0}),
            "ease-personas-genre2": ("ease-personas", {"genre_weight": 2.0}),
            "ease-personas-genre4": ("ease-personas", {"genre_weight": 4.0}),
            "ease-personas-genre-focus0.5": ("ease-personas", {"genre_weight": 1.0, "focus": 0.5}),
            "ease-personas-genre-focus1": ("ease-personas", {"genre_weight": 1.0, "focus": 1.0})}


def quality_split(dataset: str, min_households: int):
    """Leave-last-out for MovieLens; for complete-journey the next-basket split of bench/grocery.py with new
    products only (the target is products the household never bought, as ``recommend`` masks what it bought)."""
    if dataset != "complete-journey":
        return make_split(load_source(DataSource(dataset=dataset)), "leave-last-out")
    from grocery import grocery_splits

    return grocery_splits(min_households)["new"]


def trained(label: str, seed: int, split, params: dict, folder: Path):
    """The model for ``label`` and ``seed``: loaded from ``folder`` when saved there before, else trained."""
    name, fixed = VARIANTS.get(label, (label, {}))
    path = folder / f"{label}-s{seed}"
    if (path / "config.json").exists():
        run = json.loads((path / "run.json").read_text())
        return load_model(path), {**run, "per_user": np.load(path / "per_user.npy")}
    model = build_model(name, {**params_for(name, params), **fixed}, seed=seed, progress=False)
    start = time.perf_counter()
    model.fit(split.train, split.valid)
    seconds = time.perf_counter() - start
    model.save(str(path))
    result = evaluate(model, split)
    run = {"train_seconds": seconds, "ndcg@10": result.metrics["ndcg@10"],
           "options": {**params_for(name, params), **fixed}, "load": os.getloadavg()[0]}
    (path / "run.json").write_text(json.dumps(run))
    np.save(path / "per_user.npy", result.per_user["ndcg@10"])
    return model, {**run, "per_user": result.per_user["ndcg@10"]}


def sample_users(split, n: int, seed: int = 0) -> list[str]:
    """``n`` test users drawn with ``seed``; any seed but 0 draws among users outside seed 0's draw (validation
    users for choosing a rule, disjoint from the reported ones)."""
    with_test = np.unique(split.test.users)
    if seed != 0:
        reported = set(np.random.default_rng(0).choice(with_test, size=min(n, len(with_test)), replace=False))
        with_test = np.asarray([u for u in with_test if u not in reported])
    chosen = np.random.default_rng(seed).choice(with_test, size=min(n, len(with_test)), replace=False)
    return [str(split.train.user_ids[u]) for u in np.sort(chosen)]


def faithfulness(model, split, users: list[str]) -> dict | None:
    """Deletion faithfulness (personae.explain.faithfulness) of the model's persona explanations, or None for a
    model without personas to remove."""
    index = np.array([split.train.user_index(u) for u in users])
    if model.name == "ease-personas":
        return part_faithfulness(model, index).summary()
    if model.name == "ampcf":
        return persona_faithfulness(model, index).summary()
    return None


def fmt(interval: dict | None) -> str:
    return "-" if interval is None else f"{interval['estimate']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--models", default="ampcf,ampcf-clusters,ease-personas")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--user-seed", type=int, default=0, help="0: reported users; other: validation users")
    parser.add_argument("--faithfulness", type=int, default=0, help="users (the first of the sample) for the "
                        "deletion faithfulness of each persona model; 0: not measured")
    parser.add_argument("--min-households", type=int, default=50, help="complete-journey: products kept")
    parser.add_argument("--param", action="append", default=[])
    parser.add_argument("--runs", type=Path, default=Path("/tmp/persona-quality-runs"), help="saved models")
    args = parser.parse_args()
    params = parse_bench_params(args.param)
    seeds = [int(s) for s in args.seeds.split(",")]
    folder = args.runs / args.dataset
    folder.mkdir(parents=True, exist_ok=True)
    split = quality_split(args.dataset, args.min_households)
    users = sample_users(split, args.users, args.user_seed)
    rows, results, per_user, faith_rows = [], {}, {}, []
    for label in args.models.split(","):
        runs = [trained(label, seed, split, params, folder) for seed in seeds]
        models = [m for m, _ in runs]
        quality = persona_quality(models[0], users, models[1] if len(models) > 1 else None)
        quality["ndcg@10"] = [r["ndcg@10"] for _, r in runs]
        quality["train_seconds"] = [r["train_seconds"] for _, r in runs]
        quality["options"] = runs[0][1]["options"]
        per_user[label] = np.stack([r["per_user"] for _, r in runs])  # (seeds, users)
        for reference in ("ease", "ampcf"):  # a seedless reference's one ranking pairs with every seed
            if reference in per_user and label != reference:
                theirs = per_user[reference]
                theirs = np.broadcast_to(theirs[:1], per_user[label].shape) if len(theirs) != len(seeds) else theirs
                quality[f"vs_{reference}"] = compare_paired(per_user[label], theirs, unit="users").to_dict()
        if args.faithfulness:
            quality["faithfulness"] = faithfulness(models[0], split, users[:args.faithfulness])
            if quality["faithfulness"]:
                f = quality["faithfulness"]
                faith_rows.append(f"| {label} | {f['explanation']} | {f['control']} | {f['share_beats_control']:.3f} "
                                  f"[{f['share_ci'][0]:.3f}, {f['share_ci'][1]:.3f}] | {f['users']} | {f['cases']} | "
                                  f"{f['pos@k_explained']:.3f} | {f['pos@k_control']:.3f} |")
        results[label] = quality
        print(label, json.dumps(quality)[:400], flush=True)
        c, s = quality["coherence"], quality["seed_stability"] or {}
        structure = quality["label_structure"]
        silhouette = ("-" if structure["silhouette"] is None else
                      f"{structure['silhouette']:.3f} (shuffled {structure['shuffled']['mean']:.3f})")
        versus = {r: "-" if quality.get(f"vs_{r}") is None else "{estimate:+.4f} [{low:+.4f}, {high:+.4f}]".format(
            **quality[f"vs_{r}"]) for r in ("ease", "ampcf")}
        rows.append(f"| {label} | {np.mean(quality['ndcg@10']):.4f} | {versus['ease']} | {versus['ampcf']} | "
                    f"{fmt(c['recommended'])} | "
                    f"{fmt(c['recommended_vs_null'])} | {fmt(c['supporting'])} | {fmt(c['supporting_vs_null'])} | "
                    f"{fmt(s.get('ari'))} (shuffled {s.get('shuffled', float('nan')):.3f}) | "
                    f"{quality['empty_personas']['share']:.3f} | {silhouette} |")
    protocol = ("next basket, new products only, products of >= "
                f"{args.min_households} households" if args.dataset == "complete-journey" else "leave-last-out")
    suffix = "" if args.user_seed == 0 else f"-validation{args.user_seed}"
    write_json(HERE / "results" / f"persona_quality-{args.dataset}{suffix}.json", results)
    command = (f"python bench/persona_quality.py --dataset {args.dataset} --models {args.models} --seeds {args.seeds} "
               f"--users {args.users} --user-seed {args.user_seed}" + "".join(f" --param {p}" for p in args.param))
    body = "\n".join([
        f"### Persona quality on {args.dataset}{suffix}, with nulls", "", stamp(command),
        (f"{len(users)} test users drawn with seed {args.user_seed}; NDCG@10 is the seed mean over {args.seeds} ({protocol}, "
        f"full ranking); quality on seed {seeds[0]}, ARI between seeds {seeds[0]} and {seeds[-1]}. Coherence: share "
        "of the top-10 sharing a genre with the explaining persona's label (mean over users, t interval); vs null: "
        "paired difference with another persona's label of the same user. Load: 2 cores shared with other agents."),
        "", ("| model | NDCG@10 | vs ease [95% CI] | vs ampcf [95% CI] | coherence | vs other persona | supporting "
        "coherence | vs other persona | seed ARI | empty personas | label silhouette |"),
        "|---|---|---|---|---|---|---|---|---|---|---|", *rows])
    replace_section(f"persona-quality-{args.dataset}{suffix}", body)
    print(body)
    if faith_rows:
        faith = "\n".join([
            f"### Faithfulness of persona explanations on {args.dataset}{suffix}", "", stamp(command + f" --faithfulness {args.faithfulness}"),
            ("Deletion protocol of personae.explain.faithfulness, seed 0 models, top-10 of the first "
             f"{args.faithfulness} sampled users: share of recommendations pushed further down by removing the "
             "explaining persona than by removing a random other persona (0.5 = no better than random; t interval "
             "over users). For ease-personas the score is the sum of the persona parts, so removing the largest part "
             "lowers the item's own score most by construction: largely self-agreement (personae.explain."
             "part_faithfulness)."), "",
            ("| model | explanation | control | share beats control [95% CI] | users | cases | POS@10 explained | "
            "POS@10 control |"), "|---|---|---|---|---|---|---|---|", *faith_rows])
        replace_section(f"persona-faithfulness-{args.dataset}{suffix}", faith)
        print(faith)


if __name__ == "__main__":
    main()
