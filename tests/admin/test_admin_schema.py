"""Property-based conformance of the admin API (``/api/v1``) to its OpenAPI document.

Every operation of ``forcebridge.admin.api`` is called (by schemathesis) with generated inputs
(schema-valid, then schema-invalid) and an admin's Basic credentials, against the real app,
database and sandboxes: no answer may be a 5xx, and every answer (status, content type, headers,
body) must be one the schema declares.

Random ids only ever reach "not found", so every other schema-valid example of a non-DELETE
operation is sent with the ids of a real connection, binding and entity mapping, which takes the
generated bodies into the services. One test per generation mode (not per operation) keeps the
fixture cost (two sandboxes, a migrated database) to two setups; examples are bounded to stay well
under 90 s.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from builders import create_sandbox_connection
from forcebridge.admin.api import router as admin_router
from forcebridge.mappings.service import list_bindings, list_entity_mappings

EXAMPLES_PER_OPERATION = 6


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_admin_operations_answer_as_their_schema_says(
    app: Any, container: Any, sandbox: Any, admin_headers: dict[str, str], mode: GenerationMode
) -> None:
    connection = create_sandbox_connection(container, sandbox, objects=("Case",))
    with container.session() as session:
        binding = list_bindings(session, connection.id)[0]
        mapping = list_entity_mappings(session, connection.id, binding.id)[0]
        real_ids = {
            "connection_id": connection.id,
            "binding_id": binding.id,
            "mapping_id": mapping.id,
            "field_id": mapping.field_mappings[0].id,
        }
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # This module's router only: other features add their own /api/v1 routes and test them.
    operations = sorted(
        (route.path, method.lower())
        for route in admin_router.routes
        for method in route.methods  # type: ignore[attr-defined]
    )
    assert len(operations) >= 20

    for path, method in operations:
        operation = schema[path][method.upper()]
        declared = app.openapi()["paths"][path][method]["responses"]
        vendor_statuses = {int(status) for status in declared if status in ("502", "503")}
        alternate = itertools.cycle([True, False])

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            # Only schema-valid cases get real ids: a negative case's invalid part may be its id.
            substitute = mode is GenerationMode.POSITIVE and next(alternate)
            if substitute and case.method.upper() != "DELETE" and case.path_parameters:
                for name in case.path_parameters:
                    if name in real_ids:
                        case.path_parameters[name] = real_ids[name]
            response = case.call(headers=admin_headers)
            # Valid input naming absent things rightly answers 404/409/422, so "schema-valid input
            # must succeed" does not hold here. A 502/503 is right when an operation that calls a
            # vendor meets refused credentials (an earlier PATCH may have stored generated ones),
            # so only those operations may answer it, and never a 500.
            case.validate_response(
                response,
                headers=admin_headers,
                excluded_checks=[positive_data_acceptance, not_a_server_error],
            )
            if response.status_code >= 500:
                assert response.status_code in vendor_statuses, (method, path, response.text)

        check()
