"""Where personas should pay: the twin comparison on grocery households (complete-journey), next-basket protocol.

Data: complete-journey purchases with repeats (one event per household, basket and product), products bought by
at least ``--min-households`` households (50 by default: 3,887 products, so EASE's item-item matrix fits a
shared 2-core machine; the built-in dataset keeps products of >= 5 households). Split: the next-basket protocol
(personae.data.next_basket): a time cut, each household's next basket after it as the target; the household's
last basket before the cut is validation (early stopping and tuning, which mask the items already bought).
Every model is trained once per seed and scored on both variants:

  repeat  the whole next basket, nothing masked (buying again counts);
  new     only products the household never bought, its own products masked.

``run-default`` trains on the project's default protocol instead, on the same products: (household, product) at
its first purchase, leave-last-out, repeats masked (personae.data.splits.leave_last_out, trained and scored by
personae.runs.train_and_evaluate). Each run also keeps its per-household calibration of the top-10 (base-2
Jensen-Shannon distance of product-category mixes, list against history, after Steck 2018), and on seed 0 the
faithfulness of its explanations (the deletion protocol of personae.explain.faithfulness, as on ml-100k) for 300
test households drawn with seed 0. ``default`` writes that section (bench/results/grocery-default/).

Each run is saved (bench/results/grocery/NAME-sSEED.json and .npz with per-household NDCG@10), so runs are
added one at a time and ``--parts table`` assembles the comparison with seed-aware paired intervals against mf
(personae.stats.compare_paired over seeds x households).

    python bench/grocery.py --parts run --models pop,top-freq,tifu-knn,itemknn,ease,ease-personas --seeds 0
    python bench/grocery.py --parts run --models mf,ampcf --seeds 0,1,2 --param epochs=4 --param patience=2
    python bench/grocery.py --parts run --models ampcf --seeds 0,1,2 --param epochs=4 --param patience=2 --param dim=16 --tag=-d16
    python bench/grocery.py --parts table,bytes,strata,ease,k
    python bench/grocery.py --parts run-default --models mf,ampcf --seeds 0,1,2 --param epochs=4 --param patience=2
    python bench/grocery.py --parts run-default --models pop,ease-personas --seeds 0
    python bench/grocery.py --parts default

``bytes`` pairs each persona model with the mf of the same bytes per user (K personas of dim d against one
vector of dim K*d); ``strata`` splits households into terciles of the category entropy and of the length of
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
from explain import fold_in_fidelity
from personas import parse_bench_params
from results_md import replace_section, stamp

from personae.data.complete_journey import read_complete_journey, read_purchases
from personae.data.next_basket import next_basket
from personae.data.registry import fetch
from personae.data.sources import DataSource
from personae.data.splits import Split, leave_last_out
from personae.evaluate.evaluator import evaluate, rank, seen_items
from personae.evaluate.metrics import calibration_distance
from personae.evaluate.strata import genre_entropy, history_length
from personae.experiment import build_model, ci_entry, params_for, train_and_evaluate, write_json
from personae.explain.faithfulness import (
    compare_explainers,
    fold_in_faithfulness,
    persona_faithfulness,
)
from personae.explain.part_faithfulness import part_faithfulness
from personae.stats import Interval, compare_paired, holm

HERE = Path(__file__).parent
RUNS = HERE / "results" / "grocery"
DEFAULT_RUNS = HERE / "results" / "grocery-default"
FAITHFULNESS_USERS = 300
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


def load_runs(folder: Path = RUNS) -> dict[str, list[tuple[dict, dict]]]:
    """Model label (name + tag) -> [(entry, arrays)] over the saved seeds, in seed order."""
    found: dict[str, list[tuple[dict, dict]]] = {}
    for path in sorted(folder.glob("*.json")):
        entry = json.loads(path.read_text())
        arrays = dict(np.load(path.with_suffix(".npz")))
        found.setdefault(entry["model"] + entry.get("tag", ""), []).append((entry, arrays))
    return {k: sorted(v, key=lambda pair: pair[0]["seed"]) for k, v in found.items()}


def paired_interval(runs: list[tuple[dict, dict]], twin: list[tuple[dict, dict]], variant: str,
                    metric: str = "ndcg") -> Interval | None:
    """Paired difference of a per-household metric against the twin over the seeds both have (seeds x
    households); ``metric``: the array suffix (``ndcg`` for NDCG@10, ``calibration`` for the JS distance)."""
    twin_by_seed = {e["seed"]: a for e, a in twin}
    pairs = [(a, twin_by_seed[e["seed"]]) for e, a in runs if e["seed"] in twin_by_seed]
    if not pairs:
        return None
    mine = np.stack([a[f"{variant}_{metric}"] for a, _ in pairs])
    theirs = np.stack([b[f"{variant}_{metric}"] for _, b in pairs])
    return compare_paired(mine, theirs, unit="households")


def versus(runs: list[tuple[dict, dict]], twin: list[tuple[dict, dict]], variant: str, metric: str = "ndcg") -> str:
    """:func:`paired_interval` as a table cell."""
    interval = paired_interval(runs, twin, variant, metric)
    if interval is None:
        return "-"
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


EQUAL_BYTES = (("ampcf-d4", "mf-d16"), ("ampcf-d16", "mf"), ("ampcf-k2", "mf-d128"),
               ("ampcf", "mf-d256"))  # 64, 256, 512, 1024 bytes


def pairs_table(section: str, title: str, pairs: tuple[tuple[str, str], ...], note: str, command: str) -> None:
    """One row per (model, reference) pair: both NDCG@10 means and the paired difference on both variants, each
    with its p-value Holm-adjusted over every comparison of the table (rows x variants)."""
    runs = load_runs()
    rows = [(m, r) for m, r in pairs if m in runs and r in runs]
    intervals = [paired_interval(runs[m], runs[r], v) for m, r in rows for v in PROTOCOLS]
    adjusted = iter(holm([i.p_value for i in intervals]))
    cells = iter(f"{i.estimate:+.4f} [{i.low:+.4f}, {i.high:+.4f}] ({i.n_seeds} seed(s)), Holm p={next(adjusted):.2f}"
                 for i in intervals)
    lines = [("| bytes/user | model | NDCG@10 (repeat) | reference | NDCG@10 (repeat) | repeat: model - reference "
              "[95% CI] | new: model - reference [95% CI] |"), "|---|---|---|---|---|---|---|"]
    for model, reference in rows:
        mean = {m: np.mean([e["repeat"]["ndcg@10"] for e, _ in runs[m]]) for m in (model, reference)}
        lines.append(f"| {runs[model][0][0]['bytes_per_user']:.0f} | {model} | {mean[model]:.4f} | {reference} | "
                     f"{mean[reference]:.4f} | {next(cells)} | {next(cells)} |")
    holm_note = f" Holm p: p-value adjusted over the table's {len(intervals)} comparisons (rows x 2 variants)."
    body = "\n".join([f"### {title}", "", stamp(command), note + holm_note, "", *lines])
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


def default_split(min_households: int) -> Split:
    """The project's default protocol on the same products: first purchases, leave-last-out (repeats masked)."""
    return leave_last_out(read_complete_journey(fetch("complete-journey"), min_households=min_households))


def faithfulness_of(model, name: str, users: np.ndarray) -> dict[str, dict]:
    """Each explanation's deletion figures (share of cases where removing it beats a random control of the same
    size, over the same recommendations) and, for mf's fold-in explainers, their paired differences."""
    if name == "ampcf":
        measured = {"winning persona (vs random other persona)": persona_faithfulness(model, users)}
    elif name == "ease-personas":
        measured = {"persona with the largest part (vs random other persona)": part_faithfulness(model, users)}
    elif name == "mf":
        measured = {f"3 {e} items, fold-in (vs 3 random items)": fold_in_faithfulness(model, users, e)
                    for e in ("recent", "similar", "random")}
    else:
        return {}
    out: dict[str, dict] = {label: f.summary() for label, f in measured.items()}
    if name == "mf":  # the instrument check of ml-100k: does the fold-in vector rank like the trained one?
        out["fold-in fidelity"] = {"top10_overlap": fold_in_fidelity(model, users)}
    labels: list[str] = list(measured)
    for first in labels[:-1]:  # mf: each explainer against the null explainer (random items), same cases
        short = [label.split(",")[0] for label in (first, labels[-1])]  # "3 recent items", "3 random items"
        out[f"{short[0]} minus {short[1]}"] = ci_entry(compare_explainers(measured[first], measured[labels[-1]]))
    return out


def run_default(models: list[str], seeds: list[int], params: dict, min_households: int, tag: str) -> None:
    split = default_split(min_households)
    genres = split.train.genre_onehot[0]
    print(f"train {len(split.train)} events, {split.train.n_users} households, {split.train.n_items} products",
          flush=True)
    DEFAULT_RUNS.mkdir(parents=True, exist_ok=True)
    for name in models:
        for seed in seeds:
            trained = train_and_evaluate(DataSource(dataset="complete-journey"), name, params_for(name, params),
                                         seed=seed, progress=False, split=split)
            users = trained.result.users
            seen = seen_items(split, "test")[users]
            lists = rank(trained.model, users, 10, seen)
            arrays = {"test_users": users, "test_ndcg": trained.result.per_user["ndcg@10"],
                      "test_calibration": calibration_distance(seen, lists, genres)}
            entry = {"model": name, "tag": tag, "seed": seed, "params": params_for(name, params),
                     "min_households": min_households, "protocol": split.method,
                     "train_seconds": trained.train_seconds, "bytes_per_user": trained.model.bytes_per_user(),
                     "test": {c: trained.result.metrics[c] for c in COLUMNS if c in trained.result.metrics}}
            if seed == 0:
                sample = np.sort(np.random.default_rng(0).choice(users, FAITHFULNESS_USERS, replace=False))
                start = time.perf_counter()
                entry["faithfulness"] = faithfulness_of(trained.model, name, sample)
                entry["faithfulness_seconds"] = time.perf_counter() - start
            entry["load"] = os.getloadavg()[0]
            stem = DEFAULT_RUNS / f"{name}{tag}-s{seed}"
            write_json(stem.with_suffix(".json"), entry)
            np.savez(stem.with_suffix(".npz"), **arrays)
            print(json.dumps({k: v for k, v in entry.items() if k != "faithfulness"}), flush=True)


def faithfulness_lines(runs: dict[str, list[tuple[dict, dict]]]) -> list[str]:
    lines = [("| model | explanation (control) | cases | share beats control [95% CI] | POS@10 explained | "
             "POS@10 control |"), "|---|---|---|---|---|---|"]
    paired = []
    for label, pairs in runs.items():
        for explanation, s in pairs[0][0].get("faithfulness", {}).items():
            if explanation == "fold-in fidelity":
                paired.append(f"- {label}: the fold-in vector's top-10 overlaps the trained {label}'s by "
                              f"{s['top10_overlap']:.2f} (the instrument check)")
                continue
            if "minus" in explanation:
                paired.append(f"- {label}: {explanation}: {s['diff']:+.3f} [{s['ci_low']:+.3f}, "
                              f"{s['ci_high']:+.3f}], p={s['p_value']:.3g}, over {s['n_units']:,} {s['unit']}")
                continue
            lines.append(f"| {label} | {explanation} | {s['cases']:,} | {s['share_beats_control']:.3f} "
                         f"[{s['share_ci'][0]:.3f}, {s['share_ci'][1]:.3f}] | {s['pos@k_explained']:.3f} | "
                         f"{s['pos@k_control']:.3f} |")
    return [*lines, "", "Paired over the same recommendations (compare_explainers: paired t over households), and the fold-in check:",
            "", *paired]


def equal_bytes_line(runs: dict[str, list[tuple[dict, dict]]], model: str = "ampcf",
                     reference: str = "mf-d256") -> list[str]:
    """ampcf (K=4 x d=64) against the single vector of the same bytes per household, when both were run."""
    if model not in runs or reference not in runs:
        return []
    return [(f"At equal bytes per household ({runs[model][0][0]['bytes_per_user']:.0f}): {model} - {reference} "
            f"NDCG@10 {versus(runs[model], runs[reference], 'test')}; calibration "
            f"{versus(runs[model], runs[reference], 'test', 'calibration')}.")]


def default_table(command: str, twin_label: str) -> None:
    runs = load_runs(DEFAULT_RUNS)
    twin = runs.get(twin_label, [])
    lines = [(f"| model | seeds | ndcg@10 | hr@10 | coverage@10 | NDCG@10 vs {twin_label} [95% CI] | calibration JS@10 "
             f"(lower = closer to history) | calibration vs {twin_label} [95% CI] | train s |"), "|" + "---|" * 9]
    for label, pairs in runs.items():
        entries = [e for e, _ in pairs]
        cells = [f"{np.mean([e['test'][c] for e in entries]):.4f}" for c in ("ndcg@10", "hr@10", "coverage@10")]
        calibration = np.nanmean([np.nanmean(a["test_calibration"]) for _, a in pairs])
        vs = ["-", "-"] if label == twin_label else [versus(pairs, twin, "test", m) for m in ("ndcg", "calibration")]
        lines.append(f"| {label} | {','.join(str(e['seed']) for e in entries)} | " + " | ".join(cells)
                     + f" | {vs[0]} | {calibration:.3f} | {vs[1]} | {np.mean([e['train_seconds'] for e in entries]):.0f} |")
    entries = [e for p in runs.values() for e, _ in p]
    n_users = len(next(iter(runs.values()))[0][1]["test_users"])
    params = sorted({f"{e['model']}{e.get('tag', '')}: {e['params']}" for e in entries if e["params"]})
    body = "\n".join([
        "### The persona claim on the default protocol (complete-journey, leave-last-out)", "", stamp(command),
        (f"Same products as the next-basket table (bought by >= {entries[0]['min_households']} households), each "
         f"(household, product) at its first purchase, leave-last-out with repeats masked "
         f"(personae.data.splits.leave_last_out; {n_users:,} test households); trained and scored by "
         "personae.runs.train_and_evaluate. Runs: `bench/results/grocery-default/*.json` (`python "
         "bench/grocery.py --parts run-default --models M --seeds S --param epochs=4 --param patience=2`); load "
         f"average at the runs' ends {min(e['load'] for e in entries):.1f}-{max(e['load'] for e in entries):.1f} "
         "on 2 cores shared with other agents. Intervals: personae.stats.compare_paired over seeds x households. "
         "Calibration: base-2 Jensen-Shannon distance between the product-category mix of the household's "
         "history and of its top-10 (personae.evaluate.metrics.calibration_distance, as on ml-100k), mean over "
         "households and seeds; pop is its control (one list for everyone)."),
        "Options: " + "; ".join(params) + ".", "", *lines, "", *equal_bytes_line(runs), "",
        (f"Faithfulness of explanations (seed 0, {FAITHFULNESS_USERS} test households drawn with seed 0, their "
         "top-10; the LXR-style deletion protocol of personae.explain.faithfulness as on ml-100k). *Share beats "
         "control*: how often removing what the explanation names pushes the item further down than removing as "
         "many random features (ties 1/2; 0.5 = no better than random), t interval over households. mf is "
         "explained by fold-in of its item vectors (ridge with implicit negatives, as bpr on ml-100k); "
         "ease-personas' parts sum to its score, so its figure is largely self-agreement of an exact "
         "decomposition."), "", *faithfulness_lines(runs)])
    replace_section("grocery-default", body)
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
    if "run-default" in parts:
        run_default(args.models.split(","), [int(s) for s in args.seeds.split(",")], parse_bench_params(args.param),
                    args.min_households, args.tag)
    if "default" in parts:
        default_table("python bench/grocery.py --parts default", args.twin)
    if "table" in parts:
        table("python bench/grocery.py --parts table", args.twin)
    if "bytes" in parts:
        pairs_table("grocery-bytes", "Personas against mf at equal bytes per user (complete-journey, next basket)",
                    EQUAL_BYTES, "ampcf-dD: K=4 personas of dimension D; ampcf-k2: K=2 personas of dimension 64; "
                    "ampcf: K=4 of dimension 64; mf: one vector of dimension 64; mf-dD: one vector of dimension D. NDCG "
                    "columns: mean over each model's seeds; intervals: over the seeds both models have x households "
                    "(one seed: seed variance not measured). ampcf-k2 is the best K of the K study below, measured on this same "
                    "test set: the 512-byte row was picked after seeing it.", "python bench/grocery.py --parts bytes")
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
