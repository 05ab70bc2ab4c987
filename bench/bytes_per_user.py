"""The bottleneck, measured: test NDCG@10 against the bytes a model keeps per user.

The claim behind personas is a capacity claim: one fixed-length vector loses information when a user's tastes
are many and unrelated, and K persona vectors keep them. It holds where ampcf's curve lies above mf's (its
single-vector twin) at equal bytes per user; this script measures both curves, with a paired t interval over
users (``personae.stats.compare_paired``; one seed per run, so seed variance is not measured: rerun with --seed)
of ampcf (K personas of dim d) against mf of dim K*d (the same bytes per user) wherever that mf was trained.
din and mind keep no per-user vector (they read the user's history), so they are drawn as reference lines.

Data: ``planted`` (``personae.data.synthetic.planted_interests`` with many more topics than dimensions, so a
sum of orthogonal tastes cannot fit one vector) and ``ml-100k``. Every run: one seed (``--seed``, default 0),
leave-last-out, model defaults except dim/personas and an optional epoch cap (recorded).

    nice -n 10 python bench/bytes_per_user.py --dataset planted --json bench/results/bottleneck-planted.json \\
        --plot bench/figures/bottleneck-planted.png

``--reuse OLD.json`` takes the runs an earlier report of the same dataset, seed and epoch cap already finished
(with the comparisons between them) and trains only the others, e.g. to add the din/mind points to a curve.
"""

from __future__ import annotations

import argparse
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from personae.data import leave_last_out, load_dataset
from personae.data.splits import Split
from personae.data.synthetic import planted_interests
from personae.evaluate import evaluate
from personae.experiment import build_model, ci_entry, write_json
from personae.files import read_json
from personae.stats import compare_paired

MF_DIMS = (16, 32, 64, 128, 256)
AMPCF_PERSONAS = (2, 4, 8)
AMPCF_DIMS = (16, 32, 64)
# 200 topics, each user with 4 of them: far more distinct tastes than a 16-32 dim vector can hold as a sum
PLANTED = {"n_users": 1500, "n_clusters": 200, "items_per_cluster": 10, "interests_per_user": 4,
           "events_per_user": 20, "seed": 0}


def load_split(dataset: str) -> Split:
    data = planted_interests(**PLANTED) if dataset == "planted" else load_dataset(dataset)
    return leave_last_out(data)


def configurations(mf_dims: tuple[int, ...], personas: tuple[int, ...], dims: tuple[int, ...],
                   points: tuple[str, ...]) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, model, options) of every run: mf per dim, ampcf per (K, dim), then the history models."""
    runs = [(f"mf d={d}", "mf", {"dim": d}) for d in mf_dims]
    runs += [(f"ampcf K={k} d={d}", "ampcf", {"personas": k, "dim": d}) for k in personas for d in dims]
    return runs + [(name, name, {}) for name in points]


def run(split: Split, model: str, options: dict[str, Any], max_epochs: int | None, seed: int) -> dict[str, Any]:
    params = {**options, **({"epochs": max_epochs} if max_epochs else {})}
    fitted = build_model(model, params, seed=seed, progress=False).fit(split.train, split.valid)
    result = evaluate(fitted, split, beyond_accuracy=False)
    return {"model": model, "options": options, "ndcg@10": result.metrics["ndcg@10"],
            "bytes_per_user": fitted.bytes_per_user(), "epochs_run": fitted.report_.epochs_run,
            "per_user": result.per_user["ndcg@10"]}


def reusable_runs(path: str, report: dict[str, Any]) -> dict[str, Any]:
    """Runs and comparisons of an earlier report, refused unless its dataset, seed and epoch cap are this run's."""
    earlier = read_json(path)
    for key in ("dataset", "seed", "max_epochs"):
        if earlier.get(key) != report[key]:
            raise SystemExit(f"--reuse {path}: field {key!r} is {earlier.get(key)!r}, this run has {report[key]!r}")
    return {"runs": earlier["runs"], "comparisons": earlier["comparisons"]}


def equal_bytes_comparisons(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """ampcf (K, d) against mf with dim K*d, the same bytes per user, where both ran: paired CI over users."""
    rows = []
    for label, entry in runs.items():
        if entry["model"] != "ampcf":
            continue
        twin = runs.get(f"mf d={entry['options']['personas'] * entry['options']['dim']}")
        same_dim = runs.get(f"mf d={entry['options']['dim']}")
        row = {"ampcf": label, "bytes_per_user": entry["bytes_per_user"]}
        for key, reference in (("vs_mf_equal_bytes", twin), ("vs_mf_same_dim", same_dim)):
            if reference is not None:
                row[key] = {"mf": f"mf d={reference['options']['dim']}",
                            **ci_entry(compare_paired(entry["per_user"], reference["per_user"], unit="users"))}
        rows.append(row)
    return rows


def plot(runs: dict[str, dict[str, Any]], title: str, path: str) -> None:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    mf = sorted((e for e in runs.values() if e["model"] == "mf"), key=lambda e: e["bytes_per_user"])
    if mf:
        axes.plot([e["bytes_per_user"] for e in mf], [e["ndcg@10"] for e in mf], "o-", color="black", label="mf")
    for k, marker in zip(AMPCF_PERSONAS, "s^D"):
        curve = sorted((e for e in runs.values() if e["model"] == "ampcf" and e["options"]["personas"] == k),
                       key=lambda e: e["bytes_per_user"])
        if curve:
            axes.plot([e["bytes_per_user"] for e in curve], [e["ndcg@10"] for e in curve], marker + "--",
                      label=f"ampcf K={k} (d={', '.join(str(e['options']['dim']) for e in curve)})")
    for name, style in (("din", ":"), ("mind", "-.")):
        if name in runs:
            axes.axhline(runs[name]["ndcg@10"], linestyle=style, color="grey", label=f"{name} (no user vector)")
    axes.set_xscale("log", base=2)
    axes.set_xlabel("bytes per user (float32 parameters)")
    axes.set_ylabel("test NDCG@10")
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def markdown(report: dict[str, Any]) -> str:
    """The runs (NDCG@10, bytes per user, epochs) and the paired comparisons of ampcf with mf, as tables."""
    lines = ["| run | bytes/user | epochs | test NDCG@10 |", "|---|---|---|---|"]
    lines += [f"| {label} | {e['bytes_per_user']:.0f} | {e['epochs_run']} | {e['ndcg@10']:.4f} |"
              for label, e in report["runs"].items()]
    lines += ["", "| ampcf | vs mf at equal bytes [95% CI] | vs mf at the same dim [95% CI] |", "|---|---|---|"]
    for row in report["comparisons"]:
        cells = []
        for key in ("vs_mf_equal_bytes", "vs_mf_same_dim"):
            ci = row.get(key)
            cells.append(f"{ci['mf']}: {ci['diff']:+.4f} [{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}]" if ci else "-")
        lines.append(f"| {row['ampcf']} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="planted", help="'planted' or a built-in dataset name")
    parser.add_argument("--mf-dims", default=",".join(map(str, MF_DIMS)))
    parser.add_argument("--personas", default=",".join(map(str, AMPCF_PERSONAS)))
    parser.add_argument("--dims", default=",".join(map(str, AMPCF_DIMS)), help="ampcf dims")
    parser.add_argument("--points", default="din,mind", help="history models drawn as reference lines")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap on training epochs (recorded)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split's models (the split is fixed)")
    parser.add_argument("--reuse", default=None, help="earlier report (JSON) whose finished runs are kept")
    parser.add_argument("--json", required=True)
    parser.add_argument("--plot", required=True)
    args = parser.parse_args()

    def ints(text: str) -> tuple[int, ...]:
        return tuple(int(x) for x in text.split(",") if x)

    split = load_split(args.dataset)
    runs: dict[str, dict[str, Any]] = {}
    report: dict[str, Any] = {"dataset": args.dataset, "planted": PLANTED if args.dataset == "planted" else None,
                              "max_epochs": args.max_epochs, "seed": args.seed, "runs": {}, "comparisons": []}
    points = tuple(p for p in args.points.split(",") if p)
    reused = reusable_runs(args.reuse, report) if args.reuse else {"runs": {}, "comparisons": []}
    for label, model, options in configurations(ints(args.mf_dims), ints(args.personas), ints(args.dims), points):
        if label in reused["runs"]:
            runs[label] = reused["runs"][label]
        else:
            runs[label] = run(split, model, options, args.max_epochs, args.seed)
            print(f"{label}: ndcg@10 {runs[label]['ndcg@10']:.4f}, {runs[label]['bytes_per_user']:.0f} B/user, "
                  f"{runs[label]['epochs_run']} epochs", flush=True)
        report["runs"] = {k: {x: v for x, v in e.items() if x != "per_user"} for k, e in runs.items()}
        trained = {k: e for k, e in runs.items() if "per_user" in e}  # reused runs kept no per-user figures
        report["comparisons"] = reused["comparisons"] + equal_bytes_comparisons(trained)
        write_json(args.json, report)  # after every run, so a stopped run keeps what it finished
    plot(runs, f"{args.dataset}: NDCG@10 against bytes per user (seed {args.seed})", args.plot)
    print(markdown(report))


if __name__ == "__main__":
    main()
