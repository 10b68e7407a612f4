"""Builders for association tests, on top of the shared ``tests/builders.py``.

``create_associable_connection`` is the shared ``create_sandbox_connection`` (bindings and entity
mappings made through the services) plus, optionally, objects mapped for one issue type only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from builders import create_sandbox_connection
from forcebridge.connections.clients import clients_for
from forcebridge.container import Container
from forcebridge.mappings.schemas import EntityMappingCreate
from forcebridge.mappings.service import create_entity_mapping, list_bindings
from forcebridge.models import Connection
from forcebridge.salesforce.soql import format_soql
from forcebridge.tokens.service import create_token


def create_associable_connection(
    container: Container,
    sandbox: Any,
    *,
    name: str = "Connection A",
    bind_projects: Iterable[str] = ("TEST",),
    objects: Iterable[str] = ("Case", "Opportunity", "Account"),
    objects_by_issue_type: Mapping[str, Iterable[str]] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Connection:
    """A connection to both sandboxes: ``objects`` mapped for every issue type of each bound
    project, and ``objects_by_issue_type`` (issue type id → objects) for one type only."""
    connection = create_sandbox_connection(
        container,
        sandbox,
        name=name,
        bind_projects=tuple(bind_projects),
        objects=tuple(objects),
        settings=settings,
    )
    if objects_by_issue_type:
        with container.session() as session:
            binding_ids = [binding.id for binding in list_bindings(session, connection.id)]
        for binding_id in binding_ids:
            for issue_type_id, typed_objects in objects_by_issue_type.items():
                for salesforce_object in typed_objects:
                    create_entity_mapping(
                        container,
                        connection.id,
                        binding_id,
                        EntityMappingCreate(
                            jira_issue_type_id=issue_type_id, salesforce_object=salesforce_object
                        ),
                    )
    return connection


def issue_token(
    container: Container, connection_id: str, lifespan: timedelta = timedelta(days=1)
) -> str:
    _, token = create_token(container, connection_id, lifespan, "test")
    return token


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"JWT {token}"}


def record_ids(container: Container, connection: Connection, sobject: str) -> list[str]:
    """The 18-character ids of the sandbox's records of ``sobject``, sorted."""
    soql = format_soql("SELECT Id FROM {:identifier}", sobject)
    with clients_for(container, connection) as clients:
        return sorted(row["Id"] for row in clients.salesforce.query(soql))


def create_cases(container: Container, connection: Connection, count: int) -> list[str]:
    with clients_for(container, connection) as clients:
        return [
            clients.salesforce.create_record(
                "Case", {"Subject": f"Generated case {index}", "Origin": "Web"}
            )
            for index in range(count)
        ]


def jira_issue(container: Container, connection: Connection, key: str) -> dict[str, Any]:
    with clients_for(container, connection) as clients:
        return clients.jira.get_issue(key, fields=["project", "issuetype"])
