"""Simulated users against held-out reality (issue 24): realism by an outside judge, consistency with the same
user's later behaviour, drift and anchoring, recommenders in the loop, coverage of plausible users.

    OMP_NUM_THREADS=1 python bench/simulate.py --dataset ml-100k --users 1000 --turns 20

Each model (ampcf, mf, bpr, pop by default, with their default options unless ``--param`` says otherwise) is
trained on every user's earlier 80% of events; the latest 20% are held out. Fit users fit the simulator, test
users give every figure (see ``personae.simulate.runner``). The same study from the CLI is
``personae simulate RUNS/ampcf RUNS/mf RUNS/bpr RUNS/pop`` on saved models (retrained the same way).
Writes bench/results/simulate-DATASET.json and the section "Simulated users against held-out reality" at the
end of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from results_md import replace_section, stamp

from personae.data.registry import load_dataset
from personae.experiment import write_json
from personae.models import model_class
from personae.simulate.runner import StudyOptions, single_threaded_blas, study

HERE = Path(__file__).parent
TARGET_AUC, TARGET_GAP = 0.70, 0.10


def ci(e: dict | None, digits: int = 3) -> str:
    if not e:
        return "-"
    return (f"{e['estimate']:+.{digits}f} [{e['low']:+.{digits}f}, {e['high']:+.{digits}f}] over {e['n_units']} "
            f"{e['unit']}")


def met(ok: bool, how_far: str) -> str:
    return f"**met** ({how_far})" if ok else f"**missed** ({how_far})"


def section(reports: dict[str, dict], commands: dict[str, str], load: dict[str, str]) -> str:
    out = ["## Simulated users against held-out reality (issue 24)", "",
           ("Every user's latest 20% of events are held out; the world model (ampcf) and every model in the loop "
            "are trained on the earlier 80%. A random half of the users (*fit* users) fits the simulator: its "
            "parameters by CEM against a gradient-boosted judge of its own, the ordinal rating model, session "
            "lengths per activity band and gaps between events, the anchor. The other half (*test* users) gives "
            "every figure below, judged by a fresh classifier instance. Intervals come from `personae.stats` "
            "and are over users."), ""]
    for name, r in reports.items():
        rl, c, d = r["realism"], r["consistency"], r["drift"]
        out += [f"### {name}", "", stamp(commands[name]).rstrip() + f"  \nLoad: {load[name]}", "",
                (f"{r['fit_users']} fit users, {r['test_users']} test users; sessions of up to {r['turns']} events "
                 f"(30-minute gap), slates of {r['slate']}. World: `{r['world_model']}`."), "",
                "| simulator | judge AUC on test users' held-out sessions [95% CI over users] | sessions real / simulated |",
                "|---|---|---|"]
        for key in ("free", "anchored", "random", "real_vs_real"):
            e = rl[key]
            label = "null: real vs real (two halves of test users, mean of 10 random halvings; CI: t over halvings)" if key == "real_vs_real" else key
            out.append(f"| {label} | {e['auc']:.3f} [{e['interval']['low']:.3f}, {e['interval']['high']:.3f}] | "
                       f"{e['real_sessions']} / {e['simulated_sessions']} |")
        types = rl["session_types"]
        out += ["", "Session types (share of sessions): " + "; ".join(
            f"{k} real {types['real'][k]:.2f} / simulated {types['simulated'][k]:.2f}" for k in types["real"]) + ".",
            "", "| consistency vs held-out reality | own | another user's | own - other [95% CI] |", "|---|---|---|---|"]
        for sim in ("free", "anchored", "random", "real_users"):
            for metric, e in c[sim].items():
                label = "real users' own last events" if sim == "real_users" else f"{sim} simulator"
                out.append(f"| {metric}, {label} | {e['own']:.3f} | {e['other']:.3f} | {ci(e['own_minus_other'])} |")
        out += ["", (f"Drift of the prompt-to-line gap (first half minus second half of a {r['turns']}-event "
                     f"session): free {ci(d['free'], 4)}; anchored {ci(d['anchored'], 4)}; anchoring's effect "
                     f"(anchored minus free) {ci(d['anchoring_effect'], 4)}. Learned anchor "
                     f"{r['params']['anchored']['anchor']:.2f}."), "",
                "Self-agreement (the mechanism against its own mix; not fidelity): " + "; ".join(
                    f"{k} own {v['own']:.3f} vs another user's mix {v['another_users_mix']:.3f}"
                    for k, v in r["self_agreement"]["free"].items()) + ".", ""]
        st = r["stability"]
        out += ["ICC(1) over seeded runs (free simulator): " + "; ".join(
            f"{k} {ci(v)} (shuffled null {v['null']['mean']:.3f})" for k, v in st.items()) + ".", ""]
        for key, title in (("loop", "world: " + r["world_model"]), ("loop_control", "control world")):
            if key not in r:
                continue
            loop = r[key]
            first = loop["baseline"]
            world = loop.get("world_model", r["world_model"])
            out += [(f"Recommenders in the loop ({loop['users']} distinct test users, anchored simulator, world "
                    f"made of `{world}`):"), "",
                    (f"| model | take rate | mean rating | fit to held-out items | slate genre entropy (bits) | "
                    f"take rate vs {first} | held-out fit vs {first} |"), "|---|---|---|---|---|---|---|"]
            for m, e in loop["models"].items():
                v = e[f"vs_{first}"]
                out.append(f"| {m} | {e['take_rate']:.3f} | {e['mean_rating']:.2f} | {e['held_out_fit']:.3f} | "
                           f"{e['bubble']:.2f} | {ci(v['take_rate'])} | {ci(v['held_out_fit'])} |")
            out.append("")
        if "loop_control" in r:
            out += ["Does the verdict hold in the other world (take rate vs " + r["loop"]["baseline"] + ")? " +
                    "; ".join(verdict_holds(m, r["loop"]["models"][m], r["loop_control"]["models"][m],
                                            r["loop"]["baseline"]) for m in r["loop"]["models"]
                              if m != r["loop"]["baseline"]) + ".", ""]
        cov = r["coverage"]
        p = cov["plausibility"]
        out += [(f"Coverage of plausible users: a trait vector is plausible when its {p['k']}-th nearest fit user "
                 f"is within {p['threshold']:.3f} (the {p['quantile_of_fit_users']:.0%} quantile of fit users' own "
                 f"leave-one-out distance); held-out test users inside: {p['held_out_users_inside']:.3f} of "
                 f"{p['held_out_users']}. Rare-but-real users: the {cov['rare_real_users']} test users farthest "
                 f"from fit users (top fifth). Radius r = {cov['radius']:.3f} (median distance from a plausible-region point to its nearest fit user)."), "",
                ("| generator | plausible share | coverage of plausible region | rare-but-real users covered | "
                "vs density [95% CI] | rare personas (plausible) |"), "|---|---|---|---|---|---|"]
        if "rarity_alpha" in cov:
            out.insert(-3, "")
            out.insert(-3, (f"Rarity generator: fit users drawn with weight (5th-neighbour distance)^alpha, Scott noise, "
                            f"plausible samples only; alpha = {cov['rarity_alpha']['chosen']:g} chosen on fit users "
                            f"alone (half as reference, the other half's rare fifth as targets: "
                            + ", ".join(f"alpha {k}: {v:.3f}" for k, v in cov['rarity_alpha']['fit_half_scores'].items())
                            + ")."))
            out.insert(-3, "")
        for g in ("density", "rarity", "evolutionary_plausible", "evolutionary_box"):
            if g not in cov:
                continue
            e = cov[g]
            out.append(f"| {g} | {e['plausible_share']:.3f} | {e['plausible_region_coverage']:.3f} | "
                       f"{e['rare_real_covered']:.3f} | {ci(e.get('rare_real_vs_density'))} | "
                       f"{e['rare_personas']} ({e['rare_personas_plausible']}) |")
        out += ["", *targets(r), ""]
    return "\n".join(out)


def verdict_holds(name: str, a: dict, b: dict, first: str) -> str:
    x, y = a[f"vs_{first}"]["take_rate"], b[f"vs_{first}"]["take_rate"]
    sure = [e["effect"] for e in (x, y)]
    if all(sure) and (x["estimate"] > 0) == (y["estimate"] > 0):
        return f"{name}: {'higher' if x['estimate'] > 0 else 'lower'} in both worlds"
    return f"{name}: not ranked (sign or interval depends on the world)"


def targets(r: dict) -> list[str]:
    auc = r["realism"]["free"]["auc"]
    gap = r["consistency"]["free"]["prompt_to_line"]["own_minus_other"]
    effect = r["drift"]["anchoring_effect"]
    cov = r["coverage"].get("rarity", r["coverage"]["evolutionary_plausible"])
    vs = cov["rare_real_vs_density"]
    return ["Targets:",
            f"- realism AUC <= {TARGET_AUC}: " + met(auc <= TARGET_AUC, f"{auc:.3f}, {auc - TARGET_AUC:+.3f} from the "
                                                 f"target; null {r['realism']['real_vs_real']['auc']:.3f}"),
            f"- consistency own - other >= +{TARGET_GAP} with CI above 0 (prompt-to-line, free simulator): " +
            met(gap["estimate"] >= TARGET_GAP and gap["low"] > 0, f"{ci(gap)}, {gap['estimate'] - TARGET_GAP:+.3f} "
                                                                 "from the target"),
            (f"- anchoring's effect on drift, with its CI: measured, {ci(effect, 4)} "
            f"({'no difference' if not effect['effect'] else 'an effect'})"),
            "- generator covers more rare-but-real users than density matching, CI above 0, most rare personas "
            "plausible: " + met(vs["low"] > 0 and cov["rare_personas_plausible"] > cov["rare_personas"] / 2,
                                f"{ci(vs)}; {cov['rare_personas_plausible']} of {cov['rare_personas']} rare "
                                "personas plausible")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", action="append", help="ml-100k (default), ml-1m; repeatable")
    parser.add_argument("--models", default="ampcf,mf,bpr,pop")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=5, help="CEM iterations of the realism fit")
    parser.add_argument("--samples", type=int, default=10, help="CEM candidates per iteration")
    parser.add_argument("--anchor-iterations", type=int, default=4, help="CEM iterations of the anchor fit")
    parser.add_argument("--epochs", type=int, default=None, help="cap every torch model's epochs")
    parser.add_argument("--model-cache", type=Path, default=None, help="keep retrained models here")
    parser.add_argument("--sample-users", type=int, default=None,
                        help="keep the events of this many users drawn at random (seeded; for ml-1m on 2 cores)")
    args = parser.parse_args()
    reports, commands, load = {}, {}, {}
    for dataset in args.dataset or ["ml-100k"]:
        models = {}
        for name in args.models.split(","):
            cls = model_class(name)
            model = cls()
            if args.epochs is not None and hasattr(model.options, "epochs"):
                model = cls(options=type(model.options)(**{**vars(model.options), "epochs": args.epochs}))
            models[name] = model
        options = StudyOptions(users=args.users, turns=args.turns, seed=args.seed, iterations=args.iterations,
                               samples=args.samples, anchor_iterations=args.anchor_iterations,
                               model_cache=args.model_cache)
        start, before = time.time(), _load()
        with single_threaded_blas():
            reports[dataset] = study(sample_users(load_dataset(dataset), args.sample_users, args.seed), models,
                                     options, log=progress(start))
        load[dataset] = f"load average {before} at start, {_load()} at end ({time.time() - start:.0f} s wall)"
        write_json(HERE / "results" / f"simulate-{dataset}.json", reports[dataset])
        commands[dataset] = (f"OMP_NUM_THREADS=1 python bench/simulate.py --dataset {dataset} --models {args.models} "
                             f"--users {args.users} --turns {args.turns} --seed {args.seed} --iterations "
                             f"{args.iterations} --samples {args.samples} --anchor-iterations {args.anchor_iterations}"
                             + (f" --epochs {args.epochs}" if args.epochs else "")
                             + (f" --sample-users {args.sample_users}" if args.sample_users else ""))
    replace_section("simulate-reality", section(reports, commands, load))


def sample_users(data, n: int | None, seed: int):
    """The events of ``n`` users drawn without replacement (all users when ``n`` is None or not smaller)."""
    if n is None or n >= data.n_users:
        return data
    keep = np.random.default_rng(seed).choice(data.n_users, n, replace=False)
    return data.subset(np.isin(data.users, keep), name=f"{data.name}-{n}users")


def progress(start: float):
    return lambda message: print(f"[{time.time() - start:.0f}s] {message}", file=sys.stderr, flush=True)


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
