"""Known secrets go in through the admin API and the CLI; none comes out in the database file, its
WAL, the logs, or any response other than the one that creates a token."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from builders import ADMIN_PASSWORD, connection_payload
from forcebridge.connections.cli import register


def _secret_values(sandbox: Any) -> dict[str, str]:
    jira, salesforce = sandbox.jira.credentials, sandbox.salesforce.credentials
    key_lines = [
        line for line in salesforce["private_key_pem"].splitlines() if line and "-----" not in line
    ]
    return {
        "jira api token": jira["api_token"],
        "salesforce client secret": salesforce["client_secret"],
        "salesforce refresh token": salesforce["refresh_token"],
        "salesforce private key": key_lines[len(key_lines) // 2],
        "admin password": ADMIN_PASSWORD,
        "chosen jira token": "ATATT3x-known-secret-jira-token-0123456789",
    }


def test_known_secrets_never_reach_the_database_file_or_logs(
    api: TestClient,
    container: Any,
    sandbox: Any,
    settings: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("greps the SQLite database file")
    caplog.set_level(logging.DEBUG)
    secrets = _secret_values(sandbox)
    responses: list[str] = []

    # Through the admin API: every auth type, a test, tokens, listings.
    for name, auth in (("A", "client_credentials"), ("B", "refresh_token"), ("C", "jwt")):
        created = api.post(
            "/api/v1/connections", json=connection_payload(sandbox, name=name, salesforce_auth=auth)
        )
        assert created.status_code == 201, created.text
        connection_id = created.json()["data"]["id"]
        responses += [created.text, api.post(f"/api/v1/connections/{connection_id}/test").text]
        responses.append(
            api.post(
                f"/api/v1/connections/{connection_id}/bindings", json={"jira_project": "TEST"}
            ).text
        )
    token_response = api.post(
        f"/api/v1/connections/{connection_id}/tokens", json={"lifespan": "1h"}
    )
    issued_tokens = [token_response.json()["data"]["token"]]
    responses += [
        api.get("/api/v1/connections").text,
        api.get(f"/api/v1/connections/{connection_id}/tokens").text,
    ]
    bad = connection_payload(sandbox, name="D", jira_api_token=secrets["chosen jira token"])
    bad["jira"]["url"] = "http://127.0.0.1"  # refused: the error must not echo the token
    responses.append(api.post("/api/v1/connections", json=bad).text)
    failing = api.post(
        "/api/v1/connections",
        json=connection_payload(sandbox, name="E", jira_api_token=secrets["chosen jira token"]),
    )
    responses.append(api.post(f"/api/v1/connections/{failing.json()['data']['id']}/test").text)

    # Through the CLI.
    cli = typer.Typer()
    register(cli)
    file = tmp_path / "connection.json"
    file.write_text(
        json.dumps(connection_payload(sandbox, name="F", salesforce_auth="refresh_token"))
    )
    runner = CliRunner()
    outputs = [
        runner.invoke(cli, ["connection", "add", "--file", str(file), "--json"], obj=container)
    ]
    outputs.append(runner.invoke(cli, ["connection", "test", "F", "--json"], obj=container))
    created_token = runner.invoke(
        cli, ["token", "create", "F", "--lifespan", "1h", "--json"], obj=container
    )
    issued_tokens.append(json.loads(created_token.stdout.strip().splitlines()[-1])["token"])
    outputs.append(runner.invoke(cli, ["connection", "list", "--json"], obj=container))
    outputs.append(runner.invoke(cli, ["token", "list", "F", "--json"], obj=container))
    container.engine.dispose()  # close connections so everything written is in the files

    database = Path(settings.resolved_database_url.removeprefix("sqlite:///"))
    stored = b"".join(
        path.read_bytes() for path in (database, Path(f"{database}-wal")) if path.exists()
    )
    captured = capsys.readouterr()
    logs = captured.out + captured.err + caplog.text + "".join(o.stdout + o.stderr for o in outputs)
    everything_shown = "\n".join(responses)
    # Controls: plain columns are found by the same grep, and the logs were captured at all.
    assert b"https://sandbox.my.salesforce.com" in stored
    assert "sandbox.atlassian.net" in logs

    for label, value in {
        **secrets,
        **{f"api token {i}": t for i, t in enumerate(issued_tokens)},
    }.items():
        assert value.encode() not in stored, f"{label} found in the database file"
        assert value not in logs, f"{label} found in the logs"
        assert value not in everything_shown, f"{label} found in a response"
