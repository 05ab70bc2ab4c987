"""The PostgreSQL store on a real PostgreSQL server (started by these tests), and two replicas on one database:
users routed by a hash of their id, kill -9 of one replica mid-load, the other takes its users over."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest

from personae.models.persistence import load_model
from personae.serve.local_postgres import PostgresServer
from personae.serve.online import UpdateOptions
from personae.serve.postgres_store import PostgresStore
from personae.serve.replicas import replica_for
from personae.serve.service import PersonaService, ServeOptions
from personae.serve.store import Event, StaleStateError, StoredState

FAST = ServeOptions(update=UpdateOptions(calibration_users=50))


@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def model(served_model_dir):
    return load_model(served_model_dir)


def test_a_restart_on_postgres_restores_every_state(model, postgres):
    url = postgres.new_database("restart")
    service = PersonaService(model, PostgresStore(url), FAST)
    service.post_events("5", [{"item": "3"}, {"item": "4"}])
    service.post_events("stranger", [{"item": "1"}])
    again = PersonaService(model, PostgresStore(url), FAST)
    assert again.replayed == 0
    for user in ("5", "stranger"):
        np.testing.assert_allclose(again.state(user).vectors, service.state(user).vectors, rtol=1e-6)
    assert [e["item"] for e in again.events("5")["events"]] == ["4", "3"]


def test_a_post_is_one_transaction_on_postgres(model, postgres):
    url = postgres.new_database("atomic")
    store = PostgresStore(url)
    state = StoredState("u", np.zeros((2, 3), np.float32), np.ones(2, bool), "fold-in", 0)
    import psycopg

    with pytest.raises(psycopg.errors.NotNullViolation):  # the second event has no item: the insert fails
        store.append("u", [Event("1", 1.0, "click"), Event(None, 2.0, "click")], state)  # type: ignore[arg-type]
    assert store.events("u") == [] and store.states() == []


def test_an_append_computed_from_an_old_state_is_refused(model, postgres):
    url = postgres.new_database("stale")
    first, second = PostgresStore(url), PostgresStore(url)
    state = StoredState("u", np.zeros((2, 3), np.float32), np.ones(2, bool), "fold-in", 0)
    first.append("u", [Event("1", 1.0, "click")], state, base=0)
    with pytest.raises(StaleStateError):
        second.append("u", [Event("2", 2.0, "click")], state, base=0)  # it never saw event 1
    assert len(first.events("u")) == 1


def test_a_replica_catches_up_on_events_another_replica_stored(model, postgres):
    url = postgres.new_database("catchup")
    a, b = PersonaService(model, PostgresStore(url), FAST), PersonaService(model, PostgresStore(url), FAST)
    b.recommend("7", 5)  # b has read user 7 before a writes
    a.post_events("7", [{"item": "2"}])
    a.post_events("7", [{"item": "5"}])
    assert b.personas("7")["posted_events"] == 2
    np.testing.assert_allclose(b.state("7").vectors, a.state("7").vectors, rtol=1e-6)
    b.post_events("7", [{"item": "9"}])  # b continues from a's state, in order
    assert [e["item"] for e in b.events("7")["events"]] == ["9", "5", "2"]


def test_users_are_routed_by_a_hash_and_only_a_dead_replicas_users_move():
    users = [str(u) for u in range(200)]
    both = {u: replica_for(u, ["a", "b"]) for u in users}
    assert 60 < sum(r == "a" for r in both.values()) < 140  # about half each
    alone = {u: replica_for(u, ["b"]) for u in users}
    assert all(alone[u] == "b" for u in users)
    assert all(replica_for(u, ["a", "b", "c"]) in ("a", "b", "c") for u in users)
    assert {u for u in users if replica_for(u, ["a", "b", "c"]) != both[u]} <= \
        {u for u in users if replica_for(u, ["a", "b", "c"]) == "c"}  # adding c moves users only to c


@pytest.mark.slow
def test_two_replicas_keep_every_acknowledged_event_across_kill_9(served_model_dir, model, postgres, start_server,
                                                                   tmp_path):
    url = postgres.new_database("replicas")
    replicas = {name: start_server(served_model_dir, url, log=tmp_path / f"{name}.log") for name in ("a", "b")}
    alive = ["a", "b"]
    users = [f"user{n}" for n in range(8)] + ["1", "2"]
    acknowledged: dict[str, list[tuple[int, str]]] = {u: [] for u in users}
    stop = threading.Event()

    def client(user: str, seed: int) -> None:
        n = seed
        while not stop.is_set():
            server = replicas[replica_for(user, list(alive))]
            item = str(n % 90)
            try:
                answer = httpx.post(f"{server.url}/users/{user}/events", json={"item": item}, timeout=5.0)
            except httpx.HTTPError:
                time.sleep(0.05)  # that replica died mid-request: never acknowledged; route again
                continue
            if answer.status_code == 200:
                acknowledged[user].append((answer.json()["event_ids"][0], item))
                n += 7

    threads = [threading.Thread(target=client, args=(u, s)) for s, u in enumerate(users)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while sum(map(len, acknowledged.values())) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    moved = [u for u in users if replica_for(u, ["a", "b"]) == "a"]
    alive.remove("a")  # clients route a's users to b from now on ...
    replicas["a"].kill9()  # ... and a dies mid-load
    before = sum(map(len, acknowledged.values()))
    while sum(map(len, acknowledged.values())) < before + 40 and time.monotonic() < deadline + 30:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    assert moved and sum(len(acknowledged[u]) for u in moved) > 0

    survivor = replicas["b"]
    fresh = PersonaService(model, PostgresStore(url))  # a replay from the database alone
    with httpx.Client(base_url=survivor.url, timeout=10.0) as http:
        for user, acked in acknowledged.items():
            stored = {e["id"]: e["item"] for e in http.get(f"/users/{user}/events", params={"limit": 1000}).json()["events"]}
            assert all(stored.get(event_id) == item for event_id, item in acked)  # nothing acknowledged is lost
            assert [i for i, _ in acked] == sorted(i for i, _ in acked)  # a user's events stay ordered
            personas = http.get(f"/users/{user}/personas").json()
            assert personas["posted_events"] == len(stored)
            answer = http.get(f"/users/{user}/recommendations", params={"k": 10, "explain": "false"}).json()
            replayed = fresh.recommend(user, 10, explain=False)
            assert [i["item"] for i in answer["items"]] == [i["item"] for i in replayed["items"]]
            np.testing.assert_allclose([i["score"] for i in answer["items"]], [i["score"] for i in replayed["items"]],
                                       rtol=1e-5)
