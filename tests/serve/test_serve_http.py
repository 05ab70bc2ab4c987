"""The service over HTTP: a real `personae serve` process with an API key, on a real SQLite file."""

from __future__ import annotations

import httpx
import pytest
from conftest import API_KEY


def test_healthz_answers_without_a_key(keyed_server):
    answer = httpx.get(keyed_server.url + "/healthz")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


@pytest.mark.parametrize("header", [None, "Bearer wrong-key-0000000000", f"Basic {API_KEY}"])
def test_other_endpoints_refuse_a_missing_or_wrong_key(keyed_server, header):
    headers = {"Authorization": header} if header else {}
    for path in ("/users/1/recommendations", "/users/1/personas", "/items/1", "/openapi.json"):
        assert httpx.get(keyed_server.url + path, headers=headers).status_code == 401


def test_recommendations_name_items_titles_scores_and_the_persona_behind_each(api):
    answer = api.get("/users/1/recommendations", params={"k": 5, "explain": "true"}).json()
    assert answer["source"] == "trained" and answer["retrieval"] == "exact" and len(answer["items"]) == 5
    first = answer["items"][0]
    assert {"item", "title", "score", "persona", "label", "persona_weights", "supporting_items"} <= set(first)
    assert first["title"].startswith("cluster") and first["supporting_items"][0]["title"]


def test_a_posted_event_changes_the_personas_at_once(api):
    before = api.get("/users/2/personas").json()
    posted = api.post("/users/2/events", json={"item": "7", "kind": "click"})
    assert posted.status_code == 200 and posted.json()["accepted"] == 1
    after = api.get("/users/2/personas").json()
    assert after["source"] == "online" and after["posted_events"] == 1
    assert after["history"][-1]["item"] == "7"
    assert [p["weight"] for p in after["personas"]] != [p["weight"] for p in before["personas"]]


def test_events_are_listed_newest_first(api):
    api.post("/users/3/events", json=[{"item": "1", "timestamp": 10}, {"item": "2"}])
    events = api.get("/users/3/events", params={"limit": 5}).json()["events"]
    assert [e["item"] for e in events] == ["2", "1"] and events[1]["timestamp"] == 10
    assert events[0]["title"] == "cluster0 item2"  # the page shows titles, not ids


def test_an_unknown_user_gets_popularity_until_their_first_event(api):
    assert api.get("/users/nobody-yet/recommendations").json()["source"] == "popularity"
    api.post("/users/newcomer/events", json={"item": "30"})
    assert api.get("/users/newcomer/recommendations").json()["source"] == "fold-in"


def test_an_unknown_item_in_an_event_gets_422_with_the_reason(api):
    answer = api.post("/users/1/events", json=[{"item": "1"}, {"item": "no-such-item"}])
    assert answer.status_code == 422 and "unknown item id 'no-such-item'" in answer.json()["detail"]
    assert api.get("/items/no-such-item").status_code == 404


def test_items_have_titles_genres_and_popularity(api):
    item = api.get("/items/1").json()
    assert item["title"] == "cluster0 item1" and item["genres"] == ["cluster0"] and item["popularity"] > 0


@pytest.mark.parametrize("request_args, status", [
    (("GET", "/users/1/recommendations", {"params": {"k": 1001}}), 422),
    (("GET", "/users/1/recommendations", {"params": {"k": 0}}), 422),
    (("GET", "/users/1/events", {"params": {"limit": 5000}}), 422),
    (("POST", "/users/1/events", {"json": [{"item": "1"}] * 1001}), 422),
    (("POST", "/users/1/events", {"json": []}), 422),
    (("POST", "/users/1/events", {"content": b"[" + b'{"item": "1"},' * 30000 + b'{"item": "1"}]'}), 413),
    (("POST", "/users/1/events", {"json": {"item": "1", "kind": "purchase"}}), 422),
    (("POST", "/users/1/events", {"content": b"{not json"}), 422),
])
def test_limits_and_bad_input_get_a_4xx_without_a_stack_trace(api, request_args, status):
    method, path, kwargs = request_args
    answer = api.request(method, path, **kwargs)
    assert answer.status_code == status
    assert "Traceback" not in answer.text and 'File "' not in answer.text


def test_refuses_to_listen_beyond_loopback_without_a_key(served_model_dir, tmp_path, capsys):
    from personae.cli import main

    status = main(["serve", str(served_model_dir), "--host", "0.0.0.0", "--db", str(tmp_path / "s.sqlite")])
    assert status != 0 and not (tmp_path / "s.sqlite").exists()
    expected = ("personae: error: --host 0.0.0.0: refusing to listen on a non-loopback address without "
                "--api-key-file (use 127.0.0.1, or give a key)")
    assert capsys.readouterr().err.strip().splitlines() == [expected]


@pytest.mark.parametrize("body", [
    b'{"item": "1", "timestamp": NaN}', b'{"item": "1", "timestamp": Infinity}', b'{"item": "1", "timestamp": 1e400}',
    b'{"item": NaN}', b'[{"item": "1"}, {"item": "2", "timestamp": -Infinity}]', b'{"item": "1", "extra": NaN}',
])
def test_a_non_finite_number_anywhere_gets_422_that_echoes_no_non_finite_value(api, body):
    answer = api.post("/users/1/events", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    assert not any(word in answer.text for word in ("NaN", "Infinity", "inf"))


@pytest.mark.parametrize("event", [
    {"item": True}, {"item": 1.5}, {"item": "1", "timestamp": "10"}, {"item": "1", "timestamp": True},
    {"item": "1", "timestamp": -1}, {"item": "1", "timestamp": 1e300}, {"item": "1", "kind": "rate", "value": 4},
    {"item": "1", "value": 3},
])
def test_event_fields_are_strictly_typed_and_bounded(api, event):
    answer = api.post("/users/1/events", json=event)
    assert answer.status_code == 422, answer.text


def test_a_chunked_body_over_the_limit_gets_413(api):
    def chunks():
        yield b"["
        for _ in range(30000):
            yield b'{"item": "1"},'
        yield b'{"item": "1"}]'

    answer = api.post("/users/1/events", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and "request body over" in answer.json()["detail"]


def test_a_chunked_body_under_the_limit_is_accepted(api):
    answer = api.post("/users/1/events", content=iter([b'[{"item": "1"},', b'{"item": "2"}]']),
                      headers={"Content-Type": "application/json"})
    assert answer.status_code == 200 and answer.json()["accepted"] == 2


def test_the_openapi_spec_declares_the_bearer_scheme_and_the_statuses_it_returns(api):
    spec = api.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "the key in --api-key-file"}
    post = spec["paths"]["/users/{user_id}/events"]["post"]
    assert post["security"] == [{"bearer": []}]
    assert {"200", "401", "413", "422"} <= set(post["responses"])
    assert "404" in spec["paths"]["/items/{item_id}"]["get"]["responses"]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_the_openapi_spec_lists_every_endpoint(api):
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/users/{user_id}/recommendations", "/users/{user_id}/personas",
            "/users/{user_id}/events", "/items/{item_id}"} <= set(paths)
    assert set(paths["/users/{user_id}/events"]) == {"get", "post"}
