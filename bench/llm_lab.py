"""Run every LLM persona-lab instrument at its documented default size on the built-in SmolLM2-135M-Instruct,
then collect the headline numbers, commands, timings and figures for the `llm` section of bench/RESULTS.md.

    python bench/llm_lab.py [--only axis,cap,drift,icc,consistency] [--work /tmp/personae-llm-lab]
    python bench/llm_lab.py --model qwen2.5-coder-1.5b-instruct --preset small --only axis,cap   # issue 11

With --model the commands get `--model-path NAME` (a model assembled by `personae llm fetch` in
$PERSONAE_HOME) and outputs go to bench/figures/llm/<model>/; --preset small uses the sizes that fit 2 shared
cores for a 0.5-1.5B model (PRESETS below).

Each instrument runs as its own `personae llm ...` command (through `python -m personae.cli.llm`, the same
Typer app) so the numbers come from exactly the command written next to them. PNGs and result JSONs are
copied into bench/figures/llm/; bench/figures/llm/lab_results.json holds commands, wall times and numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGS = ROOT / "bench" / "figures" / "llm"


PRESETS = {"small": {
    "axis": ["--roles", "20", "--prompts", "1", "--questions", "2", "--default-chats", "20", "--max-new-tokens", "8"],
    "cap": ["--roles", "4", "--questions", "1", "--calibration-roles", "4", "--calibration-questions", "1",
            "--percentiles", "10,25,50,75", "--max-new-tokens", "8", "--mcq", "40"],
    "icc": ["--personas", "4", "--runs", "3", "--items", "4", "--open-questions", "0", "--temperatures", "0.7,1.0"],
    "drift": ["--personas", "3", "--turns", "3", "--scripts", "1", "--max-new-tokens", "12"],
    "simulate-users": ["--routes", "a,b,c,d", "--personas", "12", "--runs", "2", "--turns", "4", "--scripts", "1",
                       "--max-new-tokens", "16"],
    "consistency": ["--personas", "3", "--turns", "3", "--probes", "1", "--max-new-tokens", "16"],
}}


def commands(work: Path, model: str | None = None, preset: str | None = None) -> dict[str, list[str]]:
    axis = str(work / "axis")
    cmds = {
        "axis": ["axis", "--out", axis],
        "cap": ["cap", "--axis", axis, "--out", str(work / "cap")],
        "drift": ["drift", "--axis", axis, "--out", str(work / "drift")],
        "icc": ["icc", "--out", str(work / "icc")],
        "consistency": ["consistency", "--out", str(work / "consistency")],
        "simulate-users": ["simulate-users", "--out", str(work / "simulate-users")],
    }
    extra = PRESETS.get(preset or "", {})
    return {k: v + extra.get(k, []) + (["--model-path", model] if model else []) for k, v in cmds.items()}


def headline(name: str, out: Path) -> dict:
    """The numbers the results page reports, read from what the command wrote."""
    if name == "axis":
        s = json.loads((out / "summary.json").read_text())
        return {k: s[k] for k in ("layer", "n_roles", "n_prompts", "n_questions", "pc1_explained",
                                  "axis_pc1_cosine", "default_pc1_position", "default_pc1_rank", "seconds")} | {
            "explained_first5": s["explained_variance_ratio"][:5], "n_default_chats": s.get("n_default_chats"),
            "axis_pc1_cosine_by_layer": s["axis_pc1_cosine_by_layer"], "tests": s.get("tests")}
    if name == "cap":
        r = json.loads((out / "capping.json").read_text())
        return {k: r.get(k) for k in ("layer", "cap_layers", "n_replies", "n_roles", "percentile", "calibration",
                                      "uncapped_role_projection", "capped_role_projection", "default_projection",
                                      "projection_shift", "shift_fraction_of_gap", "share_positions_clamped",
                                      "perplexity_uncapped", "perplexity_capped", "mcq_n", "mcq_accuracy_uncapped",
                                      "mcq_accuracy_capped", "mcq_accuracy_diff", "mcq_smallest_detectable_difference",
                                      "mcq_right_letter_probability_diff", "seconds")}
    if name == "simulate-users":
        r = json.loads((out / "users.json").read_text())
        routes = {x: {k: v for k, v in row.items() if k not in ("transcripts", "examples")}
                  for x, row in r["routes"].items()}
        return {k: r.get(k) for k in ("personas", "runs", "turns", "scripts", "temperature", "classifier",
                                      "vs_baseline", "seconds")} | {"routes": routes}
    if name == "drift":
        r = json.loads((out / "drift.json").read_text())
        return {"layer": r["layer"], "n_turns": r["n_turns"], "personas": r["personas"],
                "default_projection_level": r["default_projection_level"],
                "role_projection_level": r["role_projection_level"], "seconds": r["seconds"],
                "by_type": {k: {kk: v.get(kk) for kk in (
                    "mean_projection_by_turn", "drift_last_minus_first", "slope_per_turn", "n_conversations",
                    "per_conversation_drift", "n_control_conversations", "control_projection_by_turn", "control_drift",
                    "persona_minus_control", "gap_to_control_by_turn")} for k, v in r["by_type"].items()}}
    if name == "icc":
        r = json.loads((out / "icc.json").read_text())
        keep = ("icc1_pooled", "interval", "var_within_pooled", "var_within_analytic", "items_skipped",
                "persona_effect", "unparsed_share", "unparsed_by_item", "icc_by_item", "mean_answer_by_persona")
        pick = lambda d: {kk: d.get(kk) for kk in keep}
        return {"personas": r["personas"], "runs": r["runs"], "seconds": r["seconds"],
                "by_temperature": [{"temperature": t["temperature"], "movies": pick(t["movies"]),
                                    "statements": pick(t["statements"])} for t in r.get("by_temperature", [r])],
                **({"free_text": pick(r["free_text"])} if "free_text" in r else {})}
    if name == "consistency":
        r = json.loads((out / "consistency.json").read_text())
        return {k: r[k] for k in ("n_personas", "n_turns", "prompt_to_line", "prompt_to_line_mismatched",
                                  "judge_discrimination", "line_to_line", "qa", "prompt_to_line_by_turn",
                                  "drift_slope_per_turn", "drift_first_minus_second_half", "seconds")}
    raise KeyError(name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="axis,icc,cap,drift,consistency")
    ap.add_argument("--work", default="/tmp/personae-llm-lab", help="where the full outputs go (vectors etc.)")
    ap.add_argument("--model", default=None, help="a model name from 'personae llm models' [default: built-in]")
    ap.add_argument("--preset", default=None, choices=sorted(PRESETS), help="sizes for larger models")
    ap.add_argument("--extra", default="", help="options appended to every command (the last value of an option wins)")
    args = ap.parse_args()
    work = Path(args.work)
    figs = FIGS / args.model if args.model else FIGS
    figs.mkdir(parents=True, exist_ok=True)
    results_path = figs / "lab_results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for name in args.only.split(","):
        argv = commands(work, args.model, args.preset)[name] + shlex.split(args.extra)
        t0 = time.time()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([sys.executable, "-m", "personae.cli.llm", *argv], check=False, env=env,
                              cwd=ROOT,
                              capture_output=True, text=True)
        wall = round(time.time() - t0, 1)
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = round(cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime, 1)
        if proc.returncode != 0:
            print(f"{name} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}",
                  file=sys.stderr, flush=True)
            continue
        out = Path(argv[argv.index("--out") + 1])
        dest = figs / name
        dest.mkdir(exist_ok=True)
        for f in out.glob("*.png"):
            shutil.copy2(f, dest / f.name)
        for f in out.glob("*.json"):
            if f.name not in ("transcripts.json",):
                shutil.copy2(f, dest / f.name)
        results[name] = {"command": "personae llm " + shlex.join(argv).replace(str(work), "$WORK"),
                         "wall_seconds": wall, "cpu_seconds": cpu,
                         "load_average_after": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                         "machine": f"{os.cpu_count()} cores, no GPU, {platform.processor() or platform.machine()}, "
                                    f"torch threads default, shared with other jobs", "stdout": proc.stdout.strip(),
                         "numbers": headline(name, out)}
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"{name}: {wall} s\n{proc.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main()
