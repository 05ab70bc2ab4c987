"""What the report shows, gathered from a fitted model: the persona map, example users, and model facts.

Everything here is plain data (numbers, strings, the model's own result types); drawing and HTML live in
``figures`` and ``page``. The map uses the one persona-space module (:func:`personae.space.fit_pca`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from personae.data.sources import DataSource
from personae.errors import DataError
from personae.explain.labels import NO_ITEMS
from personae.explain.persona_quality import (
    persona_quality,
    silhouette_with_shuffles,
)
from personae.models.base import Recommender
from personae.results import Explanation, PersonaMix
from personae.space import fit_pca

MAP_USERS = 300  # users sampled for the map: user_personas for every user of a large catalogue is slow
EXAMPLE_USERS = 3
MIN_EXAMPLE_HISTORY = 20  # example users need enough history for their personas to mean something
NO_ITEMS_LABEL = "no items"


def top_genre(label: str) -> str:
    """The first (highest-lift) genre of a persona label ``"A / B / C"``; personas without items get their own
    group so they are not mistaken for a genre."""
    if label == NO_ITEMS:
        return NO_ITEMS_LABEL
    return label.split(" / ")[0]


def sample_users(model: Recommender, n: int = MAP_USERS, seed: int = 0) -> list[str]:
    """Up to ``n`` external user ids drawn without replacement (seeded), in index order."""
    data = model.fitted_data
    chosen = np.random.default_rng(seed).choice(data.n_users, size=min(n, data.n_users), replace=False)
    return [str(data.user_ids[u]) for u in np.sort(chosen)]


def persona_mixes(model: Recommender, user_ids: list[str]) -> dict[str, PersonaMix]:
    """User id -> that user's PersonaMix, in the given order."""
    return {user: model.user_personas(user) for user in user_ids}


@dataclass
class PersonaMap:
    """A 2-D PCA projection of the persona vectors of sampled users.

    ``silhouette`` measures whether personas with the same top genre sit together in the full space (cosine;
    personas that own no history item are left out); ``silhouette_shuffled`` is the same figure with the labels
    permuted (the no-structure control).
    """

    coords: np.ndarray  # (n, 2) PC1, PC2 of every persona
    explained: np.ndarray  # (2,) share of variance of PC1 and PC2
    groups: list[str]  # (n,) top genre of each persona's label
    weights: np.ndarray  # (n,) the persona's prior weight within its user
    owners: list[str]  # (n,) user id of each persona
    n_users: int  # users drawn for the map
    n_population: int  # users the model knows
    seed: int
    silhouette: float | None
    silhouette_shuffled: tuple[float, float, float] | None  # mean, min, max over the shuffles


def persona_map(mixes: dict[str, PersonaMix], n_population: int, seed: int = 0,
                extra: dict[str, PersonaMix] | None = None) -> PersonaMap | None:
    """Project the personas of ``mixes`` (the sample) onto their first two principal components.

    ``extra`` users (e.g. chosen examples outside the sample) are projected onto the same components without
    shaping them. Returns None for models without persona vectors (empty vectors: pop, itemknn, ease, bpr, din).
    """
    if not mixes or any(mix.vectors.size == 0 for mix in mixes.values()):
        return None
    vectors = np.concatenate([mix.vectors for mix in mixes.values()])  # (n, dim)
    pca = fit_pca(vectors)
    shown = {**mixes, **{u: m for u, m in (extra or {}).items() if u not in mixes}}
    coords = pca.project(np.concatenate([m.vectors for m in shown.values()]), n=2)
    if coords.shape[1] < 2:  # one-dimensional space: draw it on a line
        coords = np.column_stack([coords[:, 0], np.zeros(len(coords))])
    explained = np.pad(pca.explained[:2], (0, max(0, 2 - len(pca.explained))))
    groups = [top_genre(label) for m in shown.values() for label in m.labels]
    sample_groups = np.asarray(groups[:len(vectors)])
    named = sample_groups != NO_ITEMS_LABEL  # personas that own no history item have no genre to group by
    score, control = _silhouette_with_control(vectors[named], sample_groups[named], seed)
    return PersonaMap(coords, explained, groups, np.concatenate([m.weights for m in shown.values()]),
                      [u for u, m in shown.items() for _ in m.labels], len(mixes), n_population, seed,
                      score, control)


def _silhouette_with_control(vectors: np.ndarray, groups: np.ndarray,
                             seed: int) -> tuple[float | None, tuple[float, float, float] | None]:
    """Silhouette of the genre groups, and (mean, min, max) over the label shuffles (None with < 2 groups)."""
    result = silhouette_with_shuffles(vectors, groups, seed)
    if result is None:
        return None, None
    shuffled = result["shuffled"]
    return result["silhouette"], (shuffled["mean"], shuffled["min"], shuffled["max"])


def example_quantiles(n: int) -> np.ndarray:
    """Where the ``n`` default examples sit in the ranking: evenly from the 10th to the 90th percentile."""
    return np.linspace(0.1, 0.9, n) if n > 1 else np.array([0.5])


def choose_examples(mixes: dict[str, PersonaMix], n: int = EXAMPLE_USERS) -> list[str]:
    """The documented default: among users with at least ``MIN_EXAMPLE_HISTORY`` training items (all users when
    none has), ranked by the weight of their strongest persona, the users at :func:`example_quantiles` (for 3:
    the 10th, 50th and 90th percentile), so the examples run from an evenly mixed user to one dominated by a
    single persona. Ties go to the longer history, then the smaller id."""
    eligible = {u: m for u, m in mixes.items() if len(m.history) >= MIN_EXAMPLE_HISTORY} or mixes
    ranked = sorted(eligible, key=lambda u: (round(float(eligible[u].weights.max()), 6),
                                             -len(eligible[u].history), u))
    picks = [ranked[round(q * (len(ranked) - 1))] for q in example_quantiles(n)] if ranked else []
    return list(dict.fromkeys(picks))


@dataclass
class ExampleUser:
    """One user's personas and their explained top-k list."""

    mix: PersonaMix
    items: list[str]  # top-k item ids, best first
    titles: list[str]
    scores: list[float]
    explanations: list[Explanation]


def example_user(model: Recommender, user_id: str, mix: PersonaMix | None = None, k: int = 10) -> ExampleUser:
    recs = model.recommend([user_id], k=k)
    items = recs.item_ids[0]
    return ExampleUser(mix or model.user_personas(user_id), items, recs.titles[0], recs.scores[0],
                       model.explain(user_id, items))


@dataclass
class ModelFacts:
    """What model this is, on what data, and (when its data source is recorded) its test metrics."""

    name: str
    summary: str
    options: dict[str, Any]
    dataset: str  # "" when the saved model does not record its data source
    n_users: int
    n_items: int
    n_events: int
    metrics: dict[str, float] = field(default_factory=dict)
    metrics_note: str = ""  # why metrics are missing, when they are


def model_facts(model: Recommender, model_dir: str | Path, with_metrics: bool = True) -> ModelFacts:
    """Facts from the saved config; test metrics by re-evaluating the loaded model when the config records its
    data source."""
    from personae.runs import evaluate_model

    data = model.fitted_data
    config = getattr(model, "saved_config_", {}) or {}
    source = config.get("source") or {}
    dataset = DataSource.from_dict(source).label() if source else ""
    facts = ModelFacts(model.name, model.summary, model.get_params(), dataset, data.n_users, data.n_items,
                       len(data))
    if not with_metrics:
        facts.metrics_note = "not computed (--no-metrics)"
    elif not source:
        facts.metrics_note = "not available: the saved model does not record its data source"
    else:
        try:
            report = evaluate_model(model, model_dir)
            facts.metrics = dict(next(iter(report["models"].values())))
        except (DataError, OSError) as exc:
            facts.metrics_note = f"not available: {exc}"
    return facts


def quality_section_data(model: Recommender, user_ids: list[str], seed: int = 0) -> tuple[dict | None, str]:
    """Persona quality (:func:`personae.explain.persona_quality.persona_quality`) of ``user_ids``, or None and
    why not (a catalogue without genres or categories has no labels to be coherent with)."""
    if model.fitted_data.item_genres() is None:
        return None, "not measured: the items have no genres or categories to label personas with"
    return persona_quality(model, user_ids, seed=seed), ""
