"""Kill -9 the server while clients post events, restart it on the same SQLite file: nothing acknowledged is lost."""

from __future__ import annotations

import threading
import time

import httpx
import pytest


@pytest.mark.slow
def test_every_acknowledged_event_survives_kill_9_and_is_in_the_personas(served_model_dir, start_server, tmp_path):
    db = tmp_path / "crash.sqlite"
    server = start_server(served_model_dir, db)
    users = ["1", "2", "crash-newcomer"]
    acknowledged: dict[str, list[tuple[int, str]]] = {u: [] for u in users}
    stop = threading.Event()

    def client(user: str, seed: int) -> None:
        with httpx.Client(base_url=server.url, timeout=5.0) as http:
            n = seed
            while not stop.is_set():
                item = str(n % 90)
                n += 7
                try:
                    answer = http.post(f"/users/{user}/events", json={"item": item})
                except httpx.HTTPError:
                    return  # the server died mid-request: that event was never acknowledged
                if answer.status_code == 200:
                    acknowledged[user].append((answer.json()["event_ids"][0], item))

    threads = [threading.Thread(target=client, args=(u, s)) for s, u in enumerate(users)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while sum(map(len, acknowledged.values())) < 15 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill9()  # while the clients are still posting
    stop.set()
    for thread in threads:
        thread.join()
    assert sum(map(len, acknowledged.values())) >= 15

    restarted = start_server(served_model_dir, db)
    with httpx.Client(base_url=restarted.url, timeout=10.0) as http:
        for user, acked in acknowledged.items():
            stored = {e["id"]: e["item"] for e in http.get(f"/users/{user}/events", params={"limit": 1000}).json()["events"]}
            assert all(stored.get(event_id) == item for event_id, item in acked)
            personas = http.get(f"/users/{user}/personas").json()
            assert personas["posted_events"] == len(stored)  # every stored event is folded into the state
            assert personas["last_event"] == max(stored)
            history = [h["item"] for h in personas["history"]]
            assert history[len(history) - len(stored):] == [stored[i] for i in sorted(stored)]
    restarted.stop()
