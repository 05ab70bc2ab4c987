"""``personae simulate DIR [DIR ...] --users N --turns T [--json FILE]``: the CLI shell over ``run_study``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from personae.simulate.runner import StudyOptions, run_study


def simulate_command(
    model_dirs: Annotated[list[Path], typer.Argument(help="saved models; the first with item vectors (ampcf "
                                                          "preferred) supplies the simulated users")],
    users: Annotated[int, typer.Option("--users", min=1, help="simulated users in the loop")] = 1000,
    turns: Annotated[int, typer.Option("--turns", min=2, help="turns per session")] = 20,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    iterations: Annotated[int, typer.Option("--iterations", min=0, help="optimiser iterations per fit")] = 6,
    json_file: Annotated[Path | None, typer.Option("--json", help="write the full report as JSON")] = None,
) -> None:
    """Simulate persona-conditioned users against saved models: realism, consistency, drift, ICC, coverage,
    and click-through / rating / session length / coverage / filter bubble per model."""
    from personae.files import write_json

    report = run_study(model_dirs, StudyOptions(users=users, turns=turns, seed=seed, iterations=iterations),
                       log=lambda m: print(m, file=sys.stderr))
    print(summary_text(report))
    if json_file:
        write_json(json_file, report)


def summary_text(report: dict) -> str:
    """The headline figures, one per line, each with its null or control."""
    r, c, d = report["realism"], report["consistency"], report["drift"]
    lines = [(f"realism AUC (free / anchored / random simulator; 0.5 = indistinguishable): "
             f"{r['free']['discriminator']['auc']:.3f} / {r['anchored']['discriminator']['auc']:.3f} / "
             f"{r['random']['discriminator']['auc']:.3f}  (real vs real: {r['free']['discriminator_null']['auc']:.3f})")]
    for metric in ("prompt_to_line", "line_to_line", "qa"):
        lines.append(f"{metric}: free {c['free'][metric]['mean']:.3f}  anchored {c['anchored'][metric]['mean']:.3f}"
                     f"  random {c['random'][metric]['mean']:.3f}  null {c['free'][metric]['null']:.3f}")
    lines.append(f"drift reduction: {d['reduction']:.2f} [{d['ci_low']:.2f}, {d['ci_high']:.2f}]  "
                 f"(free drift {d['free_drift']:.3f}, anchored {d['anchored_drift']:.3f})")
    s = report["stability"]["free"]
    lines.append(f"ICC(1): {report['icc']:.3f}  genre {s['genre']['icc1']:.3f} (null {s['genre']['null']:.3f})  "
                 f"rating {s['rating']['icc1']:.3f} (null {s['rating']['null']:.3f})  "
                 f"ctr {s['ctr']['icc1']:.3f} (null {s['ctr']['null']:.3f})")
    cov = report["coverage"]
    for name in ("density", "evolutionary", "sobol_reference", "real_users"):
        e = cov[name]
        lines.append(f"coverage {name}: support {e['support_coverage']:.3f}  min distance "
                     f"{e['min_pairwise_distance']:.3f}  dispersion {e['dispersion']:.3f}")
    lines.append("model  ctr  mean_rating  session_length  coverage  bubble")
    for name, m in report["models"].items():
        lines.append(f"{name}  {m['ctr']:.3f}  {m['mean_rating']:.2f}  {m['session_length']:.2f}  "
                     f"{m['coverage']:.3f}  {m['bubble']:.3f}")
    return "\n".join(lines)
