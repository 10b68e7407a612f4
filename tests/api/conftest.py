"""Fixtures of the external API tests: connection A (bound to TEST; Case, Opportunity and Account
mapped) with a token, and helpers to reach the sandbox's records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from associations.builders import (
    auth_headers,
    create_associable_connection,
    issue_token,
    jira_issue,
    record_ids,
)
from forcebridge.models import Connection


@dataclass
class Caller:
    """A connection as seen from the external API: its row, token and headers."""

    connection: Connection
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return auth_headers(self.token)


@pytest.fixture
def caller(container: Any, sandbox: Any) -> Caller:
    connection = create_associable_connection(container, sandbox)
    return Caller(connection, issue_token(container, connection.id))


@pytest.fixture
def case_ids(container: Any, caller: Caller) -> list[str]:
    return record_ids(container, caller.connection, "Case")


@pytest.fixture
def account_ids(container: Any, caller: Caller) -> list[str]:
    return record_ids(container, caller.connection, "Account")


@pytest.fixture
def test5(container: Any, caller: Caller) -> dict[str, Any]:
    """The seed script's issue, as Jira has it (numeric id, key, project)."""
    return jira_issue(container, caller.connection, "TEST-5")
