"""The helpers in ``forcebridge.sandbox.testing`` that the whole suite builds on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2
import pytest
from fastapi import FastAPI

from forcebridge.sandbox.testing import (
    app_transport,
    jira_transport,
    running_sandbox,
    salesforce_transport,
    sandbox_client,
)

JiraSandbox = pytest.importorskip("forcebridge.sandbox.jira").JiraSandbox
SalesforceSandbox = pytest.importorskip("forcebridge.sandbox.salesforce").SalesforceSandbox

NEW_ISSUE = {
    "fields": {"project": {"key": "TEST"}, "issuetype": {"name": "Task"}, "summary": "in process"}
}


def test_jira_transport_serves_a_sync_client_in_process() -> None:
    jira = JiraSandbox()
    credentials = (jira.credentials["email"], jira.credentials["api_token"])
    with httpx2.Client(
        transport=jira_transport(jira), base_url="https://jira.test", auth=credentials
    ) as client:
        created = client.post("/rest/api/3/issue", json=NEW_ISSUE)
        fetched = client.get(f"/rest/api/3/issue/{created.json()['key']}")
    jira.close()

    assert created.status_code == 201, created.text
    assert fetched.json()["fields"]["summary"] == "in process"
    assert jira.operator.counts() == {
        "POST /rest/api/3/issue": 1,
        "GET /rest/api/3/issue/{issueIdOrKey}": 1,
    }


def test_salesforce_transport_serves_an_async_client_in_process() -> None:
    salesforce = SalesforceSandbox()
    headers = {"Authorization": f"Bearer {salesforce.credentials['access_token']}"}

    async def create_and_read() -> tuple[int, str]:
        async with httpx2.AsyncClient(
            transport=salesforce_transport(salesforce),
            base_url="https://sandbox.my.salesforce.com",
            headers=headers,
        ) as client:
            created = await client.post(
                "/services/data/v59.0/sobjects/Account/", json={"Name": "Async Acme"}
            )
            fetched = await client.get(
                f"/services/data/v59.0/sobjects/Account/{created.json()['id']}"
            )
            return created.status_code, fetched.json()["Name"]

    assert asyncio.run(create_and_read()) == (201, "Async Acme")
    salesforce.close()


def test_in_process_dropped_connection_looks_like_one_on_the_wire() -> None:
    jira = JiraSandbox()
    with httpx2.Client(transport=jira_transport(jira), base_url="https://jira.test") as client:
        client.post("/__sandbox/faults", json={"path": "/serverInfo", "drop_connection": True})
        with pytest.raises(httpx2.RemoteProtocolError):
            client.get("/rest/api/3/serverInfo")
        assert client.get("/rest/api/3/serverInfo").status_code == 200
    jira.close()


def test_running_sandbox_serves_https_and_stops_on_exit(tmp_path: Path) -> None:
    with running_sandbox(tmp_path) as sandbox:
        with sandbox_client(sandbox, "salesforce") as client:
            versions = client.get("/services/data/")
        jira_server = sandbox.jira_server

    assert versions.status_code == 200
    assert not jira_server.running
    assert (tmp_path / "salesforce.db").is_file()


def test_sandbox_client_refuses_an_unknown_service(tmp_path: Path) -> None:
    with running_sandbox(tls=False) as sandbox, pytest.raises(ValueError, match="confluence"):
        sandbox_client(sandbox, "confluence")


def test_sync_client_inside_an_async_in_process_endpoint_fails_fast_instead_of_hanging() -> None:
    inner = FastAPI()

    @inner.get("/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    outer = FastAPI()

    @outer.get("/call-inner")
    async def call_inner() -> dict[str, bool]:
        # Wrong on purpose: a blocking client on the event loop that serves the outer app.
        with httpx2.Client(transport=app_transport(inner), base_url="https://inner.test") as client:
            return client.get("/ping").json()

    with (
        httpx2.Client(transport=app_transport(outer), base_url="https://outer.test") as client,
        pytest.raises(RuntimeError, match="use httpx2.AsyncClient"),
    ):
        client.get("/call-inner")
