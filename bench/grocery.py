"""Where personas should pay: the twin comparison on grocery households (complete-journey), next-basket protocol.

Data: complete-journey purchases with repeats (one event per household, basket and product), products bought by
at least ``--min-households`` households (50 by default: 3,887 products, so EASE's item-item matrix fits a
shared 2-core machine; the built-in dataset keeps products of >= 5 households). Split: the next-basket protocol
(personae.data.next_basket): a time cut, each household's next basket after it as the target; the household's
last basket before the cut is validation (early stopping and tuning, which mask the items already bought).
Every model is trained once per seed and scored on both variants:

  repeat  the whole next basket, nothing masked (buying again counts);
  new     only products the household never bought, its own products masked.

Each run is saved (bench/results/grocery/NAME-sSEED.json and .npz with per-household NDCG@10), so runs are
added one at a time and ``--parts table`` assembles the comparison with seed-aware paired intervals against mf
(personae.stats.compare_paired over seeds x households).

    python bench/grocery.py --parts run --models pop,top-freq,tifu-knn,itemknn,ease,ease-personas --seeds 0
    python bench/grocery.py --parts run --models mf,ampcf --seeds 0,1,2 --param epochs=4 --param patience=2
    python bench/grocery.py --parts run --models ampcf --seeds 0,1,2 --param epochs=4 --param patience=2 --param dim=16 --tag=-d16
    python bench/grocery.py --parts table,bytes,strata,ease,k

``bytes`` pairs each persona model with the mf of the same bytes per user (K=4 personas of dim d against one
vector of dim 4d); ``strata`` splits households into terciles of the category entropy and of the length of
their training history and compares the best persona model with mf within each.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from personas import parse_bench_params
from results_md import replace_section, stamp

from personae.data.complete_journey import read_purchases
from personae.data.next_basket import next_basket
from personae.data.registry import fetch
from personae.data.splits import Split
from personae.evaluate.evaluator import evaluate
from personae.evaluate.strata import genre_entropy, history_length
from personae.experiment import build_model, params_for, write_json
from personae.stats import compare_paired

HERE = Path(__file__).parent
RUNS = HERE / "results" / "grocery"
PROTOCOLS = {"repeat": False, "new": True}  # variant -> exclude_seen
COLUMNS = ("ndcg@10", "hr@10", "recall@10", "coverage@10", "ild@10")


def grocery_splits(min_households: int) -> dict[str, Split]:
    """The repeat and new-products next-basket splits; they share train and valid."""
    data = read_purchases(fetch("complete-journey"), min_households=min_households)
    repeat = next_basket(data)
    new = next_basket(data, new_only=True)
    return {"repeat": repeat, "new": replace(repeat, test=new.test, method=new.method)}


def run(models: list[str], seeds: list[int], params: dict, min_households: int, tag: str) -> None:
    splits = grocery_splits(min_households)
    train = splits["repeat"].train
    print(f"train {len(train)} events, {train.n_users} households, {train.n_items} products", flush=True)
    RUNS.mkdir(parents=True, exist_ok=True)
    for name in models:
        for seed in seeds:
            model = build_model(name, params_for(name, params), seed=seed, progress=False)
            start = time.perf_counter()
            model.fit(train, splits["repeat"].valid)
            seconds = time.perf_counter() - start
            entry = {"model": name, "tag": tag, "seed": seed, "params": params_for(name, params),
                     "min_households": min_households, "train_seconds": seconds,
                     "bytes_per_user": model.bytes_per_user(), "load": os.getloadavg()[0]}
            arrays = {}
            for variant, exclude_seen in PROTOCOLS.items():
                result = evaluate(model, splits[variant], exclude_seen=exclude_seen)
                entry[variant] = {c: result.metrics[c] for c in COLUMNS if c in result.metrics}
                arrays[f"{variant}_users"] = result.users
                arrays[f"{variant}_ndcg"] = result.per_user["ndcg@10"]
            stem = RUNS / f"{name}{tag}-s{seed}"
            write_json(stem.with_suffix(".json"), entry)
            np.savez(stem.with_suffix(".npz"), **arrays)
            print(json.dumps(entry), flush=True)


def load_runs() -> dict[str, list[tuple[dict, dict]]]:
    """Model label (name + tag) -> [(entry, arrays)] over the saved seeds, in seed order."""
    found: dict[str, list[tuple[dict, dict]]] = {}
    for path in sorted(RUNS.glob("*.json")):
        entry = json.loads(path.read_text())
        arrays = dict(np.load(path.with_suffix(".npz")))
        found.setdefault(entry["model"] + entry.get("tag", ""), []).append((entry, arrays))
    return {k: sorted(v, key=lambda pair: pair[0]["seed"]) for k, v in found.items()}


def versus(runs: list[tuple[dict, dict]], twin: list[tuple[dict, dict]], variant: str) -> str:
    """Paired NDCG@10 difference against the twin over the seeds both have (seeds x households)."""
    twin_by_seed = {e["seed"]: a for e, a in twin}
    pairs = [(a, twin_by_seed[e["seed"]]) for e, a in runs if e["seed"] in twin_by_seed]
    if not pairs:
        return "-"
    mine = np.stack([a[f"{variant}_ndcg"] for a, _ in pairs])
    theirs = np.stack([b[f"{variant}_ndcg"] for _, b in pairs])
    interval = compare_paired(mine, theirs, unit="households")
    return f"{interval.estimate:+.4f} [{interval.low:+.4f}, {interval.high:+.4f}] ({interval.n_seeds} seed(s))"


def table(command: str, twin_label: str) -> None:
    runs = load_runs()
    twin = runs.get(twin_label, [])
    sections = []
    for variant in PROTOCOLS:
        lines = ["| model | seeds | " + " | ".join(COLUMNS) + f" | NDCG@10 vs {twin_label} [95% CI] | bytes/user "
                 "| train s |", "|" + "---|" * (len(COLUMNS) + 5)]
        for label, pairs in runs.items():
            entries = [e for e, _ in pairs]
            cells = [f"{np.mean([e[variant][c] for e in entries]):.4f}" if c in entries[0][variant] else "-"
                     for c in COLUMNS]
            vs = "-" if label == twin_label else versus(pairs, twin, variant)
            lines.append(f"| {label} | {','.join(str(e['seed']) for e in entries)} | " + " | ".join(cells)
                         + f" | {vs} | {entries[0]['bytes_per_user']:.0f} | "
                         f"{np.mean([e['train_seconds'] for e in entries]):.0f} |")
        n_users = len(next(iter(runs.values()))[0][1][f"{variant}_users"])
        sections += [f"**{variant}** ({n_users:,} households with a target):", "", *lines, ""]
    params = sorted({f"{e['model']}{e.get('tag', '')}: {e['params']}" for p in runs.values() for e, _ in p
                     if e["params"]})
    loads = [e["load"] for p in runs.values() for e, _ in p]
    body = "\n".join([
        "### The twin comparison on complete-journey (next basket)", "", stamp(command),
        (f"Runs: `{RUNS.relative_to(HERE.parent)}/*.json` (each with its own command line options below); load "
        f"average at the runs' ends {min(loads):.1f}-{max(loads):.1f} on 2 cores shared with other agents. "
        "Intervals: personae.stats.compare_paired of per-household NDCG@10 over seeds x households."),
        "Options: " + "; ".join(params) + ".", "", *sections])
    replace_section("grocery-table", body)
    print(body)


EQUAL_BYTES = (("ampcf-d4", "mf-d16"), ("ampcf-d16", "mf"), ("ampcf", "mf-d256"))  # 64, 256, 1024 bytes


def pairs_table(section: str, title: str, pairs: tuple[tuple[str, str], ...], note: str, command: str) -> None:
    """One row per (model, reference) pair: both NDCG@10 means and the paired difference on both variants."""
    runs = load_runs()
    lines = [("| bytes/user | model | NDCG@10 (repeat) | reference | NDCG@10 (repeat) | repeat: model - reference "
              "[95% CI] | new: model - reference [95% CI] |"), "|---|---|---|---|---|---|---|"]
    for model, reference in pairs:
        if model not in runs or reference not in runs:
            continue
        mean = {m: np.mean([e["repeat"]["ndcg@10"] for e, _ in runs[m]]) for m in (model, reference)}
        lines.append(f"| {runs[model][0][0]['bytes_per_user']:.0f} | {model} | {mean[model]:.4f} | {reference} | "
                     f"{mean[reference]:.4f} | {versus(runs[model], runs[reference], 'repeat')} | "
                     f"{versus(runs[model], runs[reference], 'new')} |")
    body = "\n".join([f"### {title}", "", stamp(command), note, "", *lines])
    replace_section(section, body)
    print(body)


def strata_table(command: str, persona: str, twin: str, min_households: int) -> None:
    runs = load_runs()
    train = grocery_splits(min_households)["repeat"].train
    measures = {"category entropy": genre_entropy(train), "history length": history_length(train)}
    lines = [f"| protocol | stratum | tercile | households | {persona} - {twin} NDCG@10 [95% CI] |",
             "|---|---|---|---|---|"]
    for variant in PROTOCOLS:
        users = runs[twin][0][1][f"{variant}_users"]
        for stratum, values in measures.items():
            cuts = np.quantile(values[users], [1 / 3, 2 / 3])
            tercile = np.digitize(values[users], cuts)
            for t, name in enumerate(("low", "mid", "high")):
                keep = tercile == t
                subset = [[(e, {f"{variant}_ndcg": a[f"{variant}_ndcg"][keep]}) for e, a in runs[m]]
                          for m in (persona, twin)]
                lines.append(f"| {variant} | {stratum} | {name} | {int(keep.sum())} | "
                             f"{versus(subset[0], subset[1], variant)} |")
    body = "\n".join([f"### Where {persona} differs from {twin}: strata (complete-journey, next basket)", "",
                      stamp(command), ("Terciles of each household's training history: entropy (bits) of its "
                      "product categories, and the number of distinct products."), "", *lines])
    replace_section("grocery-strata", body)
    print(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="table")
    parser.add_argument("--models", default="pop,top-freq,tifu-knn,itemknn,ease,ease-personas")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--min-households", type=int, default=50)
    parser.add_argument("--param", action="append", default=[], help="KEY=VALUE for every model that has it")
    parser.add_argument("--tag", default="", help="suffix naming a variant of a model, e.g. -d16")
    parser.add_argument("--twin", default="mf")
    parser.add_argument("--persona", default="ampcf", help="the persona model of the strata table")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if "run" in parts:
        run(args.models.split(","), [int(s) for s in args.seeds.split(",")], parse_bench_params(args.param),
            args.min_households, args.tag)
    if "table" in parts:
        table("python bench/grocery.py --parts table", args.twin)
    if "bytes" in parts:
        pairs_table("grocery-bytes", "Personas against mf at equal bytes per user (complete-journey, next basket)",
                    EQUAL_BYTES, "ampcf-dD: K=4 personas of dimension D; mf-dD: one vector of dimension D. NDCG "
                    "columns: mean over each model's seeds; intervals: over the seeds both models have x households "
                    "(one seed: seed variance not measured).", "python bench/grocery.py --parts bytes")
    if "k" in parts:
        pairs_table("grocery-k", "ampcf as K grows (complete-journey, next basket)",
                    (("ampcf-k2", "mf"), ("ampcf", "mf"), ("ampcf-k8", "mf"), ("ampcf-kauto", "mf")),
                    "K personas of dimension 64 (ampcf: K=4); each against mf over seeds 0, 1, 2 x households. "
                    "auto (`--param personas=auto`): 8 personas trained, then each household keeps those that win "
                    "the attention of at least one of its own training products or of its top-50 recommendations "
                    "(ampcf.prune_personas); bytes/user counts the 8 stored (pruning masks personas, it frees no storage).", "python bench/grocery.py --parts k")
    if "ease" in parts:
        pairs_table("grocery-ease", "ease-personas against EASE (complete-journey, next basket)",
                    (("ease-personas", "ease"),), "Both deterministic (one run each); interval over households.",
                    "python bench/grocery.py --parts ease")
    if "strata" in parts:
        strata_table(f"python bench/grocery.py --parts strata --persona {args.persona}", args.persona, args.twin,
                     args.min_households)


if __name__ == "__main__":
    main()
