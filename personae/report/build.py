"""Build the report: load the model, gather content, draw the figures, write one HTML file atomically."""

from __future__ import annotations

from pathlib import Path

from personae.explain.persona_quality import QUALITY_USERS
from personae.files import write_text_atomic
from personae.models.base import Recommender
from personae.models.persistence import load_model
from personae.report.content import (
    EXAMPLE_USERS,
    MAP_USERS,
    MIN_EXAMPLE_HISTORY,
    choose_examples,
    example_quantiles,
    example_user,
    model_facts,
    persona_map,
    persona_mixes,
    quality_section_data,
    sample_users,
    top_genre,
)
from personae.report.figure_files import FigureFile, read_figure_file
from personae.report.figures import group_colours, persona_map_figure, png_base64
from personae.report.page import Report, render_page
from personae.threads import torch_threads


def build_report(model_dir: str | Path, out: str | Path, figures: list[str | Path] | None = None,
                 users: list[str] | None = None, sample: int = MAP_USERS, seed: int = 0,
                 metrics: bool = True) -> Path:
    """Write the HTML report of the saved model at ``model_dir`` to ``out``; returns ``out``.

    Args:
        figures: figure files (JSON, see :mod:`personae.report.figure_files`) shown as sections, in order.
        users: example users; default: ``choose_examples`` over the map sample.
        sample: users drawn (seeded) for the persona map.
        metrics: re-evaluate on the test split when the model records its data source.
    """
    figure_files = [read_figure_file(path) for path in figures or []]  # bad files fail before any work
    model = load_model(model_dir)
    with torch_threads(1):
        report = _gather(model, model_dir, figure_files, users, sample, seed, metrics)
    return write_text_atomic(out, render_page(report))


def _gather(model: Recommender, model_dir: str | Path, figure_files: list[FigureFile], users: list[str] | None,
            sample: int, seed: int, metrics: bool) -> Report:
    for user in users or []:
        model.fitted_data.user_index(user)  # unknown ids fail early, with the id
    sampled = sample_users(model, sample, seed)
    mixes = persona_mixes(model, sampled)
    if users:
        chosen = [str(u) for u in users]
        rule = "Users named with --users."
    else:
        chosen = choose_examples(mixes, EXAMPLE_USERS)
        percentiles = ", ".join(f"{q:.0%}" for q in example_quantiles(EXAMPLE_USERS))
        rule = (f"{len(chosen)} users chosen by a fixed rule: among the sampled users with at least "
                f"{MIN_EXAMPLE_HISTORY} training items (all of them when none has), ranked by the weight of their strongest persona, the "
                f"users at {percentiles} of that ranking (ties to the longer history), from the most evenly "
                f"mixed to the one most dominated by a single persona.")
    chosen_mixes = {u: mixes.get(u) or model.user_personas(u) for u in chosen}
    space = persona_map(mixes, model.fitted_data.n_users, seed, extra=chosen_mixes)
    colours = group_colours(space.groups if space else
                            [top_genre(label) for m in chosen_mixes.values() for label in m.labels])
    map_png = png_base64(persona_map_figure(space, colours, chosen)) if space else None
    quality, quality_note = quality_section_data(model, sampled[:QUALITY_USERS], seed)
    return Report(model_facts(model, model_dir, metrics), str(model_dir), space, map_png, colours,
                  [example_user(model, u, chosen_mixes[u]) for u in chosen], rule, figure_files, quality,
                  quality_note)


