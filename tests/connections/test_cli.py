"""The ``connection``, ``token``, ``keys`` and ``admin`` commands, run through Typer's CliRunner.

Commands take the test's container as the Typer context object, so their outbound calls reach the
in-process sandboxes; ``keys`` tests build containers from settings as the real CLI does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from builders import connection_payload
from forcebridge.connections.cli import register
from forcebridge.container import build_container
from forcebridge.models import AdminUser, Connection, InstallationSecret
from forcebridge.security.secrets import SecretBox, generate_key, read_key_file, write_key_file
from forcebridge.tokens.service import authenticate


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _invoke(runner: CliRunner, cli: typer.Typer, container: Any, *args: str) -> Any:
    return runner.invoke(cli, list(args), obj=container, catch_exceptions=False)


def _json(result: Any) -> Any:
    """The command's JSON: its last stdout line (unconfigured structlog also prints to stdout)."""
    return json.loads(result.stdout.strip().splitlines()[-1])


def _add(
    runner: CliRunner, cli: typer.Typer, container: Any, tmp_path: Path, payload: dict[str, Any]
) -> dict[str, Any]:
    file = tmp_path / f"{payload['name']}.json"
    file.write_text(json.dumps(payload))
    result = _invoke(runner, cli, container, "connection", "add", "--file", str(file), "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = _json(result)
    return data


def test_connection_add_from_a_json_file_then_list_json(
    runner: CliRunner, cli: typer.Typer, container: Any, sandbox: Any, tmp_path: Path
) -> None:
    created = _add(runner, cli, container, tmp_path, connection_payload(sandbox))

    listed = _invoke(runner, cli, container, "connection", "list", "--json")

    assert listed.exit_code == 0
    assert [item["id"] for item in _json(listed)] == [created["id"]]
    assert sandbox.jira.credentials["api_token"] not in listed.stdout + json.dumps(created)


def test_connection_list_prints_a_table_without_json(
    runner: CliRunner, cli: typer.Typer, container: Any, sandbox: Any, tmp_path: Path
) -> None:
    _add(runner, cli, container, tmp_path, connection_payload(sandbox, name="Tabled"))

    result = _invoke(runner, cli, container, "connection", "list")

    assert "Connections" in result.stdout
    assert "Tabled" in result.stdout
    assert "never" in result.stdout  # not tested yet


def test_connection_add_reports_invalid_fields_with_exit_code_2(
    runner: CliRunner, cli: typer.Typer, container: Any, sandbox: Any, tmp_path: Path
) -> None:
    payload = connection_payload(sandbox)
    payload["jira"]["url"] = "http://localhost"
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(payload))

    result = _invoke(runner, cli, container, "connection", "add", "--file", str(file))

    assert result.exit_code == 2
    assert "jira.url" in result.stderr


def test_connection_test_by_name_succeeds_and_fails_with_exit_8(
    runner: CliRunner, cli: typer.Typer, container: Any, sandbox: Any, tmp_path: Path
) -> None:
    _add(runner, cli, container, tmp_path, connection_payload(sandbox, name="Good"))
    _add(
        runner,
        cli,
        container,
        tmp_path,
        connection_payload(sandbox, name="Bad", jira_api_token="nope"),
    )

    good = _invoke(runner, cli, container, "connection", "test", "Good", "--json")
    bad = _invoke(runner, cli, container, "connection", "test", "Bad", "--json")

    assert good.exit_code == 0
    assert _json(good)["ok"] is True
    assert bad.exit_code == 8
    assert _json(bad)["jira"]["problem"] == "bad_credentials"


def test_unknown_connection_exits_4_with_a_hint(
    runner: CliRunner, cli: typer.Typer, container: Any
) -> None:
    result = _invoke(runner, cli, container, "connection", "test", "missing")

    assert result.exit_code == 4
    assert "connection list" in result.stderr


def test_token_create_json_then_list_and_revoke(
    runner: CliRunner, cli: typer.Typer, container: Any, sandbox: Any, tmp_path: Path
) -> None:
    created = _add(runner, cli, container, tmp_path, connection_payload(sandbox))

    made = _invoke(
        runner,
        cli,
        container,
        "token",
        "create",
        created["id"],
        "--lifespan",
        "7d",
        "--name",
        "ci",
        "--json",
    )
    token = _json(made)
    assert made.exit_code == 0
    assert authenticate(container, f"JWT {token['token']}").connection_id == created["id"]

    listed = _json(_invoke(runner, cli, container, "token", "list", created["id"], "--json"))
    assert [(item["name"], item["status"]) for item in listed] == [("ci", "active")]
    assert token["token"] not in json.dumps(listed)

    revoked = _invoke(runner, cli, container, "token", "revoke", created["id"], token["id"])
    assert revoked.exit_code == 0
    listed = _json(_invoke(runner, cli, container, "token", "list", created["id"], "--json"))
    assert listed[0]["status"] == "revoked"


def test_token_revoke_all(
    runner: CliRunner, cli: typer.Typer, container: Any, sandbox: Any, tmp_path: Path
) -> None:
    created = _add(runner, cli, container, tmp_path, connection_payload(sandbox))
    for _ in range(2):
        _invoke(runner, cli, container, "token", "create", created["id"], "--lifespan", "1h")

    result = _invoke(runner, cli, container, "token", "revoke", created["id"], "--all", "--json")

    assert _json(result) == {"revoked": 2}


def test_token_create_refuses_a_lifespan_beyond_365_days(
    runner: CliRunner, cli: typer.Typer, container: Any, sandbox: Any, tmp_path: Path
) -> None:
    created = _add(runner, cli, container, tmp_path, connection_payload(sandbox))

    result = _invoke(runner, cli, container, "token", "create", created["id"], "--lifespan", "366d")

    assert result.exit_code == 2
    assert "365 days" in result.stderr


def test_connection_remove(
    runner: CliRunner, cli: typer.Typer, container: Any, sandbox: Any, tmp_path: Path
) -> None:
    created = _add(runner, cli, container, tmp_path, connection_payload(sandbox))

    result = _invoke(runner, cli, container, "connection", "remove", created["id"], "--yes")

    assert result.exit_code == 0
    with container.session() as session:
        assert session.get(Connection, created["id"]) is None


def test_admin_create_with_options(runner: CliRunner, cli: typer.Typer, container: Any) -> None:
    result = _invoke(
        runner, cli, container, "admin", "create", "--username", "root", "--password", "pw-123456"
    )

    assert result.exit_code == 0
    with container.session() as session:
        assert session.query(AdminUser).one().username == "root"


def test_keys_generate_prints_a_key_or_writes_a_0600_file(
    runner: CliRunner, cli: typer.Typer, tmp_path: Path
) -> None:
    printed = runner.invoke(cli, ["keys", "generate", "--json"])
    key_file = tmp_path / "secret.key"
    written = runner.invoke(cli, ["keys", "generate", "--file", str(key_file)])
    again = runner.invoke(cli, ["keys", "generate", "--file", str(key_file)])

    SecretBox([_json(printed)["key"]])  # a valid Fernet key
    assert written.exit_code == 0
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(read_key_file(key_file)) == 1
    assert again.exit_code == 2


def test_keys_rotate_reencrypts_every_secret_under_a_new_key(
    runner: CliRunner, cli: typer.Typer, settings: Any, sandbox: Any, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys" / "secret.key"
    write_key_file(key_file, [generate_key()])
    file_settings = settings.model_copy(update={"secret_key": None, "secret_key_file": key_file})
    container = build_container(
        file_settings, apply_migrations=True, transport_override=sandbox.transport_override
    )
    try:
        created = _add(runner, cli, container, tmp_path, connection_payload(sandbox))
        container.token_issuer  # noqa: B018 - stores the encrypted signing key
        old_key = read_key_file(key_file)[0]

        result = _invoke(runner, cli, container, "keys", "rotate", "--json")

        assert result.exit_code == 0, result.output
        report = _json(result)
        keys = read_key_file(key_file)
        assert keys[1] == old_key and len(keys) == 2
        assert report["reencrypted"] == 3  # two credential blobs and the signing key
        assert "can be dropped" in report["message"]
        newest_only = SecretBox([keys[0]])
        with container.session() as session:
            connection = session.get(Connection, created["id"])
            signing_key = session.get(InstallationSecret, "api_token_signing_key")
            context = f"connection:{created['id']}:jira"
            assert "api_token" in json.loads(
                newest_only.decrypt(connection.jira_credentials, context=context)
            )
            newest_only.decrypt(signing_key.encrypted_value)

        retired = _invoke(runner, cli, container, "keys", "retire", "--json")
        assert _json(retired) == {"removed": 1}
        assert read_key_file(key_file) == [keys[0]]
    finally:
        container.close()
