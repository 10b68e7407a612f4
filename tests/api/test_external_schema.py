"""Property-based conformance of the external API to its own OpenAPI document (schemathesis).

Every ``/external/api`` operation is called with generated inputs (schema-valid ones, then
schema-invalid ones) and a valid token, against the real app, database and sandboxes: no answer
may be a 5xx, and every answer (status code, content type, headers, body) must be one the schema
declares. Examples are bounded so the whole file stays well under 90 seconds.

Hypothesis runs inside each test (rather than through schemathesis' pytest plugin) because the
app, its database and the sandboxes are function-scoped fixtures.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from forcebridge.api.external import router

# Bounded for the regular suite; raise it for a deeper run (FORCEBRIDGE_SCHEMA_EXAMPLES=500).
EXAMPLES_PER_MODE = int(os.environ.get("FORCEBRIDGE_SCHEMA_EXAMPLES", "12"))
OPERATIONS = sorted(
    (method, route.path)  # type: ignore[attr-defined]
    for route in router.routes
    for method in route.methods  # type: ignore[attr-defined]
)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_external_operation_answers_as_its_schema_says(app, caller, method, path, mode):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        # Well-formed ids of issues or records that do not exist rightly answer 404 or 422, so
        # "schema-valid input must succeed" does not hold for this API; every other check does.
        case.call_and_validate(headers=caller.headers, excluded_checks=[positive_data_acceptance])

    check()
