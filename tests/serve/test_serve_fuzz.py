"""Property-based fuzz of the OpenAPI spec (schemathesis): valid and invalid requests to every endpoint of a
real server; none may get a 5xx or a stack trace. Bounded to a few dozen cases per operation."""

from __future__ import annotations

import pytest
from conftest import API_KEY
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

CASES_PER_OPERATION = 10


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

                try:
                    check()
                except Unsatisfiable:  # an operation with no input (e.g. /healthz) has no invalid form
                    assert mode == GenerationMode.NEGATIVE
    assert 200 in seen_statuses and 422 in seen_statuses  # the fuzz reached both valid and refused requests
