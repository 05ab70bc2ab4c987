"""Issue 22: simulated users by route, one `personae llm simulate-users` command, and the table for
bench/RESULTS.md (routes x measures, each with n, unit and interval).

    python bench/llm_users.py --model qwen2.5-coder-0.5b-instruct --routes a,b,c,d --personas 12 --runs 2 \
        --turns 4 --scripts 1 [--extra "--max-new-tokens 16"]
    python bench/llm_users.py --table bench/figures/llm/users/<name>/users.json   # the markdown table only

The command, its wall and CPU seconds and the load average are written next to the copied users.json
(run.json) so every number in the table comes from the command written beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGS = ROOT / "bench" / "figures" / "llm" / "users"


def iv(d: dict | None, digits: int = 2) -> str:
    if not d:
        return "n/a"
    num = lambda x: "nan" if x is None else f"{x:+.{digits}f}"
    return f"{num(d['estimate'])} [{num(d['low'])}, {num(d['high'])}]"


def table(result: dict) -> str:
    """One row per route: assistant-like share, help/AI share, prompt-to-line (and vs mismatched), ICC with
    its null, drift slope; and the difference from route a where there is one."""
    head = ("| route | s | assistant-like (classifier) | help/AI | prompt-to-line | own - mismatched persona | "
            "ICC(1) [null p95] | p2l drift /turn | assistant-like vs a | p2l vs a |\n|" + "---|" * 10)
    rows = [head]
    for letter, r in result["routes"].items():
        c, icc = r["consistency"], r["icc_embeddings"].get("interval") or {}
        vs = result["vs_baseline"].get(letter, {})
        rows.append(f"| {letter} {r['title']} | {r['seconds']:.0f} | {iv(r['assistant_like_share'])} | "
                    f"{iv(r['offers_help_or_ai_share'])} | {iv(c['prompt_to_line'])} | "
                    f"{iv(c['prompt_to_line_vs_mismatched'])} | {iv(icc)} [{(icc.get('null') or {}).get('p95', float('nan')):+.2f}] | "
                    f"{iv(r['drift_prompt_to_line']['slope_per_turn'], 3)} | {iv(vs.get('assistant_like'))} | "
                    f"{iv(vs.get('p2l'))} |")
    n = result["routes"][next(iter(result["routes"]))]
    rows.append(f"\nIntervals: t over {n['n_personas']} personas (ICC: F interval); {n['n_scripts']} script(s), "
                f"{n['runs']} runs, {n['turns']} turns, {n['n_lines']} lines per route. Classifier held-out accuracy "
                f"{iv(result['classifier']['heldout_accuracy'])} over {result['classifier']['n_heldout_lines']} "
                f"held-out lines (shuffled labels: {result['classifier']['shuffled_label_accuracy_mean']:.2f}).")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default=None, help="print the table of an existing users.json and stop")
    ap.add_argument("--model", default=None)
    ap.add_argument("--routes", default="a,b,c,d")
    ap.add_argument("--personas", default="12")
    ap.add_argument("--runs", default="2")
    ap.add_argument("--turns", default="4")
    ap.add_argument("--scripts", default="1")
    ap.add_argument("--name", default=None, help="folder under bench/figures/llm/users [default: the model]")
    ap.add_argument("--extra", default="")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return
    name = args.name or args.model or "smollm2-135m-instruct"
    out = Path("/tmp/personae-llm-users") / name
    argv = ["simulate-users", "--routes", args.routes, "--personas", args.personas, "--runs", args.runs,
            "--turns", args.turns, "--scripts", args.scripts, "--out", str(out),
            *(["--model-path", args.model] if args.model else []), *shlex.split(args.extra)]
    t0, cpu0 = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-m", "personae", "llm", *argv], cwd=ROOT, check=False,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        sys.exit(proc.returncode)
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    dest = FIGS / name
    dest.mkdir(parents=True, exist_ok=True)
    for f in ("users.json", "users.png"):
        shutil.copy2(out / f, dest / f)
    run = {"command": "personae llm " + shlex.join(argv), "wall_seconds": round(time.time() - t0, 1),
           "cpu_seconds": round(cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime, 1),
           "load_average_after": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": f"{os.cpu_count()} cores, no GPU, shared with other jobs"}
    (dest / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    print(json.dumps(run, indent=2))
    print(table(json.loads((dest / "users.json").read_text())))


if __name__ == "__main__":
    main()
