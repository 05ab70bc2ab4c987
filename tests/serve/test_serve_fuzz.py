"""Property-based fuzz of the OpenAPI spec (schemathesis): valid and invalid requests to every endpoint of a
real server; none may get a 5xx or a stack trace. Bounded to a few dozen cases per operation. JSON Schema
cannot express NaN or Infinity, so every generated body is also sent with one of its values replaced by a
non-finite number (``NaN``, ``Infinity``, ``-Infinity``, ``1e400``)."""

from __future__ import annotations

import json
import random

import pytest
from conftest import API_KEY
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

CASES_PER_OPERATION = 10
NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e400")
MARK = "__non_finite__"


def with_non_finite(body, rng: random.Random) -> bytes:
    """``body`` as JSON text with one value (or the whole body) replaced by a non-finite number."""
    def replace(value):
        if isinstance(value, dict) and value and rng.random() < 0.8:
            key = rng.choice(sorted(value))
            return {**value, key: replace(value[key])}
        if isinstance(value, list) and value and rng.random() < 0.8:
            index = rng.randrange(len(value))
            return [*value[:index], replace(value[index]), *value[index + 1:]]
        return MARK

    return json.dumps(replace(body)).replace(f'"{MARK}"', rng.choice(NON_FINITE)).encode()


@pytest.mark.slow
def test_no_request_generated_from_the_openapi_spec_gets_a_5xx(keyed_server):
    import requests
    import schemathesis
    from schemathesis.generation import GenerationMode

    auth = {"Authorization": f"Bearer {API_KEY}"}
    schema = schemathesis.openapi.from_url(keyed_server.url + "/openapi.json", headers=auth)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    seen_statuses: set[int] = set()
    rng = random.Random(0)
    with requests.Session() as session:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                @settings(max_examples=CASES_PER_OPERATION, deadline=None, database=None,
                          suppress_health_check=list(HealthCheck))
                @given(case=operation.as_strategy(generation_mode=mode))
                def check(case) -> None:
                    response = case.call(base_url=keyed_server.url, session=session, headers=auth, timeout=30)
                    seen_statuses.add(response.status_code)
                    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
                    assert "Traceback" not in response.text
                    if case.method.upper() == "POST" and case.body is not None:
                        body = with_non_finite(case.body, rng)
                        url = keyed_server.url + case.formatted_path
                        sent = session.post(url, data=body, headers={**auth, "Content-Type": "application/json"},
                                            timeout=30)
                        assert sent.status_code == 422, (body, sent.text)
                        # A word the generated body already held as a string (an item named "NaN") may be echoed.
                        words = [w for w in ("NaN", "Infinity", "inf") if w not in repr(case.body)]
                        assert not any(word in sent.text for word in words), sent.text

                try:
                    check()
                except Unsatisfiable:  # an operation with no input (e.g. /healthz) has no invalid form
                    assert mode == GenerationMode.NEGATIVE
    assert 200 in seen_statuses and 422 in seen_statuses  # the fuzz reached both valid and refused requests
