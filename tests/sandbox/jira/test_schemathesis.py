"""Fuzzing the emulator's own OpenAPI with schemathesis: whatever a client sends, never a 500.

Operator routes are left out (fault injection would answer 5xx on purpose); webhook deliveries
go to an in-memory receiver so registrations with generated URLs never leave the process.
The sandbox is built at import because schemathesis needs the schema when collecting tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from forcebridge.sandbox.jira import JiraSandbox

from .conftest import basic_auth

FUZZED = JiraSandbox(
    webhook_transport=httpx2.MockTransport(lambda request: httpx2.Response(200)),
    webhook_retry_delays=(),
)
# A few examples per operation keep the run under a minute; raise it for a deeper local hunt.
EXAMPLES_PER_OPERATION = int(os.environ.get("FORCEBRIDGE_FUZZ_EXAMPLES", "4"))
schema = schemathesis.openapi.from_asgi("/openapi.json", FUZZED.app).exclude(
    path_regex="^/__sandbox"
)


@pytest.fixture(scope="module", autouse=True)
def close_fuzzed_sandbox() -> Iterator[None]:
    yield
    FUZZED.close()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call(headers=basic_auth(FUZZED))
    case.validate_response(response, checks=[not_a_server_error])
