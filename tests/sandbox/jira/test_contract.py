"""Contract tests: every response the emulator serves validates against Jira's published OpenAPI
schema for that operation, and v3 rich text validates against the ADF JSON schema.

The OpenAPI document is OpenAPI 3.0 (``nullable``); it is rewritten to plain JSON Schema once.
Examples in the spec are unreliable, so only the schemas are used.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft4Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from tests.vendor_specs import ADF_SCHEMA
from tests.vendor_specs import JIRA_OPENAPI as OPENAPI

from forcebridge.sandbox.jira import JiraSandbox

from .conftest import adf

SPEC_URI = "urn:jira-openapi"


def _without_nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _without_nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
        else:
            return {"anyOf": [converted, {"type": "null"}]}
    return converted


# Where the published schema contradicts what Jira Cloud really sends, the schema is patched here
# (each with the reason), rather than making the emulator less faithful.
def _patch_known_spec_gaps(spec: dict[str, Any]) -> None:
    # Changelog items carry "from": null / "to": null for text fields (every real changelog and
    # webhook payload shows it), but ChangeDetails declares plain non-nullable strings.
    change_details = spec["components"]["schemas"]["ChangeDetails"]["properties"]
    for name in ("from", "fromString", "to", "toString"):
        change_details[name]["nullable"] = True


@cache
def _spec() -> dict[str, Any]:
    spec = json.loads(OPENAPI.read_text())
    _patch_known_spec_gaps(spec)
    return _without_nullable(spec)


@cache
def _registry() -> Registry:
    return Registry().with_resource(
        SPEC_URI, Resource.from_contents(_spec(), default_specification=DRAFT202012)
    )


def assert_matches_operation(path: str, method: str, status: int, body: Any) -> None:
    operation = _spec()["paths"][path][method]
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    # Resolve refs relative to the whole document by re-rooting the schema in it.
    rooted = {
        "$ref": f"{SPEC_URI}#/paths/{_pointer(path)}/{method}/responses/{status}"
        "/content/application~1json/schema"
    }
    validator = Draft202012Validator(rooted, registry=_registry())
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.path))
    assert not errors, f"{method.upper()} {path} {status}: " + "; ".join(
        f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]
    )
    assert schema  # the operation really declares a schema


def _pointer(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


def assert_error_collection(body: Any) -> None:
    rooted = {"$ref": f"{SPEC_URI}#/components/schemas/ErrorCollection"}
    Draft202012Validator(rooted, registry=_registry()).validate(body)


def assert_valid_adf(document: Any) -> None:
    Draft4Validator(json.loads(ADF_SCHEMA.read_text())).validate(document)


@pytest.fixture
def bearer(client: TestClient, jira: JiraSandbox) -> dict[str, str]:
    tokens = client.post(
        "/oauth/token",
        json={
            "grant_type": "refresh_token",
            "client_id": jira.credentials["oauth_client_id"],
            "client_secret": jira.credentials["oauth_client_secret"],
            "refresh_token": jira.credentials["oauth_refresh_token"],
        },
    ).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_read_endpoints_match_the_schema(client: TestClient, auth: dict) -> None:
    checks = [
        ("/rest/api/3/serverInfo", "/rest/api/3/serverInfo", {}),
        ("/rest/api/3/myself", "/rest/api/3/myself", {}),
        ("/rest/api/3/field", "/rest/api/3/field", {}),
        ("/rest/api/3/project/TEST", "/rest/api/3/project/{projectIdOrKey}", {}),
        ("/rest/api/3/project/search", "/rest/api/3/project/search", {}),
        (
            "/rest/api/3/issue/TEST-1",
            "/rest/api/3/issue/{issueIdOrKey}",
            {"expand": "changelog,names,renderedFields,schema,transitions"},
        ),
        (
            "/rest/api/3/issue/TEST-1/transitions",
            "/rest/api/3/issue/{issueIdOrKey}/transitions",
            {},
        ),
        ("/rest/api/3/issue/TEST-1/comment", "/rest/api/3/issue/{issueIdOrKey}/comment", {}),
        (
            "/rest/api/3/search/jql",
            "/rest/api/3/search/jql",
            {"jql": "project = TEST", "fields": "*all", "expand": "names,schema"},
        ),
        ("/rest/api/3/search", "/rest/api/3/search", {"jql": "project = TEST", "expand": "names"}),
    ]
    client.put(
        "/rest/api/3/issue/TEST-1", json={"fields": {"summary": "for the changelog"}}, headers=auth
    )
    client.post(
        "/rest/api/3/issue/TEST-1/comment",
        json={"body": adf("c"), "visibility": {"type": "group", "value": "site-admins"}},
        headers=auth,
    )
    for url, template, params in checks:
        response = client.get(url, params=params, headers=auth)
        assert response.status_code == 200, (url, response.text)
        assert_matches_operation(template, "get", 200, response.json())


def test_write_endpoints_match_the_schema(client: TestClient, auth: dict) -> None:
    body = {
        "fields": {
            "project": {"key": "TEST"},
            "issuetype": {"name": "Bug"},
            "summary": "c",
            "description": adf("d"),
        }
    }
    created = client.post("/rest/api/3/issue", json=body, headers=auth)
    assert_matches_operation("/rest/api/3/issue", "post", 201, created.json())
    comment = client.post(
        f"/rest/api/3/issue/{created.json()['key']}/comment", json={"body": adf("x")}, headers=auth
    )
    assert_matches_operation(
        "/rest/api/3/issue/{issueIdOrKey}/comment", "post", 201, comment.json()
    )
    edited = client.put(
        f"/rest/api/3/issue/{created.json()['key']}/comment/{comment.json()['id']}",
        json={"body": adf("y")},
        headers=auth,
    )
    assert_matches_operation(
        "/rest/api/3/issue/{issueIdOrKey}/comment/{id}", "put", 200, edited.json()
    )
    attachments = client.post(
        f"/rest/api/3/issue/{created.json()['key']}/attachments",
        files={"file": ("a.txt", b"abc")},
        headers={**auth, "X-Atlassian-Token": "no-check"},
    )
    assert_matches_operation(
        "/rest/api/3/issue/{issueIdOrKey}/attachments", "post", 200, attachments.json()
    )
    metadata = client.get(f"/rest/api/3/attachment/{attachments.json()[0]['id']}", headers=auth)
    assert_matches_operation("/rest/api/3/attachment/{id}", "get", 200, metadata.json())
    count = client.post(
        "/rest/api/3/search/approximate-count", json={"jql": "project = TEST"}, headers=auth
    )
    assert_matches_operation("/rest/api/3/search/approximate-count", "post", 200, count.json())
    found = client.post(
        "/rest/api/3/search/jql",
        json={"jql": "project = TEST", "fields": ["summary"], "maxResults": 2},
        headers=auth,
    )
    assert_matches_operation("/rest/api/3/search/jql", "post", 200, found.json())


def test_dynamic_webhook_endpoints_match_the_schema(client: TestClient, bearer: dict) -> None:
    body = {
        "url": "https://app.example/h",
        "webhooks": [
            {"events": ["jira:issue_created"], "jqlFilter": "project = TEST"},
            {"events": ["bogus"], "jqlFilter": "project = TEST"},
        ],
    }
    registered = client.post("/rest/api/3/webhook", json=body, headers=bearer)
    assert_matches_operation("/rest/api/3/webhook", "post", 200, registered.json())
    listed = client.get("/rest/api/3/webhook", headers=bearer)
    assert_matches_operation("/rest/api/3/webhook", "get", 200, listed.json())
    refreshed = client.put(
        "/rest/api/3/webhook/refresh", json={"webhookIds": [10000]}, headers=bearer
    )
    assert_matches_operation("/rest/api/3/webhook/refresh", "put", 200, refreshed.json())


def test_error_bodies_are_error_collections(client: TestClient, auth: dict) -> None:
    responses = [
        client.get("/rest/api/3/issue/NOPE-1", headers=auth),
        client.get("/rest/api/3/issue/TEST-1"),
        client.post("/rest/api/3/issue", json={"fields": {}}, headers=auth),
        client.get("/rest/api/3/search/jql", params={"jql": "((("}, headers=auth),
        client.post(
            "/rest/api/3/issue/TEST-1/attachments", files={"file": ("a", b"a")}, headers=auth
        ),
    ]
    for response in responses:
        assert response.status_code >= 400
        assert_error_collection(response.json())


def test_v3_rich_text_is_valid_adf(client: TestClient, auth: dict) -> None:
    client.put(
        "/rest/api/2/issue/TEST-4",
        json={"fields": {"customfield_10012": "a\nb\n\n\nc"}},
        headers=auth,
    )
    client.post(
        "/rest/api/2/issue/TEST-4/comment", json={"body": "first line\n\nsecond"}, headers=auth
    )
    issue = client.get("/rest/api/3/issue/TEST-4", headers=auth).json()["fields"]
    assert_valid_adf(issue["description"])
    assert_valid_adf(issue["customfield_10012"])
    for comment in issue["comment"]["comments"]:
        assert_valid_adf(comment["body"])
