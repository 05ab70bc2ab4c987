"""Multi-persona models against single-vector baselines on MovieLens (leave-last-out, full ranking).

Parts (each writes its own section of RESULTS.md and a JSON under bench/results/):
  table    `personae benchmark` over the models and seeds, paired NDCG@10 CI against bpr, and
           NDCG@10 by terciles of a user's genre entropy (where does multi-persona gain?)
  control  bpr trained with ampcf's loss settings, paired against ampcf
  k        ampcf NDCG@10 as K goes 1, 2, 4, 8 (K=1 is the single-vector bottleneck), collapse per K
  auto     per-user K (personas=auto): the distribution of K over users
  collapse ampcf with and without the diversity penalty: persona cosine and NDCG@10

    python bench/personas.py [--parts table,control,k,auto,collapse] [--seeds 0,1,2] [--models ...]
        [--dataset ml-1m] [--param epochs=12 ...] [--save-models DIR]

`--param KEY=VALUE` applies to every model that has the option (sizes runs for 2 cores, e.g. an epoch cap on
ml-1m); `--save-models DIR` keeps each trained model (DIR/NAME-sSEED) and its per-user test NDCG@10
(DIR/NAME-sSEED/per_user.npz) so stratified analyses reuse the runs instead of retraining.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
from results_md import replace_section, stamp

from personae import experiment
from personae.data import DataSource, load_source, make_split
from personae.evaluate.strata import genre_entropy as training_genre_entropy

HERE = Path(__file__).parent
SOURCE = DataSource(dataset="ml-100k")
SUFFIX = ""  # results-file and section suffix for datasets other than ml-100k
MODELS = "pop,itemknn,ease,bpr,din,mind,ampcf"
COLUMNS = ("ndcg@10", "hr@10", "recall@20", "mrr@10", "coverage@10", "ild@10", "novelty@10")


def parse_bench_params(pairs: list[str]) -> dict:
    """``["epochs=12"]`` -> ``{"epochs": 12}``: numbers become int or float, the rest stays text."""
    params: dict = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        for convert in (int, float):
            try:
                params[key] = convert(raw)
                break
            except ValueError:
                continue
        else:
            params[key] = raw
    return params


def genre_entropy(split) -> np.ndarray:
    """(n_users,) Shannon entropy (bits) of the genre distribution of each user's training items."""
    return training_genre_entropy(split.train)


def table(seeds: list[int], models: list[str], command: str, params: dict, save_dir: Path | None) -> None:
    per_user: dict[str, list[np.ndarray]] = {}
    users: dict[str, np.ndarray] = {}

    def collect(name, seed, run, entry):
        per_user.setdefault(name, []).append(run.result.per_user["ndcg@10"])
        users[name] = run.result.users
        print(f"{name} seed {seed}: ndcg@10 {entry['ndcg@10']:.4f} ({entry['train_seconds']:.0f}s)", flush=True)
        if save_dir is not None:
            folder = save_dir / f"{name}-s{seed}"
            run.model.save(folder)
            np.savez(folder / "per_user.npz", users=run.result.users, ndcg=run.result.per_user["ndcg@10"])

    report = experiment.benchmark(SOURCE, models, seeds, params, baseline="bpr", on_result=collect)
    report["params"] = params
    tag = ("" if models == MODELS.split(",") else "-" + "-".join(models)) + SUFFIX
    experiment.write_json(HERE / "results" / f"benchmark{tag}.json", report)
    lines = ["| model | " + " | ".join(COLUMNS) + " | NDCG@10 vs bpr [95% CI] | vs mf [95% CI] | train s "
             "| bytes/user |", "|" + "---|" * (len(COLUMNS) + 5)]

    def gain(ci: dict | None) -> str:
        return f"{ci['diff']:+.4f} [{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}], p={ci['p_value']:.3f}" if ci else "-"

    for name, entry in report["models"].items():
        cells = [experiment.mean_std(entry, c) for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {gain(entry.get('vs_baseline'))} | "
                     f"{gain(entry.get('vs', {}).get(experiment.TWIN))} | {entry['train_seconds']:.1f} | "
                     f"{entry['bytes_per_user']:.0f} |")
    # NDCG@10 by genre-entropy tercile of the user's training history
    split = make_split(load_source(SOURCE), "leave-last-out")
    entropy = genre_entropy(split)
    any_users = next(iter(users.values()))
    cuts = np.quantile(entropy[any_users], [1 / 3, 2 / 3])
    tercile = np.digitize(entropy[any_users], cuts)
    terciles = ["| model | low entropy | mid entropy | high entropy |", "|---|---|---|---|"]
    by_tercile = {}
    for name, arrays in per_user.items():
        mean = np.mean(arrays, axis=0)
        by_tercile[name] = [float(mean[tercile == t].mean()) for t in range(3)]
        terciles.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in by_tercile[name]) + " |")
    experiment.write_json(HERE / "results" / f"entropy_terciles{tag}.json",
                          {"cuts_bits": cuts.tolist(), "ndcg@10": by_tercile})
    body = "\n".join([
        f"## Multi-persona models against single-vector baselines ({SOURCE.dataset}): {', '.join(models)}", "",
        stamp(command),
        "Leave-last-out, full ranking; mean ± std over seeds " + ",".join(map(str, seeds)) + ". The CI is the",
        (f"95% paired, seed-aware interval over the {len(any_users):,} test users x {len(seeds)} seed(s) of the "
         "per-user NDCG@10 difference (`personae.stats.compare_paired`: crossed seeds x users t; one seed: paired t "
         "over users, seed variance not measured), with its p-value."),
        *([f"Sized for 2 cores: options {params} for every model that has them."] if params else []),
        f"Same table: `personae benchmark --dataset {SOURCE.dataset} --models " + ",".join(models) + " --seeds "
        + ",".join(map(str, seeds)) + "".join(f" --param {k}={v}" for k, v in params.items())
        + " --json out.json`.", "", *lines, "",
        (f"NDCG@10 by tercile of the genre entropy of a user's training history (cuts at {cuts[0]:.2f} and "
         f"{cuts[1]:.2f} bits; seed-averaged):"), "", *terciles])
    replace_section(f"personas-table{tag}", body)
    print(body)


def control(seeds: list[int], command: str) -> None:
    """bpr trained with ampcf's loss, negatives and learning rate: is the gain the personas or the loss?"""
    params = {"loss": "softmax", "negatives": 20, "lr": 0.005}
    report = experiment.benchmark(SOURCE, ["bpr", "ampcf"], seeds, params, baseline="bpr")
    experiment.write_json(HERE / "results" / "control.json", report)
    lines = ["| model (loss=softmax, negatives=20, lr=0.005) | NDCG@10 | HR@10 | NDCG@10 vs bpr [95% CI] |",
             "|---|---|---|---|"]
    for name, entry in report["models"].items():
        ci = entry["vs_baseline"]
        lines.append(f"| {name} | {experiment.mean_std(entry, 'ndcg@10')} | {entry['hr@10']:.4f} | "
                     f"{ci['diff']:+.4f} [{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}] |")
    replace_section("personas-control", "\n".join([
        "## Control: bpr with the same loss as ampcf", "", stamp(command),
        "Same as `personae benchmark --dataset ml-100k --models bpr,ampcf --seeds " + ",".join(map(str, seeds))
        + " --param loss=softmax --param negatives=20 --param lr=0.005`.", "", *lines]))
    print("\n".join(lines))


def k_study(seeds: list[int], command: str) -> None:
    rows = {}
    for k in (1, 2, 4, 8):
        cosines = []
        report = experiment.benchmark(SOURCE, ["ampcf"], seeds, {"personas": k},
                                      on_result=lambda n, s, run, e, found=cosines: found.append(run.model.collapse()))
        entry = report["models"]["ampcf"]
        rows[k] = {"ndcg@10": entry["ndcg@10"], "std": entry["std"]["ndcg@10"], "hr@10": entry["hr@10"],
                   "ild@10": entry["ild@10"], "persona_cosine": float(np.mean(cosines)),
                   "train_seconds": entry["train_seconds"]}
        print(k, rows[k], flush=True)
    experiment.write_json(HERE / "results" / "k_study.json", rows)
    lines = ["| K | NDCG@10 | HR@10 | ILD@10 | mean persona cosine | train s |", "|---|---|---|---|---|---|"]
    lines += [f"| {k} | {r['ndcg@10']:.4f} ± {r['std']:.4f} | {r['hr@10']:.4f} | {r['ild@10']:.4f} | "
              f"{r['persona_cosine']:.3f} | {r['train_seconds']:.1f} |" for k, r in rows.items()]
    replace_section("personas-k", "\n".join(["## ampcf: NDCG@10 as K grows", "", stamp(command), *lines]))


def auto_k(seeds: list[int], command: str) -> None:
    counts, results = Counter(), []

    def collect(name, seed, run, entry):
        counts.update(run.model.personas_per_user().tolist())
        results.append(entry["ndcg@10"])

    experiment.benchmark(SOURCE, ["ampcf"], seeds, {"personas": "auto"}, on_result=collect)
    total = sum(counts.values())
    share = {int(k): counts[k] / total for k in sorted(counts)}
    experiment.write_json(HERE / "results" / "auto_k.json", {"share_of_users_by_k": share, "ndcg@10": results})
    lines = ["| K kept | share of users |", "|---|---|"] + [f"| {k} | {v:.3f} |" for k, v in share.items()]
    replace_section("personas-auto", "\n".join([
        "## ampcf with per-user K (`--personas auto`)", "", stamp(command),
        (f"Up to 8 personas, pruned per user when they win none of the user's training items nor top-50 "
         f"recommendations. NDCG@10 per seed: {', '.join(f'{r:.4f}' for r in results)}."), "", *lines]))


def collapse(seeds: list[int], command: str) -> None:
    rows = {}
    for weight in (0.0, 0.1, 1.0):
        cosines = []
        report = experiment.benchmark(SOURCE, ["ampcf"], seeds, {"diversity": weight},
                                      on_result=lambda n, s, run, e, found=cosines: found.append(run.model.collapse()))
        entry = report["models"]["ampcf"]
        rows[weight] = {"ndcg@10": entry["ndcg@10"], "std": entry["std"]["ndcg@10"],
                        "persona_cosine": float(np.mean(cosines))}
        print(weight, rows[weight], flush=True)
    experiment.write_json(HERE / "results" / "collapse.json", {str(k): v for k, v in rows.items()})
    lines = ["| diversity weight | mean persona cosine | NDCG@10 |", "|---|---|---|"]
    lines += [f"| {w} | {r['persona_cosine']:.3f} | {r['ndcg@10']:.4f} ± {r['std']:.4f} |" for w, r in rows.items()]
    replace_section("personas-collapse", "\n".join([
        "## ampcf: persona collapse and the diversity penalty", "", stamp(command),
        "Collapse = mean pairwise cosine between a user's K personas, averaged over users (1 = identical).",
        "", *lines]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="table,control,k,auto,collapse")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--param", action="append", default=[], help="KEY=VALUE for every model that has it")
    parser.add_argument("--save-models", type=Path, default=None)
    args = parser.parse_args()
    global SOURCE, SUFFIX
    SOURCE = DataSource(dataset=args.dataset)
    SUFFIX = "" if args.dataset == "ml-100k" else "-" + args.dataset
    params = parse_bench_params(args.param)
    extra = f" --dataset {args.dataset}" if SUFFIX else ""
    extra += "".join(f" --param {p}" for p in args.param)
    seeds = [int(s) for s in args.seeds.split(",")]
    (HERE / "results").mkdir(exist_ok=True)
    parts = args.parts.split(",")
    for part, run in (("table", lambda c: table(seeds, args.models.split(","), c, params, args.save_models)),
                      ("control", lambda c: control(seeds, c)), ("k", lambda c: k_study(seeds, c)),
                      ("auto", lambda c: auto_k(seeds, c)), ("collapse", lambda c: collapse(seeds, c))):
        if part in parts:
            run(f"python bench/personas.py --parts {part} --seeds {args.seeds}" + extra
                + (f" --models {args.models}" if part == "table" else ""))


if __name__ == "__main__":
    main()
