"""The service without HTTP: scoring, retrieval, online updates, capping, the store and replay."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from personae.models.attention import softmax_loss_grad
from personae.models.persistence import load_model
from personae.models.scoring import persona_scores
from personae.serve.online import UpdateOptions
from personae.serve.retrieval import IndexOptions, Retriever
from personae.serve.service import PersonaService, ServeOptions, UnknownItemError
from personae.serve.store import SQLiteStore, StoreError


@pytest.fixture(scope="module")
def model(served_model_dir):
    return load_model(served_model_dir)


FAST = ServeOptions(update=UpdateOptions(calibration_users=50))  # fewer honest steps to learn the step bound
NO_ROUTING = {"calibration_users": 50, "novel_below": 0.0}  # every event moves the established personas


@pytest.fixture
def service(model, tmp_path) -> PersonaService:
    return PersonaService(model, SQLiteStore(tmp_path / "store.sqlite"), FAST)


def test_service_scoring_reproduces_the_trained_model_for_known_users(model, service):
    updater = service.updater
    for user in (0, 7, 42):
        state = updater.trained(user)
        ours = service.retriever.exact(state.vectors, state.mask)
        training_formula = model.score(np.array([user]), np.arange(len(ours)))[0]  # the network's forward
        np.testing.assert_allclose(ours, training_formula, rtol=1e-5, atol=1e-6)


def test_service_explanations_match_the_models_own_for_trained_users(model, service):
    answer = service.recommend("11", 5, explain=True)["items"]
    expected = model.explain("11", [entry["item"] for entry in answer])
    for entry, why in zip(answer, expected):
        assert (entry["persona"], entry["label"]) == (why.persona, why.label)
        assert [s["item"] for s in entry["supporting_items"]] == why.supporting_items
        np.testing.assert_allclose(entry["persona_weights"], why.persona_weights, rtol=1e-5)


def test_update_gradient_written_out_in_numpy_equals_autograd():
    import torch

    rng = np.random.default_rng(0)
    personas, items = rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    bias, mask, targets = rng.normal(size=50).astype(np.float32), np.array([True, True, False, True]), np.array([3, 7, 7])
    tensor = torch.tensor(personas, requires_grad=True)
    scores = persona_scores(tensor[None], torch.as_tensor(items), torch.as_tensor(bias), 0.7,
                            mask=torch.as_tensor(mask)[None])[0]
    (-torch.log_softmax(scores, dim=0)[torch.as_tensor(targets)].mean()).backward()
    ours = softmax_loss_grad(personas, items, bias, 0.7, mask, targets)
    np.testing.assert_allclose(ours, tensor.grad.numpy(), rtol=1e-4, atol=1e-6)
    assert np.all(ours[2] == 0)  # a pruned persona never moves


def test_faiss_path_finds_the_exact_top_10_on_a_small_catalogue():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    items = (centres[rng.integers(0, 20, 4000)] + 0.3 * rng.normal(size=(4000, 16))).astype(np.float32)
    bias = rng.normal(scale=0.1, size=4000).astype(np.float32)
    exact = Retriever(items, bias, 1.0)
    indexed = Retriever(items, bias, 1.0, IndexOptions(exact_max_items=0, nlist=32, nprobe=8, candidates=50))
    assert (exact.method, indexed.method) == ("exact", "faiss")
    recalls = []
    for _ in range(20):
        personas = centres[rng.choice(20, 3, replace=False)].astype(np.float32)
        truth, _ = exact.top_k(personas, 10)
        found, scores = indexed.top_k(personas, 10)
        np.testing.assert_allclose(scores, exact.exact(personas)[found], rtol=1e-5)  # re-scored exactly
        recalls.append(len(set(truth) & set(found)) / 10)
    assert np.mean(recalls) >= 0.95


def test_retrieval_never_returns_excluded_items(service):
    state = service.updater.trained(3)
    seen = service.history("3")
    found, _ = service.retriever.top_k(state.vectors, 50, state.mask, exclude=seen)
    assert not set(found) & set(seen)


def test_an_event_moves_a_known_users_personas_and_is_stored(service):
    before = service.state("5").vectors.copy()
    best = service.recommend("5", 1, explain=False)["items"][0]["item"]  # an item their personas claim
    answer = service.post_events("5", [{"item": best}])
    assert answer["source"] == "online" and answer["accepted"] == 1
    assert not np.allclose(service.state("5").vectors, before)
    assert service.events("5")["events"][0]["item"] == best
    assert service.personas("5")["history"][-1]["item"] == best


def test_unknown_user_gets_popularity_then_fold_in_personas(service):
    assert service.recommend("stranger", 5)["source"] == "popularity"
    service.post_events("stranger", [{"item": "0"}, {"item": "1"}])
    answer = service.recommend("stranger", 5)
    assert answer["source"] == "fold-in"
    assert {"0", "1"}.isdisjoint(i["item"] for i in answer["items"])  # posted items count as seen


def test_unknown_item_is_refused_and_nothing_is_stored(service):
    with pytest.raises(UnknownItemError, match="event 1: unknown item id 'nope'"):
        service.post_events("5", [{"item": "3"}, {"item": "nope"}])
    assert service.events("5")["events"] == []


def test_capping_holds_every_step_of_an_injected_burst_to_the_learned_bounds(model, tmp_path):
    strict = ServeOptions(update=UpdateOptions(step_percentile=50.0, **NO_ROUTING))  # at most a median honest step
    capped = PersonaService(model, SQLiteStore(tmp_path / "capped.sqlite"), strict)
    free = PersonaService(model, SQLiteStore(tmp_path / "free.sqlite"),
                          ServeOptions(update=UpdateOptions(cap=False, prior_events=1e9, **NO_ROUTING)))
    bounds = capped.updater.bounds
    burst = np.random.default_rng(1).choice(len(model.fitted_data.item_ids), 20)
    capped_steps, free_steps, projections = [], [], []
    for item in burst:
        for service, steps in ((capped, capped_steps), (free, free_steps)):
            before = service.state("9").vectors.copy()
            service.post_events("9", [{"item": str(item)}])
            steps.append(np.linalg.norm(service.state("9").vectors - before, axis=1).max())
        projections.append(capped.state("9").vectors @ bounds.axis)
    assert max(capped_steps) <= bounds.max_step + 1e-5
    assert min(np.concatenate(projections)) >= bounds.low - 1e-5 and max(np.concatenate(projections)) <= bounds.high + 1e-5
    assert max(free_steps) > bounds.max_step  # without capping the same burst oversteps


def test_capping_leaves_an_update_inside_the_bounds_untouched(service):
    bounds = service.updater.bounds
    old = service.updater.trained(2).vectors.astype(np.float64)
    old = bounds.apply(old)  # a state inside the projection range
    small = old + 0.1 * bounds.max_step * np.eye(old.shape[1])[: len(old)]  # a step well under the bound
    small = bounds.apply(small)  # (idempotent projection)
    np.testing.assert_allclose(bounds.apply(small, old), small)


def test_restart_restores_state_and_replays_events_written_without_a_state(model, service, tmp_path):
    service.post_events("7", [{"item": "2"}])
    folded = service.state("7").vectors.copy()
    with sqlite3.connect(tmp_path / "store.sqlite") as db:  # as if the process died after committing events only
        db.execute("INSERT INTO events (user, item, timestamp, kind, value, batch) VALUES ('7', '4', 1, 'click', NULL, 99)")
    restarted = PersonaService(model, SQLiteStore(tmp_path / "store.sqlite"), FAST)
    assert restarted.replayed == 1
    assert restarted.personas("7")["posted_events"] == 2
    assert not np.allclose(restarted.state("7").vectors, folded)
    again = PersonaService(model, SQLiteStore(tmp_path / "store.sqlite"), FAST)
    assert again.replayed == 0
    np.testing.assert_allclose(again.state("7").vectors, restarted.state("7").vectors)


def test_a_store_written_for_another_model_is_refused(model, planted_split, tmp_path):
    from personae.models.ampcf import AMPCF

    PersonaService(model, SQLiteStore(tmp_path / "s.sqlite"))
    other = AMPCF(epochs=1, dim=8, personas=2, progress=False).fit(planted_split.train)
    with pytest.raises(StoreError, match="another model"):
        PersonaService(other, SQLiteStore(tmp_path / "s.sqlite"))


def test_history_personas_are_recomputed_from_posted_events(planted_split, tmp_path):
    from personae.models.ampcf import AMPCF

    history_model = AMPCF(epochs=1, dim=8, personas=2, persona_source="history", progress=False)
    service = PersonaService(history_model.fit(planted_split.train), SQLiteStore(tmp_path / "h.sqlite"))
    service.updater.options.cap = False
    service.post_events("new", [{"item": "12"}, {"item": "13"}])
    expected = service.updater.pool(np.array(service.posted["new"]))
    np.testing.assert_allclose(service.state("new").vectors, expected, rtol=1e-6)


def test_drift_bound_keeps_a_burst_of_injected_clicks_near_the_anchor(model, tmp_path):
    strict = ServeOptions(update=UpdateOptions(drift_percentile=50.0, prior_events=1e9, **NO_ROUTING))
    capped = PersonaService(model, SQLiteStore(tmp_path / "capped.sqlite", synchronous="OFF"), strict)
    free = PersonaService(model, SQLiteStore(tmp_path / "free.sqlite", synchronous="OFF"),
                          ServeOptions(update=UpdateOptions(cap=False, prior_events=1e9, **NO_ROUTING)))
    anchor = capped.anchor("9")
    burst = np.random.default_rng(2).choice(len(model.fitted_data.item_ids), 50, replace=False)
    for service in (capped, free):
        for item in burst:
            service.post_events("9", [{"item": str(item)}])
    capped_drift = np.linalg.norm(capped.state("9").vectors - anchor, axis=1).max()
    free_drift = np.linalg.norm(free.state("9").vectors - anchor, axis=1).max()
    assert capped_drift <= capped.updater.bounds.max_drift + 1e-5
    assert capped_drift < 0.8 * free_drift  # measurably less than the same burst without capping


def test_capping_leaves_an_honest_update_within_bounds_unchanged(model, tmp_path):
    capped = PersonaService(model, SQLiteStore(tmp_path / "capped.sqlite", synchronous="OFF"), FAST)
    free = PersonaService(model, SQLiteStore(tmp_path / "free.sqlite", synchronous="OFF"),
                          ServeOptions(update=UpdateOptions(cap=False)))
    bounds = capped.updater.bounds

    def inside(user: str, vectors: np.ndarray, start: np.ndarray) -> bool:
        projection = vectors @ bounds.axis
        return (np.linalg.norm(vectors - start, axis=1).max() <= bounds.max_step
                and np.linalg.norm(vectors - capped.anchor(user), axis=1).max() <= bounds.max_drift
                and bounds.low <= projection.min() and projection.max() <= bounds.high)

    checked = 0
    for user in map(str, range(4, 30)):  # honest events: each user's own first choice
        own = free.recommend(user, 1, explain=False)["items"][0]["item"]
        start = free.state(user).vectors.copy()
        for service in (capped, free):
            service.post_events(user, [{"item": own}])
        uncapped = free.state(user).vectors
        if inside(user, uncapped, start) and not np.allclose(uncapped, start):
            np.testing.assert_allclose(capped.state(user).vectors, uncapped, rtol=1e-6, atol=1e-6)
            checked += 1
    assert checked >= 10  # most honest updates are inside the bounds, and those are left untouched


def test_a_new_users_anchor_is_fixed_after_their_first_events_and_survives_a_restart(model, tmp_path):
    options = ServeOptions(update=UpdateOptions(calibration_users=50, anchor_events=3))
    service = PersonaService(model, SQLiteStore(tmp_path / "s.sqlite"), options)
    service.post_events("newbie", [{"item": "1"}, {"item": "2"}])
    assert service.anchor("newbie") is None  # too few events to anchor
    service.post_events("newbie", [{"item": "3"}])
    anchor = service.anchor("newbie").copy()
    np.testing.assert_allclose(anchor, service.state("newbie").vectors)
    service.post_events("newbie", [{"item": "4"}])
    restarted = PersonaService(model, SQLiteStore(tmp_path / "s.sqlite"), options)
    np.testing.assert_allclose(restarted.anchor("newbie"), anchor, rtol=1e-6)
