"""The vendors' real Python clients work, unmodified, against the sandbox over HTTPS.

`jira` (pycontribs, both REST v2 and v3) and `simple-salesforce` (direct session mode) are the
most used clients of these APIs; if they run against the emulators with nothing but a base URL,
credentials and the sandbox CA, the emulators speak the real protocols (api-contracts.md §D).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from forcebridge.sandbox.server import RunningSandbox

jira_package = pytest.importorskip("jira")
simple_salesforce = pytest.importorskip("simple_salesforce")
for _module, _name in (
    ("forcebridge.sandbox.jira", "JiraSandbox"),
    ("forcebridge.sandbox.salesforce", "SalesforceSandbox"),
):
    if not hasattr(pytest.importorskip(_module, reason=f"{_module} not written yet"), _name):
        pytest.skip(f"{_module} does not export {_name} yet", allow_module_level=True)

from forcebridge.sandbox.testing import running_sandbox  # noqa: E402

PROJECT_KEY = "TEST"
SALESFORCE_VERSION = "59.0"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox() as running:
        yield running


# -- jira (pycontribs) ---------------------------------------------------------------------------
def _rich_text(text: str, version: str) -> Any:
    """v2 takes wiki-markup strings; v3 takes Atlassian Document Format."""
    if version == "2":
        return text
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


@pytest.fixture(scope="module", params=["2", "3"], ids=["rest-v2", "rest-v3"])
def jira(request: pytest.FixtureRequest, sandbox: RunningSandbox) -> Any:
    credentials = sandbox.jira.credentials
    client = jira_package.JIRA(
        server=sandbox.jira_url,
        basic_auth=(credentials["email"], credentials["api_token"]),
        options={"verify": str(sandbox.ca_file), "rest_api_version": request.param},
        max_retries=0,
    )
    client.test_rest_version = request.param  # type: ignore[attr-defined]
    yield client
    client.close()


def _create_issue(jira: Any, summary: str) -> Any:
    version = jira.test_rest_version
    return jira.create_issue(
        project=PROJECT_KEY,
        summary=summary,
        description=_rich_text(f"{summary} (description)", version),
        issuetype={"name": "Task"},
    )


def test_jira_client_sees_a_cloud_server(jira: Any) -> None:
    info = jira.server_info()

    assert info["deploymentType"] == "Cloud"
    assert jira._is_cloud
    assert isinstance(info["versionNumbers"], list)


def test_jira_client_creates_and_reads_an_issue(jira: Any) -> None:
    created = _create_issue(jira, "Created by the jira package")

    fetched = jira.issue(created.key)

    assert created.key.startswith(f"{PROJECT_KEY}-")
    assert fetched.id == created.id
    assert fetched.fields.summary == "Created by the jira package"
    assert fetched.fields.issuetype.name == "Task"
    assert fetched.fields.project.key == PROJECT_KEY


def test_jira_client_updates_an_issue_through_its_self_url(jira: Any) -> None:
    issue = _create_issue(jira, "before update")

    issue.update(fields={"summary": "after update", "labels": ["synced"]}, notify=False)

    fetched = jira.issue(issue.key)
    assert fetched.fields.summary == "after update"
    assert fetched.fields.labels == ["synced"]


def test_jira_client_adds_and_lists_comments(jira: Any) -> None:
    issue = _create_issue(jira, "with comments")

    comment = jira.add_comment(issue.key, _rich_text("first comment", jira.test_rest_version))

    comments = jira.comments(issue.key)
    assert [existing.id for existing in comments] == [comment.id]
    assert comments[0].raw["body"] == _rich_text("first comment", jira.test_rest_version)


def test_jira_client_transitions_an_issue_by_name(jira: Any) -> None:
    issue = _create_issue(jira, "to transition")
    names = {transition["name"] for transition in jira.transitions(issue.key)}
    assert "Start Progress" in names

    jira.transition_issue(issue.key, "Start Progress")

    assert jira.issue(issue.key).fields.status.name == "In Progress"


def test_jira_client_attaches_a_file(jira: Any) -> None:
    issue = _create_issue(jira, "with attachment")

    attachment = jira.add_attachment(
        issue=issue.key, attachment=io.BytesIO(b"hello from the jira package"), filename="hello.txt"
    )

    assert attachment.filename == "hello.txt"
    assert attachment.size == len(b"hello from the jira package")
    assert [existing.filename for existing in jira.issue(issue.key).fields.attachment] == [
        "hello.txt"
    ]


def test_jira_client_searches_with_jql_across_pages(jira: Any) -> None:
    label = f"search-v{jira.test_rest_version}"
    keys = []
    for index in range(3):
        issue = _create_issue(jira, f"searchable {index}")
        issue.update(fields={"labels": [label]}, notify=False)
        keys.append(issue.key)

    first_page = jira.search_issues(f"labels = {label} ORDER BY key ASC", maxResults=2)
    everything = jira.search_issues(f"labels = {label} ORDER BY key ASC", maxResults=False)

    assert len(first_page) == 2
    assert sorted(issue.key for issue in everything) == sorted(keys)


# -- simple-salesforce -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def salesforce(sandbox: RunningSandbox) -> Iterator[Any]:
    session = requests.Session()
    session.verify = str(sandbox.ca_file)
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override session.verify when trust_env
    # is on (and CI images set them), so the sandbox CA would silently be ignored.
    session.trust_env = False
    client = simple_salesforce.Salesforce(
        instance_url=sandbox.salesforce_url,
        session_id=sandbox.salesforce.credentials["access_token"],
        session=session,
        version=SALESFORCE_VERSION,
    )
    yield client
    session.close()


def test_simple_salesforce_creates_reads_updates_and_deletes_a_record(salesforce: Any) -> None:
    created = salesforce.Account.create({"Name": "Acme (simple-salesforce)"})
    assert created["success"] is True
    account_id = created["id"]

    assert salesforce.Account.get(account_id)["Name"] == "Acme (simple-salesforce)"
    assert salesforce.Account.update(account_id, {"Name": "Acme renamed"}) == 204
    assert salesforce.Account.get(account_id)["Name"] == "Acme renamed"
    assert salesforce.Account.delete(account_id) == 204
    with pytest.raises(simple_salesforce.exceptions.SalesforceResourceNotFound):
        salesforce.Account.get(account_id)


def test_simple_salesforce_queries_with_soql(salesforce: Any) -> None:
    account_id = salesforce.Account.create({"Name": "Queried by name"})["id"]

    result = salesforce.query("SELECT Id, Name FROM Account WHERE Name = 'Queried by name'")

    assert result["totalSize"] == 1
    assert result["records"][0]["Id"] == account_id


def test_simple_salesforce_query_all_follows_next_records_url(salesforce: Any) -> None:
    for first in range(0, 250, 200):
        records = [
            {"attributes": {"type": "Contact"}, "LastName": f"Paged {index:03d}"}
            for index in range(first, min(first + 200, 250))
        ]
        results = salesforce.restful(
            "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
        )
        assert all(result["success"] for result in results)

    query = "SELECT Id, LastName FROM Contact WHERE LastName LIKE 'Paged %'"
    small_pages = {"Sforce-Query-Options": "batchSize=200"}
    first_page = salesforce.query(query, headers=small_pages)
    everything = salesforce.query_all(query, headers=small_pages)

    assert first_page["done"] is False
    assert len(first_page["records"]) == 200
    assert first_page["nextRecordsUrl"].startswith(f"/services/data/v{SALESFORCE_VERSION}/query/")
    assert everything["totalSize"] == 250
    assert len({record["Id"] for record in everything["records"]}) == 250


def test_simple_salesforce_describes_objects(salesforce: Any) -> None:
    described = salesforce.Case.describe()
    global_describe = salesforce.describe()

    assert described["name"] == "Case"
    assert described["keyPrefix"] == "500"
    assert "Subject" in {field["name"] for field in described["fields"]}
    assert "Account" in {sobject["name"] for sobject in global_describe["sobjects"]}


def test_simple_salesforce_reads_limits_and_usage_header(salesforce: Any) -> None:
    limits = salesforce.limits()

    assert limits["DailyApiRequests"]["Max"] > 0
    usage = salesforce.api_usage["api-usage"]
    assert 0 < usage.used <= usage.total


def test_simple_salesforce_composite_collection_create(salesforce: Any) -> None:
    results = salesforce.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "Composite one"},
                {"attributes": {"type": "Account"}, "Name": "Composite two"},
            ],
        },
    )

    assert [result["success"] for result in results] == [True, True]
    names = {salesforce.Account.get(result["id"])["Name"] for result in results}
    assert names == {"Composite one", "Composite two"}
