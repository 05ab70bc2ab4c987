"""Training terms for personas, chosen on validation: the AMP-CF attention-entropy term and REMI's harder
(popularity-tilted) negatives, each against ampcf's defaults, and the negatives also for mf.

A term that helps mf as much as ampcf is not a persona effect, so for the negatives the persona effect is the
difference in differences: (ampcf+neg - ampcf) - (mf+neg - mf), per validation user. Validation NDCG@10 only
(the test part is never evaluated here); seed 0; paired t interval over validation users (personae.stats). A CI that includes
zero is no change, and the default stays. Control: ampcf's defaults under seed 1 against seed 0, the size of a
difference that seed noise alone makes.

    python bench/training_terms.py --runs DIR [--dataset ml-100k]

The default arms (mf, ampcf at seed 0) are read from DIR/{mf,ampcf}-s0 (``bench/where_pay.py --steps train``);
each trial keeps DIR/trials/LABEL-s0/valid.npz, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from results_md import replace_section, stamp
from where_pay import run_folder, valid_ndcg

from personae import experiment
from personae.data import DataSource, load_source, make_split
from personae.models.ampcf import persona_entropy
from personae.models.persistence import load_model
from personae.stats import compare_paired

HERE = Path(__file__).parent
SEED = 0
# Few arms: each trial costs a full ml-100k training on a shared 2-core machine.
# label -> (model, options beyond the defaults, the default arm it is paired with)
TRIALS = {
    "ampcf +entropy 0.1": ("ampcf", {"attention_entropy": 0.1}, "ampcf"),
    "ampcf +entropy 1": ("ampcf", {"attention_entropy": 1.0}, "ampcf"),
    "ampcf +popularity negatives 0.75": ("ampcf", {"negative_power": 0.75}, "ampcf"),
    "mf +popularity negatives 0.75": ("mf", {"negative_power": 0.75}, "mf"),
}
CONTROL = "ampcf, seed 1 (control)"  # the defaults again under another seed: how far seed noise alone moves


def slug(label: str) -> str:
    return label.replace(" +", "-").replace(" ", "-")


def positive_entropy(model, split) -> float | None:
    """Mean entropy (nats) of ampcf's persona attention on each validation target (None for mf)."""
    network = model.network_
    if not hasattr(network, "persona_weights"):
        return None
    users, items = torch.as_tensor(split.valid.users), torch.as_tensor(split.valid.items)
    with torch.no_grad():
        return float(persona_entropy(network.persona_weights(users, items[:, None])[:, 0]).mean())


def default_arm(runs: Path, name: str, split, seed: int = SEED) -> dict:
    """The saved default run's validation per-user NDCG@10 (evaluated now if the run did not store it)."""
    folder = run_folder(runs, name, seed)
    model = load_model(folder)
    stored = np.load(folder / "per_user.npz")
    users, ndcg = ((stored["valid_users"], stored["valid_ndcg"]) if "valid_ndcg" in stored
                   else valid_ndcg(model, split))
    return {"users": users, "ndcg": ndcg, "best_epoch": None, "positive_entropy": positive_entropy(model, split)}


def trial_arm(runs: Path, label: str, source: DataSource, split) -> dict:
    """Fit one trial on train (early stopping on valid) and keep its validation per-user NDCG@10."""
    model_name, options, _ = TRIALS[label]
    path = runs / "trials" / f"{slug(label)}-s{SEED}" / "valid.npz"
    if not path.exists():
        start = time.perf_counter()
        model = experiment.build_model(model_name, options, seed=SEED, progress=False).fit(split.train, split.valid)
        users, ndcg = valid_ndcg(model, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, users=users, ndcg=ndcg, best_epoch=model.report_.best_epoch,
                 positive_entropy=np.nan if (h := positive_entropy(model, split)) is None else h)
        print(f"{label}: valid ndcg@10 {ndcg.mean():.4f} ({time.perf_counter() - start:.0f}s)", flush=True)
    stored = np.load(path)
    entropy = float(stored["positive_entropy"])
    return {"users": stored["users"], "ndcg": stored["ndcg"], "best_epoch": int(stored["best_epoch"]),
            "positive_entropy": None if np.isnan(entropy) else entropy}


def compare(arms: dict[str, dict]) -> dict[str, dict]:
    """Each trial against its default arm, and the persona effect of the negatives (difference in differences)."""
    for arm in arms.values():
        assert np.array_equal(arm["users"], arms["ampcf"]["users"]), "arms must share the validation users"
    out = {}
    for label, (_, options, reference) in TRIALS.items():
        ci = experiment.ci_entry(compare_paired(arms[label]["ndcg"], arms[reference]["ndcg"], unit="validation users"))
        out[label] = {"options": options, "vs": reference, **ci, "kept": ci["ci_low"] > 0}
    neg_a, neg_m = "ampcf +popularity negatives 0.75", "mf +popularity negatives 0.75"
    did = (arms[neg_a]["ndcg"] - arms["ampcf"]["ndcg"]) - (arms[neg_m]["ndcg"] - arms["mf"]["ndcg"])
    out["persona effect of popularity negatives"] = experiment.ci_entry(compare_paired(did, np.zeros(len(did)),
                                                                                       unit="validation users"))
    if CONTROL in arms:
        out[CONTROL] = {"vs": "ampcf", **experiment.ci_entry(compare_paired(arms[CONTROL]["ndcg"], arms["ampcf"]["ndcg"], unit="validation users")),
                        "control": True}
    return out


def report(arms: dict[str, dict], comparison: dict[str, dict], command: str, dataset: str) -> None:
    def ci(c: dict) -> str:
        return f"{c['diff']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]"

    lines = ["| arm | valid NDCG@10 | vs default [95% CI] | kept | best epoch | attention entropy on targets |",
             "|---|---|---|---|---|---|"]
    for label, arm in arms.items():
        c = comparison.get(label)
        entropy = "-" if arm["positive_entropy"] is None else f"{arm['positive_entropy']:.3f}"
        lines.append(f"| {label} | {arm['ndcg'].mean():.4f} | {ci(c) + ' vs ' + c['vs'] if c else '(default)'} | "
                     f"{('control' if c.get('control') else 'yes' if c['kept'] else 'no') if c else '-'} | {arm['best_epoch'] or '-'} | {entropy} |")
    did = comparison["persona effect of popularity negatives"]
    kept = [label for label, c in comparison.items() if c.get("kept")]
    body = "\n".join([
        f"## Training terms for personas, chosen on validation ({dataset})", "", stamp(command),
        (f"Seed {SEED}, leave-last-out, validation NDCG@10 over {len(arms['ampcf']['users']):,} validation users "
         "(the test part is not evaluated); CI = 95% paired t interval over users (one seed). Attention entropy in nats "
         "(ln 4 = 1.386 is flat over ampcf's 4 personas)."), "", *lines, "",
        f"Persona effect of the popularity negatives, (ampcf+neg - ampcf) - (mf+neg - mf) per user: {ci(did)}.", "",
        ("Kept as defaults: " + ", ".join(kept) + "." if kept else
         "Nothing kept: every CI includes zero or lies below it, so ampcf's defaults stay "
         "(attention_entropy=0, negative_power=0).")])
    replace_section(f"training-terms-{dataset}", body)
    experiment.write_json(HERE / "results" / f"training_terms-{dataset}.json", {
        "dataset": dataset, "seed": SEED, "part": "valid",
        "arms": {label: {"valid_ndcg@10": float(a["ndcg"].mean()), "best_epoch": a["best_epoch"],
                         "positive_entropy": a["positive_entropy"]} for label, a in arms.items()},
        "comparisons": comparison})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--runs", type=Path, required=True)
    args = parser.parse_args()
    source = DataSource(dataset=args.dataset)
    split = make_split(load_source(source), "leave-last-out", seed=SEED)
    arms = {name: default_arm(args.runs, name, split) for name in ("ampcf", "mf")}
    for label in TRIALS:
        arms[label] = trial_arm(args.runs, label, source, split)
    if (run_folder(args.runs, "ampcf", 1) / "per_user.npz").exists():
        arms[CONTROL] = default_arm(args.runs, "ampcf", split, seed=1)
    report(arms, compare(arms), f"python bench/training_terms.py --runs {args.runs} --dataset {args.dataset}",
           args.dataset)


if __name__ == "__main__":
    main()
