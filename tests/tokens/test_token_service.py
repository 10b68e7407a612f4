"""API access tokens: issue, list, revoke, authenticate, through the service and the admin API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from builders import connection_payload
from forcebridge.connections.schemas import ConnectionCreate
from forcebridge.connections.service import create_connection, delete_connection
from forcebridge.errors import NotFound, Unauthenticated, ValidationFailed
from forcebridge.models import ApiToken, Connection
from forcebridge.tokens.service import (
    authenticate,
    create_token,
    list_tokens,
    parse_lifespan,
    revoke_all_tokens,
    revoke_token,
)


class FrozenClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock(container: Any) -> FrozenClock:
    # Set before the first use of container.token_issuer, which keeps the clock it is built with.
    frozen = FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    container.clock = frozen
    return frozen


def _connection(container: Any, sandbox: Any, name: str = "Sandbox") -> Connection:
    return create_connection(
        container, ConnectionCreate.model_validate(connection_payload(sandbox, name=name))
    )


def _header(token: str) -> str:
    return f"JWT {token}"


def test_created_token_authenticates_for_its_connection(
    container: Any, sandbox: Any, clock: FrozenClock
) -> None:
    connection = _connection(container, sandbox)
    row, token = create_token(container, connection.id, timedelta(hours=1), "ci")

    authenticated = authenticate(container, _header(token))

    assert authenticated.connection_id == connection.id
    assert authenticated.token_id == row.id
    assert row.last_four == token[-4:]
    assert row.expires_at == clock.now + timedelta(hours=1)


def test_only_hash_jti_and_last_four_are_stored(
    container: Any, sandbox: Any, clock: FrozenClock
) -> None:
    connection = _connection(container, sandbox)
    _, token = create_token(container, connection.id, timedelta(days=7), None)

    with container.session() as session:
        stored = session.query(ApiToken).one()
        values = [str(getattr(stored, column.name)) for column in ApiToken.__table__.columns]
    assert token not in " ".join(values)
    assert stored.token_hash != token


def test_bearer_scheme_is_accepted_too(container: Any, sandbox: Any, clock: FrozenClock) -> None:
    connection = _connection(container, sandbox)
    _, token = create_token(container, connection.id, timedelta(hours=1), None)

    assert authenticate(container, f"Bearer {token}").connection_id == connection.id


def test_list_shows_the_connections_tokens_newest_first(
    container: Any, sandbox: Any, clock: FrozenClock
) -> None:
    connection = _connection(container, sandbox)
    other = _connection(container, sandbox, name="Other")
    first, _ = create_token(container, connection.id, timedelta(hours=1), "first")
    clock.advance(timedelta(minutes=5))
    second, _ = create_token(container, connection.id, timedelta(hours=1), "second")
    create_token(container, other.id, timedelta(hours=1), "other's")

    with container.session() as session:
        names = [row.name for row in list_tokens(session, connection.id)]

    assert names == ["second", "first"]


def test_revoked_token_is_refused_on_the_next_request(
    container: Any, sandbox: Any, clock: FrozenClock
) -> None:
    connection = _connection(container, sandbox)
    row, token = create_token(container, connection.id, timedelta(hours=1), None)
    authenticate(container, _header(token))

    with container.session() as session:
        revoke_token(session, connection.id, row.id, now=clock.now)

    with pytest.raises(Unauthenticated):
        authenticate(container, _header(token))


def test_revoke_all_revokes_only_that_connections_unrevoked_tokens(
    container: Any, sandbox: Any, clock: FrozenClock
) -> None:
    connection = _connection(container, sandbox)
    other = _connection(container, sandbox, name="Other")
    tokens = [create_token(container, connection.id, timedelta(hours=1), None)[1] for _ in range(3)]
    _, other_token = create_token(container, other.id, timedelta(hours=1), None)

    with container.session() as session:
        assert revoke_all_tokens(session, connection.id, now=clock.now) == 3
    with container.session() as session:
        assert revoke_all_tokens(session, connection.id, now=clock.now) == 0

    for token in tokens:
        with pytest.raises(Unauthenticated):
            authenticate(container, _header(token))
    assert authenticate(container, _header(other_token)).connection_id == other.id


def test_another_connections_token_id_is_not_found(
    container: Any, sandbox: Any, clock: FrozenClock
) -> None:
    connection = _connection(container, sandbox)
    other = _connection(container, sandbox, name="Other")
    other_row, other_token = create_token(container, other.id, timedelta(hours=1), None)

    with container.session() as session, pytest.raises(NotFound):
        revoke_token(session, connection.id, other_row.id)

    assert authenticate(container, _header(other_token)).connection_id == other.id


def test_token_of_a_deleted_connection_is_refused(
    container: Any, sandbox: Any, clock: FrozenClock
) -> None:
    connection = _connection(container, sandbox)
    _, token = create_token(container, connection.id, timedelta(hours=1), None)

    delete_connection(container, connection.id)

    with pytest.raises(Unauthenticated):
        authenticate(container, _header(token))


def test_expired_token_is_refused(container: Any, sandbox: Any, clock: FrozenClock) -> None:
    connection = _connection(container, sandbox)
    _, token = create_token(container, connection.id, timedelta(minutes=15), None)

    clock.advance(timedelta(minutes=16))

    with pytest.raises(Unauthenticated):
        authenticate(container, _header(token))


def test_every_failure_has_the_same_message(
    container: Any, sandbox: Any, clock: FrozenClock
) -> None:
    connection = _connection(container, sandbox)
    row, token = create_token(container, connection.id, timedelta(hours=1), None)
    with container.session() as session:
        revoke_token(session, connection.id, row.id)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    messages = set()
    for header in (
        None,
        "",
        "JWT",
        f"Basic {token}",
        _header(tampered),
        _header(token),
        "JWT a.b.c",
    ):
        with pytest.raises(Unauthenticated) as caught:
            authenticate(container, header)
        messages.add(caught.value.message)

    assert len(messages) == 1


def test_last_used_at_is_written_at_most_once_a_minute(
    container: Any, sandbox: Any, clock: FrozenClock
) -> None:
    connection = _connection(container, sandbox)
    row, token = create_token(container, connection.id, timedelta(hours=1), None)
    first_use = clock.now

    def last_used() -> datetime | None:
        with container.session() as session:
            return session.get(ApiToken, row.id).last_used_at

    assert last_used() is None
    authenticate(container, _header(token))
    assert last_used() == first_use
    clock.advance(timedelta(seconds=30))
    authenticate(container, _header(token))
    assert last_used() == first_use
    clock.advance(timedelta(seconds=31))
    authenticate(container, _header(token))
    assert last_used() == clock.now


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("7d", timedelta(days=7)),
        ("365D", timedelta(days=365)),
    ],
)
def test_parse_lifespan_reads_minutes_hours_and_days(text: str, expected: timedelta) -> None:
    assert parse_lifespan(text) == expected


@pytest.mark.parametrize("text", ["", "15", "1w", "-1d", "1.5h", "d7"])
def test_parse_lifespan_refuses_other_shapes(text: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_lifespan(text)


# -- through the admin API -------------------------------------------------------------------------


def _api_connection(api: TestClient, sandbox: Any) -> str:
    response = api.post("/api/v1/connections", json=connection_payload(sandbox))
    assert response.status_code == 201, response.text
    connection_id: str = response.json()["data"]["id"]
    return connection_id


@pytest.mark.parametrize(
    "body", [{"lifespan": "15m"}, {"lifespan": "365d"}, {"lifespan_minutes": 15}]
)
def test_api_accepts_the_lifespan_bounds(
    api: TestClient, sandbox: Any, body: dict[str, Any]
) -> None:
    connection_id = _api_connection(api, sandbox)

    response = api.post(f"/api/v1/connections/{connection_id}/tokens", json=body)

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "body", [{"lifespan": "14m"}, {"lifespan": "366d"}, {"lifespan_minutes": 14}]
)
def test_api_refuses_lifespans_outside_the_bounds_naming_them(
    api: TestClient, sandbox: Any, body: dict[str, Any]
) -> None:
    connection_id = _api_connection(api, sandbox)

    response = api.post(f"/api/v1/connections/{connection_id}/tokens", json=body)

    assert response.status_code == 422
    assert "15 minutes and 365 days" in response.json()["message"]


def test_api_shows_the_token_once_with_an_example_call(api: TestClient, sandbox: Any) -> None:
    connection_id = _api_connection(api, sandbox)

    created = api.post(
        f"/api/v1/connections/{connection_id}/tokens", json={"lifespan": "1h", "name": "script"}
    )
    listed = api.get(f"/api/v1/connections/{connection_id}/tokens")

    data = created.json()["data"]
    assert created.status_code == 201
    assert data["name"] == "script"
    assert data["status"] == "active"
    assert f"Authorization: JWT {data['token']}" in data["example"]
    assert listed.json()["data"][0]["last_four"] == data["token"][-4:]
    assert data["token"] not in listed.text


def test_api_revokes_one_and_all(api: TestClient, sandbox: Any) -> None:
    connection_id = _api_connection(api, sandbox)
    base = f"/api/v1/connections/{connection_id}/tokens"
    first = api.post(base, json={"lifespan": "1h"}).json()["data"]
    api.post(base, json={"lifespan": "1h"})

    revoked = api.delete(f"{base}/{first['id']}")
    revoked_all = api.delete(base)

    assert revoked.status_code == 200
    assert revoked.json()["data"]["status"] == "revoked"
    assert revoked_all.json()["data"] == {"revoked": 1}
    assert {token["status"] for token in api.get(base).json()["data"]} == {"revoked"}


def test_api_needs_exactly_one_lifespan(api: TestClient, sandbox: Any) -> None:
    connection_id = _api_connection(api, sandbox)
    base = f"/api/v1/connections/{connection_id}/tokens"

    assert api.post(base, json={}).status_code == 422
    assert api.post(base, json={"lifespan": "1h", "lifespan_minutes": 60}).status_code == 422
