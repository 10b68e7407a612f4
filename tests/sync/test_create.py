"""Create on either side, and idempotency when the create's answer is lost.

Two worst moments are tested for each side: the connection drops before the vendor acts (the
sandbox's ``drop_connection`` fault), and the vendor commits the create but its answer never
arrives (a transport that loses the first create response after the sandbox answered).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from forcebridge.container import Container, build_container
from forcebridge.errors import TransientExternalError, ValidationFailed
from forcebridge.sandbox.operator import FaultRequest
from forcebridge.sandbox.testing import app_transport
from forcebridge.settings import Settings
from forcebridge.sync.create import create_jira_issue, create_salesforce_record
from forcebridge.sync.pull import pull_record
from forcebridge.sync.push import push_issue
from sync.sync_scenario import SyncScenario

PROJECT_ID = "10000"
TASK = "10001"


@pytest.fixture
def scenario(container: Any, sandbox: Any) -> SyncScenario:
    return SyncScenario.build(container, sandbox)


class LoseFirstAnswer(httpx2.BaseTransport):
    """Forwards to the sandbox, but the first matching request's answer is lost on the way back:
    the vendor has acted, the caller sees a dropped connection."""

    def __init__(self, app: Any, method: str, path_suffix: str) -> None:
        self._inner = app_transport(app)
        self._method, self._suffix = method, path_suffix
        self.lost = 0

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._inner.handle_request(request)
        if (
            self.lost == 0
            and request.method == self._method
            and (request.url.path.endswith(self._suffix))
        ):
            response.read()
            self.lost += 1
            raise httpx2.RemoteProtocolError("peer closed connection", request=request)
        return response


@pytest.fixture
def lossy(settings: Settings, sandbox: Any) -> Iterator[dict[str, Any]]:
    """A second container on the same database whose first create answers get lost."""
    lose_issue = LoseFirstAnswer(sandbox.jira.app, "POST", "/rest/api/3/issue")
    lose_record = LoseFirstAnswer(sandbox.salesforce.app, "POST", "/sobjects/Case/")

    def route(service: str, base_url: str) -> httpx2.BaseTransport | None:
        if service == "jira":
            return lose_issue
        if "/services/oauth2" in base_url:
            return sandbox.transport_override(service, base_url)  # type: ignore[no-any-return]
        return lose_record if base_url.startswith(sandbox.salesforce_url) else None

    built = build_container(settings, transport_override=route)
    yield {"container": built, "issue": lose_issue, "record": lose_record}
    built.close()


def project_issue_count(scenario: SyncScenario) -> int:
    response = scenario._jira().post(
        "/rest/api/3/search/jql", json={"jql": "project = TEST", "maxResults": 1000}
    )
    return len(response.json()["issues"])


def cases_with_subject(scenario: SyncScenario, subject: str) -> int:
    return sum(
        1
        for case in scenario.sandbox.salesforce.records.all("Case")
        if case.get("Subject") == subject
    )


def create_issue(container: Container, scenario: SyncScenario, case_id: str) -> Any:
    return create_jira_issue(
        container,
        scenario.connection.id,
        salesforce_object="Case",
        salesforce_id=case_id,
        project_id=PROJECT_ID,
        issue_type_id=TASK,
    )


def test_create_jira_issue_fills_it_from_the_case_and_associates_them(
    scenario: SyncScenario,
) -> None:
    case_id = scenario.record_ids("Case")[0]
    case = scenario.record("Case", case_id)

    created = create_issue(scenario.container, scenario, case_id)

    issue = scenario.issue(created.association.jira_issue_key)["fields"]
    assert created.created is True
    assert issue["summary"] == case["Subject"]
    assert any(label.startswith("forcebridge-") for label in issue["labels"])
    assert created.association.salesforce_id == case_id
    scenario.clear_logs()
    push_issue(scenario.container, scenario.connection.id, created.association.jira_issue_id)
    pull_record(
        scenario.container, scenario.connection.id, created.association.jira_issue_id,
        "Case", case_id,
    )  # fmt: skip
    assert scenario.writes(scenario.salesforce_data_calls()) == 0
    jira_writes = {k: v for k, v in scenario.jira_calls().items() if "comment" not in k}
    assert scenario.writes(jira_writes) == 0


def test_create_jira_issue_twice_returns_the_first_issue(scenario: SyncScenario) -> None:
    case_id = scenario.record_ids("Case")[0]
    first = create_issue(scenario.container, scenario, case_id)
    count = project_issue_count(scenario)

    second = create_issue(scenario.container, scenario, case_id)

    assert second.created is False
    assert second.association.id == first.association.id
    assert project_issue_count(scenario) == count


def test_create_jira_issue_retried_after_a_dropped_connection_creates_one_issue(
    scenario: SyncScenario,
) -> None:
    case_id = scenario.record_ids("Case")[0]
    before = project_issue_count(scenario)
    scenario.sandbox.jira.operator.add_fault(
        FaultRequest(method="POST", path=r"^/rest/api/3/issue$", drop_connection=True)
    )
    with pytest.raises(TransientExternalError):
        create_issue(scenario.container, scenario, case_id)

    create_issue(scenario.container, scenario, case_id)

    assert project_issue_count(scenario) == before + 1


def test_create_jira_issue_retried_after_a_lost_answer_adopts_the_created_issue(
    scenario: SyncScenario, lossy: dict[str, Any]
) -> None:
    case_id = scenario.record_ids("Case")[0]
    before = project_issue_count(scenario)
    with pytest.raises(TransientExternalError):
        create_issue(lossy["container"], scenario, case_id)
    assert lossy["issue"].lost == 1
    assert project_issue_count(scenario) == before + 1  # Jira did create it

    retried = create_issue(lossy["container"], scenario, case_id)

    assert project_issue_count(scenario) == before + 1
    assert retried.association.salesforce_id == case_id


def test_create_jira_issue_needs_a_summary(scenario: SyncScenario) -> None:
    scenario.delete_mapping("Subject")
    with pytest.raises(ValidationFailed, match="summary"):
        create_issue(scenario.container, scenario, scenario.record_ids("Case")[0])


def test_create_salesforce_record_from_an_issue_and_retry_after_a_lost_answer(
    scenario: SyncScenario, lossy: dict[str, Any]
) -> None:
    subject = scenario.issue("TEST-4")["fields"]["summary"]
    assert cases_with_subject(scenario, subject) == 0
    with pytest.raises(TransientExternalError):
        create_salesforce_record(
            lossy["container"],
            scenario.connection.id,
            jira_issue="TEST-4",
            salesforce_object="Case",
        )
    assert cases_with_subject(scenario, subject) == 1  # Salesforce did create it

    retried = create_salesforce_record(
        lossy["container"], scenario.connection.id, jira_issue="TEST-4", salesforce_object="Case"
    )

    assert cases_with_subject(scenario, subject) == 1
    assert scenario.record("Case", retried.association.salesforce_id)["Subject"] == subject
    again = create_salesforce_record(
        scenario.container, scenario.connection.id, jira_issue="TEST-4", salesforce_object="Case"
    )
    assert again.created is False
    assert cases_with_subject(scenario, subject) == 1


def test_create_salesforce_record_retried_after_a_dropped_connection_creates_one_record(
    scenario: SyncScenario,
) -> None:
    subject = scenario.issue("TEST-2")["fields"]["summary"]
    scenario.sandbox.salesforce.operator.add_fault(
        FaultRequest(method="POST", path=r"/sobjects/Case/$", drop_connection=True)
    )
    with pytest.raises(TransientExternalError):
        create_salesforce_record(
            scenario.container,
            scenario.connection.id,
            jira_issue="TEST-2",
            salesforce_object="Case",
        )

    created = create_salesforce_record(
        scenario.container, scenario.connection.id, jira_issue="TEST-2", salesforce_object="Case"
    )

    assert created.created is True
    assert cases_with_subject(scenario, subject) == 1
