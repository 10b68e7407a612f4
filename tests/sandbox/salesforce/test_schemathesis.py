"""Property-based fuzzing of the emulator's own OpenAPI document: no input yields a 500.

Bounded (a few examples per operation) so the whole module stays well under a minute.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from forcebridge.sandbox.salesforce import SalesforceSandbox

# Built at import: schemathesis reads the schema while collecting the tests.
SANDBOX = SalesforceSandbox()
AUTHORIZATION = {"Authorization": f"Bearer {SANDBOX.credentials['access_token']}"}
schema = schemathesis.openapi.from_asgi("/openapi.json", SANDBOX.app).include(
    path_regex="^/services/"
)


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_vendor_routes_never_answer_500(case: schemathesis.Case) -> None:
    response = case.call(headers=AUTHORIZATION)

    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )
