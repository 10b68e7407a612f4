"""Fixtures for the Salesforce emulator's tests: an in-memory sandbox and a client logged
into it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forcebridge.sandbox.salesforce import SalesforceSandbox

API = "/services/data/v59.0"


@pytest.fixture
def sandbox() -> Iterator[SalesforceSandbox]:
    emulator = SalesforceSandbox(outbound_retry_delays=(0.0, 0.0))
    yield emulator
    emulator.close()


@pytest.fixture
def anonymous(sandbox: SalesforceSandbox) -> Iterator[TestClient]:
    with TestClient(sandbox.app) as client:
        yield client


@pytest.fixture
def client(sandbox: SalesforceSandbox) -> Iterator[TestClient]:
    """A client sending the integration user's access token, as a connector would."""
    with TestClient(
        sandbox.app, headers={"Authorization": f"Bearer {sandbox.credentials['access_token']}"}
    ) as logged_in:
        yield logged_in


def create(client: TestClient, sobject: str, **fields: Any) -> str:
    response = client.post(f"{API}/sobjects/{sobject}/", json=fields)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def query(client: TestClient, soql: str, **headers: str) -> dict[str, Any]:
    response = client.get(f"{API}/query", params={"q": soql}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())
