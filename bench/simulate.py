"""Persona-conditioned user simulation on MovieLens-100K: realism, consistency and drift, learned anchoring, ICC,
coverage-driven persona generation, and ampcf vs bpr vs pop in the loop.

Train the three models first (outside the repository), then run the study on them:

    personae train --dataset ml-100k --model ampcf --out RUNS/ampcf      # and bpr, pop
    OPENBLAS_NUM_THREADS=1 python bench/simulate.py RUNS --users 1000 --turns 20

The study is `personae simulate RUNS/ampcf RUNS/bpr RUNS/pop --users 1000 --turns 20 --json ...`; this script
adds a control for the simulator's home advantage: the same loop with simulated users made of bpr's vectors.
Writes bench/results/simulate.json and the "simulate" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from results_md import replace_section, stamp

from personae.experiment import write_json
from personae.simulate.recommender_loop import compare_models
from personae.simulate.runner import (
    StudyOptions,
    load_models,
    run_study,
    single_threaded_blas,
    source_data,
)
from personae.simulate.simulator import SimulatorParams
from personae.simulate.world import population_from_model, world_from_model

HERE = Path(__file__).parent
MODELS = ("ampcf", "bpr", "pop")


def home_advantage(runs: Path, params: dict, options: StudyOptions) -> dict:
    """The loop again with users made of bpr's vectors: does the simulator favour the model it is made of?"""
    models = load_models([runs / m for m in MODELS])
    bpr = models["bpr"]
    data = source_data(bpr)
    world = world_from_model(bpr, data)
    everyone = population_from_model(bpr, data, world)
    drawn = np.random.default_rng(options.seed + 3).choice(len(everyone), options.users,
                                                           replace=options.users > len(everyone))
    with single_threaded_blas():
        return compare_models(world, everyone.take(drawn), models, SimulatorParams(**params), options.turns,
                              options.slate, options.seed, bpr.fitted_data.item_ids)


def ci(entry: dict | None, digits: int = 3) -> str:
    if not entry:
        return "-"
    verdict = "" if entry["ci_low"] > 0 or entry["ci_high"] < 0 else " (no difference)"
    return f"{entry['diff']:+.{digits}f} [{entry['ci_low']:+.{digits}f}, {entry['ci_high']:+.{digits}f}]{verdict}"


def loop_table(models: dict, first: str = "ampcf") -> list[str]:
    lines = [("| model | CTR | mean rating | session length (turns) | catalogue coverage | bubble: slate genre "
             f"entropy (bits) | CTR vs {first} [95% CI] | rating vs {first} | bubble vs {first} |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for name, m in models.items():
        versus = m.get(f"vs_{first}", {})
        lines.append(f"| {name} | {m['ctr']:.3f} | {m['mean_rating']:.2f} | {m['session_length']:.2f} | "
                     f"{m['coverage']:.3f} | {m['bubble']:.3f} | {ci(versus.get('ctr'))} | "
                     f"{ci(versus.get('mean_rating'), 2)} | {ci(versus.get('bubble'))} |")
    return lines


def section(report: dict, control: dict, command: str, cli: str) -> str:
    r, c, d, s, cov = report["realism"], report["consistency"], report["drift"], report["stability"], report["coverage"]
    out = ["## Persona-conditioned user simulation (ml-100k): realism, consistency, drift, ICC, coverage, loop", "",
           stamp(command).replace("no GPU, torch CPU", "shared with other jobs"),
           (f"Same study from the CLI: `{cli}`. World (what simulated users are made of): "
           f"`{report['world_model']}`; {report['tuning_users']} real users fit the simulator, the other "
           f"{report['held_out_users']} give every figure below. Sessions of {report['turns']} turns, slates of "
           f"{report['slate']}."), "",
           "### Realism: discriminator two-sample test (AUC 0.5 = indistinguishable; aim <= 0.65)", "",
           "| simulator | discriminator AUC [95% CI] | session length KS | popularity KS | genre TV |",
           "|---|---|---|---|---|"]
    for name in ("free", "anchored", "random"):
        e = r[name]
        out.append(f"| {name} | {e['discriminator']['auc']:.3f} [{e['discriminator']['ci_low']:.3f}, "
                   f"{e['discriminator']['ci_high']:.3f}] | {e['distances']['session_length']['ks']:.3f} | "
                   f"{e['distances']['popularity']['ks']:.3f} | {e['distances']['genre']['total_variation']:.3f} |")
    n = r["free"]
    out += [(f"| null: real vs real (two halves) | {n['discriminator_null']['auc']:.3f} | "
            f"{n['distances_null']['session_length']['ks']:.3f} | {n['distances_null']['popularity']['ks']:.3f} | "
            f"{n['distances_null']['genre']['total_variation']:.3f} |"), "",
            (f"`realism_auc` (free simulator) = **{report['realism_auc']:.3f}**; real sessions: "
            f"{n['real_sessions']}."), "",
            "### Consistency (behavioural, arXiv:2511.00222 on vectors) and drift", "",
            ("| metric | free | anchored | random simulator | null | drift free (1st half - 2nd half) [95% CI] | "
            "drift anchored |"), "|---|---|---|---|---|---|---|"]
    for metric in ("prompt_to_line", "line_to_line", "qa"):
        null = c["free"][metric]["null"]
        extra = f" (another user's mix: {c['free'][metric]['other_mix']:.3f})" if metric == "prompt_to_line" else ""
        out.append(f"| {metric} | {c['free'][metric]['mean']:.3f} | {c['anchored'][metric]['mean']:.3f} | "
                   f"{c['random'][metric]['mean']:.3f} | {null:.3f}{extra} | {ci(c['free'][metric]['drift'], 4)} | "
                   f"{ci(c['anchored'][metric]['drift'], 4)} |")
    fit = report["fit"]["anchored"]
    verdict = ("" if d["ci_low"] > 0 else " — the CI includes 0: **no reduction shown**") if d["free_drifts"] else \
        " — the free simulator shows no drift (CI includes 0): nothing to reduce"
    out += ["", (f"Learned anchoring (CEM over the pull toward the session mix, reward = mean of the three metrics, "
                f"constraint: tuning AUC <= {fit['auc_limit']:.3f}): anchor = "
                f"{report['params']['anchored']['anchor']:.3f}; tuning reward {fit['free_tuning_reward']:.4f} -> "
                f"{fit['tuning_reward']:.4f}; tuning AUC {fit['anchored_tuning_auc']:.3f}."), "",
            (f"`drift_reduction` = **{d['reduction']:.2f}** [{d['ci_low']:.2f}, {d['ci_high']:.2f}] (drift summed "
            f"over the three metrics: free {d['free_drift']:.4f} [{d['free_drift_ci'][0]:.4f}, "
            f"{d['free_drift_ci'][1]:.4f}], anchored {d['anchored_drift']:.4f}){verdict}. Realism cost: AUC "
            f"{r['free']['discriminator']['auc']:.3f} -> {r['anchored']['discriminator']['auc']:.3f}."), "",
            f"### Stability: ICC(1) over {s['free']['personas']} personas x {s['free']['runs']} seeds", "",
            "| output | ICC(1) free | null (runs shuffled over personas) | ICC(1) anchored |", "|---|---|---|---|"]
    for name in ("genre", "rating", "ctr"):
        out.append(f"| {name} | {s['free'][name]['icc1']:.3f} | {s['free'][name]['null']:.3f} | "
                   f"{s['anchored'][name]['icc1']:.3f} |")
    per_genre = s["free"]["genre"]["per_genre"]
    out += ["", f"`icc` (mean of the three) = **{report['icc']:.3f}**. Per genre (free): " +
            ", ".join(f"{g} {v:.2f}" for g, v in per_genre.items()) + ".", "",
            (f"### Coverage-driven persona generation ({cov['density']['size']} personas each, trait space "
            f"[0,1]^{len(cov['traits'])}: genre shares, activity, diversity)"), "",
            (f"Radius r = {cov['radius']:.3f} (a Sobol population of the same size covers 99% of uniform points); "
            f"coverage measured on {cov['mc_points']} fresh uniform points."), "",
            "| generator | support coverage | min pairwise distance | dispersion |", "|---|---|---|---|"]
    for name in ("density", "evolutionary", "sobol_reference", "real_users"):
        e = cov[name]
        out.append(f"| {name} | {e['support_coverage']:.3f} | {e['min_pairwise_distance']:.3f} | "
                   f"{e['dispersion']:.3f} |")
    out += ["", f"Rare personas (evolved, farther than r from every density persona): {cov['rare_personas']}."]
    if "models_on_personas" in cov:
        out += ["", "| model | CTR on density personas | CTR on rare personas | rating density | rating rare |",
                "|---|---|---|---|---|"]
        for name in cov["models_on_personas"]["rare"]:
            a, b = cov["models_on_personas"]["density"][name], cov["models_on_personas"]["rare"][name]
            out.append(f"| {name} | {a['ctr']:.3f} | {b['ctr']:.3f} | {a['mean_rating']:.2f} | "
                       f"{b['mean_rating']:.2f} |")
        out += ["", "CTR differences on rare personas vs ampcf: " + "; ".join(
            f"{n} {ci(e.get('vs_ampcf', {}).get('ctr'))}" for n, e in cov["models_on_personas"]["rare"].items()
            if n != "ampcf") + "."]
    out += ["", f"### Recommenders in the loop ({report['users']} simulated users, anchored simulator, same seed)",
            "", *loop_table(report["models"]), "",
            "Control for home advantage (simulated users made of bpr's vectors instead of ampcf's):", "",
            *loop_table(control), "", "CTR against ampcf in both worlds: " + "; ".join(
                f"{name}: {robust(report['models'][name]['vs_ampcf']['ctr'], control[name]['vs_ampcf']['ctr'])}"
                for name in report["models"] if name != "ampcf") + "."]
    return "\n".join(out)


def robust(a: dict, b: dict) -> str:
    """A difference the simulator can claim only if it holds, same sign, whichever model the users are made of."""
    sure = [e["ci_low"] > 0 or e["ci_high"] < 0 for e in (a, b)]
    if all(sure) and np.sign(a["diff"]) == np.sign(b["diff"]):
        return f"{'higher' if a['diff'] > 0 else 'lower'} in both worlds"
    return "not ranked (the sign or the CI depends on which model the users are made of)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path, help="folder holding the trained ampcf, bpr and pop models")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=6, help="CEM iterations of each fit")
    args = parser.parse_args()
    options = StudyOptions(users=args.users, turns=args.turns, seed=args.seed, iterations=args.iterations)
    report = run_study([args.runs / m for m in MODELS], options, log=lambda m: print(m, file=sys.stderr, flush=True))
    control = home_advantage(args.runs, report["params"]["anchored"], options)
    report["home_advantage_control"] = control
    write_json(HERE / "results" / "simulate.json", report)
    command = (f"OPENBLAS_NUM_THREADS=1 python bench/simulate.py RUNS --users {args.users} --turns {args.turns} "
               f"--seed {args.seed} --iterations {args.iterations}")
    cli = (f"personae simulate RUNS/ampcf RUNS/bpr RUNS/pop --users {args.users} --turns {args.turns} "
           f"--iterations {args.iterations} --json simulate.json")
    replace_section("simulate", section(report, control, command, cli))


if __name__ == "__main__":
    main()
