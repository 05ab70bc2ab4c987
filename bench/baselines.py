"""Baselines on MovieLens-100K (leave-last-out, full ranking), seeds 0,1,2: mean ± std of every metric,
train seconds and peak memory. Each model runs in its own `personae benchmark` process so that its peak
resident memory is its own. Writes bench/results/baselines.json and the `baselines` section of RESULTS.md.

    python bench/baselines.py [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from results_md import replace_section, stamp

from personae.experiment import mean_std

HERE = Path(__file__).parent
MODELS = ("pop", "itemknn", "ease", "bpr")
METRICS = ("ndcg@10", "hr@10", "recall@20", "mrr@10", "coverage@10", "ild@10", "novelty@10")


def run_model(model: str, seeds: str, extra: list[str], out: Path) -> dict:
    personae = Path(sys.executable).with_name("personae")
    command = [str(personae), "benchmark", "--dataset", "ml-100k", "--models", model, "--seeds", seeds,
               "--json", str(out), *extra]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["models"][model]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    rows = {m: run_model(m, args.seeds, [], results_dir / f"baselines-{m}.json") for m in MODELS}
    rows["ease (l2=250)"] = run_model("ease", args.seeds, ["--param", "l2=250"], results_dir / "baselines-ease250.json")
    (results_dir / "baselines.json").write_text(json.dumps(rows, indent=2))
    header = "| model | " + " | ".join(METRICS) + " | train s | peak RSS MiB |"
    lines = [header, "|" + "---|" * (len(METRICS) + 3)]
    for name, entry in rows.items():
        cells = [mean_std(entry, m) for m in METRICS]
        lines.append(f"| {name} | " + " | ".join(cells)
                     + f" | {entry['train_seconds']:.1f} | {entry['peak_rss_mb']:.0f} |")
    body = "\n".join([
        "## Baselines on MovieLens-100K",
        "",
        stamp(f"python bench/baselines.py --seeds {args.seeds}"),
        "Protocol: leave-last-out, full ranking over all 1,682 items, training (and validation) items masked;",
        f"mean ± std over seeds {args.seeds}. `ease` tunes its L2 weight on validation NDCG@10; the `l2=250` row is",
        "the peer check against RecBole 1.2.1 (NDCG@10 0.0706, HR@10 0.1347). Peak RSS is the whole",
        "`personae benchmark` process for that model (data loading included).",
        "",
        *lines,
    ])
    replace_section("baselines", body)
    print(body)


if __name__ == "__main__":
    main()
