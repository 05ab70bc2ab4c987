"""Where personas pay: ampcf against its single-vector twin mf, per stratum of test users and of test items.

Three steps, each rerunnable on its own:
  train   fit mf and ampcf (seeds) and ampcf personas=auto (seed 0) on one dataset and keep each model in
          RUNS/NAME-sSEED with its per-user test NDCG@10 in RUNS/NAME-sSEED/per_user.npz (the layout of
          ``bench/personas.py --save-models``), so the strata below never retrain.
  strata  read those runs and report NDCG@10 of ampcf and mf (seed-averaged per user) per stratum of history
          length, genre entropy and personas kept under personas=auto, with a paired, seed-aware CI of the
          difference (personae.stats.compare_paired over users x seeds) and Holm-adjusted p-values over the
          whole table; and the same by popularity tercile of the test item.
  pairs   paired, seed-aware CI of A - B for saved runs named by --pairs A:B,... (e.g. din:mf), on the seeds both
          have.

    python bench/where_pay.py --steps train,strata --runs DIR [--dataset ml-100k] [--seeds 0,1,2]
    python bench/where_pay.py --steps strata --dataset ml-1m --runs /work/runs/m1 [--auto-run DIR]
    python bench/where_pay.py --steps pairs --dataset ml-1m --runs DIR --seeds 0 --pairs mind:mf,din:mf [--json F]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from results_md import replace_section, stamp

from personae import experiment
from personae.data import DataSource, load_source, make_split
from personae.evaluate import evaluate
from personae.evaluate.strata import compare_by_stratum, genre_entropy, history_length, terciles
from personae.models.persistence import load_model, read_config
from personae.stats import compare_paired

HERE = Path(__file__).parent
AUTO = "ampcf-auto"  # run name of ampcf trained with personas=auto


def run_folder(runs: Path, name: str, seed: int) -> Path:
    return runs / f"{name}-s{seed}"


def valid_ndcg(model, split) -> tuple[np.ndarray, np.ndarray]:
    """(users, per-user validation NDCG@10): what defaults are chosen on, never the test part."""
    result = evaluate(model, split, part="valid", ks=(10,), beyond_accuracy=False)
    return result.users, result.per_user["ndcg@10"]


def train(source: DataSource, runs: Path, seeds: list[int], params: dict, auto: bool = True) -> None:
    """Fit and save mf and ampcf for every seed, then ampcf personas=auto for the first seed (``auto``); skip runs
    on disk.

    per_user.npz holds ``users``/``ndcg`` (test) and ``valid_users``/``valid_ndcg`` (validation).
    """
    plan = [(name, name, seed, {}) for seed in seeds for name in ("mf", "ampcf")]
    if auto:
        plan.insert(2, (AUTO, "ampcf", seeds[0], {"personas": "auto"}))  # seed 0 runs first: trials compare to them
    split = make_split(load_source(source), "leave-last-out", seed=seeds[0])  # leave-last-out: one split
    for label, model_name, seed, extra in plan:
        folder = run_folder(runs, label, seed)
        if (folder / "per_user.npz").exists():
            print(f"{folder}: on disk, kept", flush=True)
            continue
        run = experiment.train_and_evaluate(source, model_name, experiment.params_for(model_name, params) | extra,
                                            seed=seed, progress=False, split=split)
        run.model.save(folder)
        users, ndcg = valid_ndcg(run.model, split)
        np.savez(folder / "per_user.npz", users=run.result.users, ndcg=run.result.per_user["ndcg@10"],
                 valid_users=users, valid_ndcg=ndcg)
        print(f"{label} seed {seed}: test ndcg@10 {run.result.metrics['ndcg@10']:.4f} "
              f"({run.train_seconds:.0f}s, best epoch {run.model.report_.best_epoch})", flush=True)

# --- strata ------------------------------------------------------------------------------------------------
def seed_ndcg(runs: Path, name: str, seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(test users, their NDCG@10 per seed, (n_seeds, n_users)) from RUNS/NAME-sSEED/per_user.npz."""
    loaded = [np.load(run_folder(runs, name, seed) / "per_user.npz") for seed in seeds]
    users = loaded[0]["users"]
    assert all(np.array_equal(x["users"], users) for x in loaded), f"{name}: runs disagree on the test users"
    return users, np.stack([x["ndcg"] for x in loaded])


def pairs(runs: Path, pairs_text: str, seeds: list[int]) -> list[dict]:
    """Paired CI of A - B over the test users for each "A:B" in ``pairs_text`` (comma-separated), on the seeds
    both have on disk (seed-averaged per user): compares saved runs without retraining either."""
    rows = []
    for pair in pairs_text.split(","):
        first, second = pair.split(":")
        both = seeds_on_disk(runs, (first, second), seeds)
        if not both:
            print(f"{pair}: no seed with both runs on disk, skipped", flush=True)
            continue
        users_a, ndcg_a = seed_ndcg(runs, first, both)
        users_b, ndcg_b = seed_ndcg(runs, second, both)
        assert np.array_equal(users_a, users_b), f"{pair}: the runs disagree on the test users"
        interval = compare_paired(ndcg_a, ndcg_b, unit="users")
        rows.append({"pair": pair, "seeds": both, "a": float(ndcg_a.mean()), "b": float(ndcg_b.mean()),
                     **experiment.ci_entry(interval)})
        print(f"{first} - {second} (seeds {both}): {ndcg_a.mean():.4f} - {ndcg_b.mean():.4f} = "
              f"{interval.describe()}", flush=True)
    return rows


def seeds_on_disk(runs: Path, names: tuple[str, ...], seeds: list[int]) -> list[int]:
    return [s for s in seeds if all((run_folder(runs, n, s) / "per_user.npz").exists() for n in names)]


def tercile_labels(values: np.ndarray, unit: str, digits: int) -> tuple[np.ndarray, list[str]]:
    """(per-user tercile 0..2, labels naming the cuts) of ``values`` over the test users."""
    stratum, (low, high) = terciles(values)
    return stratum, [f"low (< {low:.{digits}f} {unit})", f"mid ({low:.{digits}f} to < {high:.{digits}f})",
                     f"high (>= {high:.{digits}f} {unit})"]


def table_rows(table: dict[str, list[dict]], stratifications: dict[str, tuple[np.ndarray, list[str]]],
               ndcg: dict[str, np.ndarray], control: tuple[np.ndarray, np.ndarray] | None) -> dict[str, list[dict]]:
    """compare_by_stratum's rows as JSON rows: mean NDCG@10 of each model (over users and seeds), the interval
    of ampcf - mf with its Holm p, and the seed-noise control (mf seed 1 - mf seed 0, one seed each)."""
    out = {}
    for key, rows in table.items():
        stratum, labels = stratifications[key]
        out[key] = []
        for row in rows:
            members = stratum == labels.index(row["stratum"])
            entry = {"stratum": row["stratum"], "users": row["units"],
                     **{name: float(values[..., members].mean()) for name, values in ndcg.items()},
                     "ampcf - mf": {**experiment.ci_entry(row["interval"]), "p_holm": row["p_holm"]}}
            if control is not None:
                entry["control: mf seed 1 - seed 0"] = experiment.ci_entry(
                    compare_paired(control[1][members], control[0][members], unit="users"))
            out[key].append(entry)
    return out


def strata(source: DataSource, runs: Path, seeds: list[int], auto_run: Path | None) -> dict | None:
    """Every stratification of the test users: :func:`table_rows` per stratification, Holm over all rows."""
    seeds = seeds_on_disk(runs, ("mf", "ampcf"), seeds)
    if not seeds:
        print(f"strata skipped: no pair of {runs}/mf-sN and {runs}/ampcf-sN with per_user.npz yet; "
              f"rerun `python bench/where_pay.py --steps strata --dataset {source.dataset} --runs {runs}` "
              "once they exist", flush=True)
        return None
    split = make_split(load_source(source), "leave-last-out", seed=seeds[0])
    users, ampcf = seed_ndcg(runs, "ampcf", seeds)
    mf_users, mf = seed_ndcg(runs, "mf", seeds)
    assert np.array_equal(users, mf_users), "ampcf and mf runs disagree on the test users"
    ndcg = {"ampcf": ampcf, "mf": mf}
    control = None
    if len(seeds_on_disk(runs, ("mf",), [0, 1])) == 2:
        control = (seed_ndcg(runs, "mf", [0])[1][0], seed_ndcg(runs, "mf", [1])[1][0])
    train = split.train
    test_item = np.full(train.n_users, -1)
    test_item[split.test.users] = split.test.items
    popularity = train.item_popularity[test_item[users]]
    options = read_config(run_folder(runs, "ampcf", seeds[0]))["options"]
    out = {"dataset": source.dataset, "seeds": seeds, "users": len(users), "runs": str(runs),
           "budget": {k: options[k] for k in ("epochs", "patience")},
           "ahead": {"ampcf": int((ampcf.mean(0) > mf.mean(0)).sum()), "mf": int((mf.mean(0) > ampcf.mean(0)).sum()),
                     "tied": int((ampcf.mean(0) == mf.mean(0)).sum())}}
    stratifications = {"overall": (np.zeros(len(users), dtype=int), ["all test users"])}
    for key, values, unit, digits in (("history length", history_length(train)[users], "items", 0),
                                      ("genre entropy", genre_entropy(train)[users], "bits", 2),
                                      ("test item popularity", popularity, "users", 0)):
        stratifications[key] = tercile_labels(values, unit, digits)
    auto_run = auto_run or run_folder(runs, AUTO, 0)
    with_auto = dict(ndcg)
    if (auto_run / "config.json").exists():
        kept = load_model(auto_run).personas_per_user()[users]
        stratifications["personas kept under auto"] = (np.minimum(kept, 4) - 1, ["1", "2", "3", "4+"])
        if (auto_run / "per_user.npz").exists():
            stored = np.load(auto_run / "per_user.npz")
            assert np.array_equal(stored["users"], users), "the auto run disagrees on the test users"
            with_auto["ampcf auto (seed 0)"] = stored["ndcg"][None]
    else:
        print(f"no personas=auto run at {auto_run}: that stratification is left out", flush=True)
    # the overall comparison is the pre-stated claim; the strata are the exploratory family Holm adjusts over
    overall = {"overall": stratifications.pop("overall")}
    table = compare_by_stratum(ampcf, mf, overall, unit="users") | compare_by_stratum(ampcf, mf, stratifications,
                                                                                        unit="users")
    stratifications = overall | stratifications
    out["strata"] = table_rows(table, stratifications, ndcg, control)
    if "personas kept under auto" in out["strata"] and len(with_auto) > len(ndcg):
        stratum, labels = stratifications["personas kept under auto"]
        for row in out["strata"]["personas kept under auto"]:
            members = stratum == labels.index(row["stratum"])
            row["ampcf auto (seed 0)"] = float(with_auto["ampcf auto (seed 0)"][..., members].mean())
    return out


def reading(result: dict) -> str:
    """A plain sentence per verdict, from the Holm-adjusted p-values (adjusted p >= 0.05 is no difference)."""
    wins, losses, ties = [], [], []
    for key, rows in result["strata"].items():
        for row in rows if key != "overall" else ():
            ci, name = row["ampcf - mf"], f"{key} {row['stratum']}"
            shown = ci["p_holm"] is not None and ci["p_holm"] < 0.05
            (wins if shown and ci["diff"] > 0 else losses if shown else ties).append(name)
    overall = result["strata"]["overall"][0]["ampcf - mf"]
    n = len(wins) + len(losses) + len(ties) + 1
    verdict = ("does not differ from" if overall["p_holm"] is None or overall["p_holm"] >= 0.05
               else "beats" if overall["diff"] > 0 else "loses to")
    return (f"Overall ampcf {verdict} mf ({describe(overall)}). ampcf beats mf for: {'; '.join(wins) or 'no stratum'}."
            f" mf beats ampcf for: {'; '.join(losses) or 'no stratum'}. Not shown (Holm-adjusted p >= 0.05 over the "
            f"{n - 1} stratum rows) for: {'; '.join(ties) or 'no stratum'}."
            + (" One training seed per model: these compare the two trained models, not training them; seed "
               "variance is not measured (the control column shows its size), so no row is a claim about the "
               "models until it holds over 3 seeds." if len(result["seeds"]) == 1 else ""))


def describe(ci: dict) -> str:
    """``+0.0017 [-0.0012, +0.0046], p=0.210, Holm p=1.000, over 6040 users x 3 seeds``."""
    def p_text(p: float | None) -> str:
        return "n/a" if p is None else "<0.001" if p < 0.001 else f"{p:.3f}"

    text = f"{ci['diff']:+.4f} [{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}], p={p_text(ci['p_value'])}"
    if "p_holm" in ci:
        text += f", Holm p={p_text(ci['p_holm'])}"
    return text + f", over {ci['n_units']:,} {ci['unit']} x {ci['n_seeds']} seed{'s' if ci['n_seeds'] > 1 else ''}"


def write_report(result: dict, command: str) -> None:
    def ci(c: dict) -> str:
        return f"{c['diff']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]"

    dataset = result["dataset"]
    seeds = ",".join(map(str, result["seeds"]))
    parts = [f"## Where personas pay: ampcf against mf per stratum ({dataset})", "", stamp(command),
             (f"Leave-last-out, full ranking, {result['users']:,} test users, seeds {seeds} of each model (the "
              "NDCG@10 columns are means over users and seeds). CI = 95% paired, seed-aware interval of ampcf - mf "
              "over the stratum's users x seeds (`personae.stats.compare_paired`: crossed seeds x users t with "
              "Satterthwaite df, so training-seed variance is in it); p = its two-sided p-value; Holm p = adjusted "
              "over every stratum row of the tables below (one family; the overall row is the pre-stated claim and "
              "is not adjusted): a stratum is shown only when Holm p < 0.05. "
              "Control: mf seed 1 - mf seed 0 (paired t over users, one seed each), a difference with no model "
              "change: where it excludes zero, seed noise alone does what a user-only interval would call an "
              "effect. Strata are terciles over the test users, of the training history length, of the genre "
              "entropy of the training items, and of the test item's training popularity"
              + ("; and the personas each user keeps under ampcf personas=auto (seed 0)"
                 if "personas kept under auto" in result["strata"] else " (no personas=auto run: no stratum by K)")
              + ". The machine is shared with other jobs (loaded)."), "",
             (f"Runs in {result['runs']}: `python bench/where_pay.py --steps train` or `bench/personas.py "
              f"--save-models` (ampcf's epochs/patience: {result['budget']}; every other option at its default)."),
             "",
             (f"Users where ampcf's seed-mean NDCG@10 is higher: {result['ahead']['ampcf']:,}; where mf's is: "
             f"{result['ahead']['mf']:,}; tied (mostly both 0): {result['ahead']['tied']:,}."), ""]
    for key, rows in result["strata"].items():
        models = [k for k in rows[0] if k not in ("stratum", "users", "ampcf - mf")
                  and not k.startswith("control")]
        has_control = any(k.startswith("control") for k in rows[0])
        parts += [f"**{key}**", "", "| stratum | users | " + " | ".join(models) + " | ampcf - mf [95% CI] | p | Holm p |"
                  + (" control [95% CI] |" if has_control else ""),
                  "|---|---|" + "---|" * (len(models) + 3 + has_control)]
        for row in rows:
            cell = row["ampcf - mf"]
            parts.append(f"| {row['stratum']} | {row['users']:,} | " + " | ".join(f"{row[m]:.4f}" for m in models)
                         + f" | {ci(cell)} | {cell['p_value']:.3f} | {cell['p_holm']:.3f} |"
                         + (f" {ci(row['control: mf seed 1 - seed 0'])} |" if has_control else ""))
        parts.append("")
    parts.append("Reading: " + reading(result))
    replace_section(f"where-pay-{dataset}", "\n".join(parts))
    experiment.write_json(HERE / "results" / f"where_pay-{dataset}.json", result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="strata", help="train,strata,pairs")
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--runs", type=Path, required=True, help="folder of saved runs NAME-sSEED")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--auto-run", type=Path, default=None, help="saved ampcf personas=auto model")
    parser.add_argument("--pairs", default="", help="for --steps pairs: A:B,... saved runs compared as A - B")
    parser.add_argument("--json", default=None, help="for --steps pairs: write the rows here")
    parser.add_argument("--param", action="append", default=[], help="for --steps train: KEY=VALUE for both models "
                        "(e.g. epochs=10 to size ml-1m for 2 cores)")
    parser.add_argument("--no-auto", action="store_true", help="for --steps train: no personas=auto run")
    args = parser.parse_args()
    source = DataSource(dataset=args.dataset)
    seeds = [int(s) for s in args.seeds.split(",")]
    steps = args.steps.split(",")
    if "train" in steps:
        train(source, args.runs, seeds, experiment.parse_params("ampcf", args.param), auto=not args.no_auto)
    if "strata" in steps and (result := strata(source, args.runs, seeds, args.auto_run)) is not None:
        command = f"python bench/where_pay.py --steps strata --dataset {args.dataset} --runs {args.runs}"
        write_report(result, command + (f" --auto-run {args.auto_run}" if args.auto_run else ""))
    if "pairs" in steps:
        malformed = [pair for pair in args.pairs.split(",") if len(pair.split(":")) != 2]
        if not args.pairs or malformed:
            parser.error(f"--steps pairs needs --pairs A:B,... (not {', '.join(malformed) or 'empty'})")
        rows = pairs(args.runs, args.pairs, seeds)
        if args.json:
            experiment.write_json(args.json, {"dataset": args.dataset, "runs": str(args.runs), "pairs": rows})


if __name__ == "__main__":
    main()
