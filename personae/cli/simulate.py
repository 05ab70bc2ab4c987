"""``personae simulate DIR [DIR ...] --users N --turns T [--json FILE]``: the CLI shell over ``run_study``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from personae.simulate.runner import StudyOptions, run_study


def simulate_command(
    model_dirs: Annotated[list[Path], typer.Argument(help="saved models (their kind and options are retrained on "
                                                          "each user's earlier events); the first ampcf, else the "
                                                          "first with item vectors, supplies the simulated users")],
    users: Annotated[int, typer.Option("--users", min=1, help="distinct test users in the loop")] = 1000,
    turns: Annotated[int, typer.Option("--turns", min=2, help="events per session")] = 20,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    iterations: Annotated[int, typer.Option("--iterations", min=0, help="CEM iterations of the realism fit")] = 5,
    world: Annotated[str | None, typer.Option("--world", help="model the simulated users are made of")] = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="write the full report as JSON")] = None,
) -> None:
    """Simulated users judged against held-out reality: realism (an outside judge), consistency with the same
    user's later behaviour, drift and anchoring, recommenders in the loop, coverage of plausible users."""
    from personae.files import write_json

    report = run_study(model_dirs, StudyOptions(users=users, turns=turns, seed=seed, iterations=iterations,
                                                world=world), log=lambda m: print(m, file=sys.stderr))
    print(summary_text(report))
    if json_file:
        write_json(json_file, report)


def _ci(entry: dict) -> str:
    return f"{entry['estimate']:+.3f} [{entry['low']:+.3f}, {entry['high']:+.3f}] over {entry['n_units']} {entry['unit']}"


def summary_text(report: dict) -> str:
    """The headline figures, one per line, each with its null or control."""
    r, c, d = report["realism"], report["consistency"], report["drift"]
    lines = [(f"realism AUC of a gradient-boosted judge on test users' held-out sessions (0.5 = indistinguishable):"
              f" free {r['free']['auc']:.3f} [{r['free']['interval']['low']:.3f}, "
              f"{r['free']['interval']['high']:.3f}], anchored {r['anchored']['auc']:.3f}, random "
              f"{r['random']['auc']:.3f}; null real vs real {r['real_vs_real']['auc']:.3f}")]
    for metric in ("prompt_to_line", "line_to_line", "qa"):
        if metric in c["free"]:
            e = c["free"][metric]
            lines.append(f"{metric} vs held-out reality: own {e['own']:.3f}, another user's {e['other']:.3f}, "
                         f"own - other {_ci(e['own_minus_other'])}")
    lines.append(f"drift of that gap (1st half - 2nd half): free {_ci(d['free'])}; anchoring's effect "
                 f"{_ci(d['anchoring_effect'])}")
    loop = report["loop"]
    lines.append(f"loop ({loop['users']} distinct test users): model  take_rate  mean_rating  held_out_fit  bubble")
    for name, m in loop["models"].items():
        lines.append(f"  {name}  {m['take_rate']:.3f}  {m['mean_rating']:.2f}  {m['held_out_fit']:.3f}  "
                     f"{m['bubble']:.3f}")
    cov = report["coverage"]
    lines.append(f"rare-but-real users covered: evolutionary {cov['evolutionary_plausible']['rare_real_covered']:.3f}"
                 f" vs density {cov['density']['rare_real_covered']:.3f} "
                 f"({_ci(cov['evolutionary_plausible']['rare_real_vs_density'])})")
    return "\n".join(lines)
