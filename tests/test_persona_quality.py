"""Persona quality on planted interests: personas made of the user's own clusters are coherent with their
labels beyond another persona's label; with genres unrelated to what users do, the gain over the null vanishes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from personae.data.splits import leave_last_out
from personae.data.synthetic import planted_interests
from personae.explain.part_faithfulness import PersonaPartScorer, part_faithfulness
from personae.explain.persona_quality import (
    empty_personas,
    label_genres,
    persona_quality,
    seed_stability,
    silhouette_with_shuffles,
    user_quality,
)
from personae.models.ease_personas import EASEPersonas


def _fit(data, seed=0):
    split = leave_last_out(data)
    return EASEPersonas(l2=50.0, focus=0.0, personas=3, seed=seed).fit(split.train, split.valid)


@pytest.fixture(scope="module")
def planted():
    return planted_interests(n_users=120, n_clusters=8, items_per_cluster=15, interests_per_user=3,
                             events_per_user=30, seed=0)


@pytest.fixture(scope="module")
def model(planted):
    return _fit(planted)


def _users(model, n=60):
    return [str(u) for u in model.fitted_data.user_ids[:n]]


def test_label_genres_reads_a_lift_label():
    assert label_genres("Horror / Sci-Fi") == {"Horror", "Sci-Fi"}
    assert label_genres("(no items yet)") == frozenset()


def test_planted_personas_are_coherent_beyond_another_personas_label(model):
    quality = persona_quality(model, _users(model))
    coherence = quality["coherence"]
    assert coherence["recommended"]["estimate"] > 0.8
    assert coherence["recommended_vs_null"]["low"] > 0


def test_genres_unrelated_to_behaviour_show_no_coherence_gain(planted):
    rng = np.random.default_rng(1)
    info = planted.item_info.copy()
    info["genres"] = list(rng.permutation(np.asarray(info["genres"].tolist(), dtype=object)))
    shuffled = replace(planted, item_info=info)
    model = _fit(shuffled)
    vs_null = persona_quality(model, _users(model))["coherence"]["recommended_vs_null"]
    assert vs_null["low"] <= 0 <= vs_null["high"]


def test_a_run_agrees_with_itself_beyond_a_shuffled_assignment(model):
    stability = seed_stability(model, model, _users(model, 30))
    assert stability["ari"]["estimate"] == pytest.approx(1.0)
    assert stability["vs_shuffled"]["low"] > 0


def test_personas_made_of_the_users_items_are_never_empty(model):
    assert empty_personas(model, _users(model))["share"] == 0.0


def test_one_saved_model_says_seed_stability_needs_a_second_seed(model):
    stability = persona_quality(model, _users(model, 20))["seed_stability"]
    assert stability["ari"] is None and "--seeds 0,1" in stability["needs"]


def test_user_quality_counts_the_users_own_coherence_and_empty_personas(model):
    user = _users(model, 1)[0]
    quality = user_quality(model, user)
    assert quality["empty_personas"] == 0 and quality["personas"] >= 1
    assert 0.0 <= quality["coherence"]["recommended"] <= 1.0


def test_label_silhouette_of_shuffled_groups_sits_inside_the_shuffled_null():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((80, 6))
    groups = rng.permutation(np.repeat(["a", "b", "c", "d"], 20))
    result = silhouette_with_shuffles(vectors, groups)
    assert result["shuffled"]["min"] - 0.05 <= result["silhouette"] <= result["shuffled"]["max"] + 0.05


def test_removing_the_largest_persona_part_pushes_items_down_more_than_a_random_persona(model):
    summary = part_faithfulness(model, np.arange(40)).summary()
    assert summary["share_ci"][0] > 0.5


def test_an_explainer_that_names_a_random_persona_is_no_better_than_the_control(model, monkeypatch):
    rng = np.random.default_rng(0)
    monkeypatch.setattr(PersonaPartScorer, "importance",
                        lambda self, items: rng.random((len(items), len(self.features))))
    low, high = part_faithfulness(model, np.arange(40)).summary()["share_ci"]
    assert low <= 0.5 <= high
