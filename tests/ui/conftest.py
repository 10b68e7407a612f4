"""Fixtures of the admin UI tests: a TestClient signed in through the sign-in form."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from builders import create_admin
from forcebridge.container import Container
from ui.forms import sign_in


@pytest.fixture
def admin_client(client: TestClient, container: Container) -> TestClient:
    create_admin(container)
    response = sign_in(client)
    assert response.status_code == 303, response.text
    return client
