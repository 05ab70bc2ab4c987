"""Online updates sized by evidence, routed by persona, signed by rating, with candidate personas held apart."""

from __future__ import annotations

import numpy as np
import pytest

from personae.data.synthetic import cluster_of_item
from personae.errors import DataError
from personae.serve.online import UpdateOptions
from personae.serve.service import PersonaService, ServeOptions
from personae.serve.store import SQLiteStore

RATED = {"calibration_users": 50, "rating_scale": (1.0, 5.0)}


@pytest.fixture(scope="module")
def model(planted_split):
    """An ampcf trained long enough that its personas know the planted clusters (about 5 s)."""
    from personae.models.ampcf import AMPCF

    return AMPCF(epochs=40, dim=16, personas=3, progress=False).fit(planted_split.train, planted_split.valid)


class ServerClock:
    """The service's clock, advanced by the test (the server's arrival time; events carry their own stamps)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def service_with(model, tmp_path, name: str, clock=None, **options) -> PersonaService:
    store = SQLiteStore(tmp_path / f"{name}.sqlite", synchronous="OFF")
    return PersonaService(model, store, ServeOptions(update=UpdateOptions(**{**RATED, **options})),
                          clock=clock or ServerClock())


def score_of(service: PersonaService, user: str, item: str) -> float:
    state = service.state(user)
    index = int(service.item_indices([item])[0])
    return float(service.retriever.exact(state.vectors, state.mask, service.updater.candidate_term(state))[index])


def top(service: PersonaService, user: str, k: int = 10) -> list[str]:
    return [entry["item"] for entry in service.recommend(user, k, explain=False)["items"]]


def test_a_dislike_moves_the_user_away_from_the_item_and_a_top_rating_toward_it(model, tmp_path):
    scores = {}
    for value in (1, 5):
        service = service_with(model, tmp_path, f"rate{value}")
        item = top(service, "12")[0]
        before = score_of(service, "12", item)
        service.post_events("12", [{"item": item, "kind": "rate", "value": value}])
        scores[value] = score_of(service, "12", item) - before
    assert scores[1] < 0 < scores[5]


def test_a_rating_in_the_middle_of_the_scale_moves_nothing(model, tmp_path):
    service = service_with(model, tmp_path, "middle")
    before = service.state("12").vectors.copy()
    service.post_events("12", [{"item": top(service, "12")[0], "kind": "rate", "value": 3}])
    np.testing.assert_allclose(service.state("12").vectors, before)


def test_a_rating_outside_the_scale_is_refused_by_name(model, tmp_path):
    service = service_with(model, tmp_path, "outside")
    with pytest.raises(DataError, match="event 0: field 'value' must be a rating from 1 to 5, got 7"):
        service.post_events("12", [{"item": "3", "kind": "rate", "value": 7}])


def test_rate_events_are_refused_when_the_model_has_no_rating_scale(model, tmp_path):
    service = service_with(model, tmp_path, "noscale", rating_scale=None)  # planted data has no ratings
    with pytest.raises(DataError, match="no ratings"):
        service.post_events("12", [{"item": "3", "kind": "rate", "value": 4}])


def test_one_click_on_the_users_own_first_item_keeps_most_of_their_list(model, tmp_path):
    service = service_with(model, tmp_path, "honest")
    kept = []
    for user in [str(u) for u in range(0, 150, 10)]:
        before = top(service, user)
        service.post_events(user, [{"item": before[0]}])
        kept.append(len(set(before[1:]) & set(top(service, user))) / 9)
    assert np.mean(kept) >= 0.8


def unwatched_cluster_items(model, user: str, service: PersonaService) -> np.ndarray:
    """Items of the planted cluster the user never touched that ranks lowest for them (an unwatched genre)."""
    data = model.fitted_data
    clusters = cluster_of_item(data)
    watched = set(clusters[data.user_history(data.user_index(user))])
    state = service.state(user)
    unwatched = sorted(set(clusters) - watched,
                       key=lambda c: service.updater.fit(state, np.flatnonzero(clusters == c)).mean())
    return np.flatnonzero(clusters == unwatched[0])


def genre_share_after_burst(service: PersonaService, model, user: str, clicks: int) -> float:
    """Share of the user's top-10 in their unwatched cluster after ``clicks`` clicks on half its items
    (the other half stays unseen, so it can be recommended)."""
    data = model.fitted_data
    genre = unwatched_cluster_items(model, user, service)
    for item in np.resize(genre[: len(genre) // 2], clicks):
        service.post_events(user, [{"item": str(data.item_ids[item])}])
    return float(np.isin(service.item_indices(top(service, user)), genre).mean())


def test_a_burst_on_an_unwatched_genre_stays_bounded(model, tmp_path):
    users = ["3", "40", "77", "101"]
    guarded, open_door = [], []
    for user in users:
        guarded.append(genre_share_after_burst(service_with(model, tmp_path, f"g{user}"), model, user, 30))
        control = service_with(model, tmp_path, f"o{user}", novel_below=0.0, prior_events=1e9, cap=False)
        open_door.append(genre_share_after_burst(control, model, user, 30))
    assert np.mean(guarded) <= 0.25
    assert np.mean(open_door) >= np.mean(guarded) + 0.2  # the same burst without routing, evidence or caps


def test_a_candidate_persona_is_established_only_after_it_persists_on_the_server_clock(model, tmp_path):
    clock = ServerClock()
    service = service_with(model, tmp_path, "persist", clock=clock, establish_events=3, establish_sessions=2,
                           establish_seconds=3600.0, session_gap=1800.0)
    data = model.fitted_data
    items = [str(data.item_ids[i]) for i in unwatched_cluster_items(model, "40", service)]
    k = len(service.state("40").vectors)
    late = 4_000_000_000.0  # event timestamps far apart do not count: the attacker writes them
    service.post_events("40", [{"item": items[0], "timestamp": 0.0}, {"item": items[1], "timestamp": late},
                               {"item": items[2]}])
    answer = service.personas("40")
    assert answer["candidate"]["state"] == "candidate" and answer["candidate"]["events"] == 3
    assert len(service.state("40").vectors) == k  # not established: one session, no time passed
    clock.now += 7200.0  # two hours later, a second session
    service.post_events("40", [{"item": items[3]}])
    assert service.personas("40")["candidate"] is None
    assert len(service.state("40").vectors) == k + 1
    assert service.personas("40")["personas"][-1]["state"] == "established"


def test_a_candidates_weight_in_the_score_never_exceeds_its_bound(model, tmp_path):
    service = service_with(model, tmp_path, "weight", candidate_weight=0.1)
    data = model.fitted_data
    for item in unwatched_cluster_items(model, "77", service):
        service.post_events("77", [{"item": str(data.item_ids[item])}])
    _, weight = service.updater.candidate_term(service.state("77"))
    assert 0 < weight <= 0.1


def test_a_replay_after_restart_rebuilds_the_same_candidate(model, tmp_path):
    clock = ServerClock()
    service = service_with(model, tmp_path, "replay", clock=clock)
    data = model.fitted_data
    for item in unwatched_cluster_items(model, "101", service)[:4]:
        service.post_events("101", [{"item": str(data.item_ids[item])}])
        clock.now += 100.0
    with service.store.writer:  # as if the process died after committing events but before their states
        service.store.writer.execute("DELETE FROM personas")
    restarted = PersonaService(model, SQLiteStore(tmp_path / "replay.sqlite"), service.options, clock=clock)
    assert restarted.replayed == 4
    assert restarted.personas("101")["candidate"] == service.personas("101")["candidate"]
    np.testing.assert_allclose(restarted.state("101").vectors, service.state("101").vectors, rtol=1e-6)
