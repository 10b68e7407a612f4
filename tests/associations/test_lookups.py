"""The Jira/Salesforce look-ups behind associating: key-prefix cache and batched record checks."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from forcebridge.associations.lookups import (
    RECORD_CHECK_BATCH_SIZE,
    KeyPrefixCache,
    existing_record_ids,
    key_prefix_of,
)
from forcebridge.salesforce.client import SalesforceClient
from forcebridge.salesforce.ids import to_18
from forcebridge.security.urls import MAX_URL_LENGTH


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_key_prefix_cache_expires_after_its_ttl_and_is_per_connection():
    clock = FakeClock()
    cache = KeyPrefixCache(ttl_seconds=300, clock=clock)
    cache.put("connection-a", "Case", "500")

    assert cache.get("connection-a", "case") == (True, "500")
    assert cache.get("connection-b", "Case") == (False, None)
    clock.now += 299
    assert cache.get("connection-a", "Case") == (True, "500")
    clock.now += 1
    assert cache.get("connection-a", "Case") == (False, None)


def test_key_prefix_cache_remembers_objects_without_a_prefix():
    cache = KeyPrefixCache(clock=FakeClock())
    cache.put("connection-a", "CaseHistory", None)

    assert cache.get("connection-a", "CaseHistory") == (True, None)


class TinyOrg:
    """A few Case ids behind ``/query`` and ``/describe``, counting the requests it answers."""

    def __init__(self, record_ids: set[str]) -> None:
        self.record_ids = record_ids
        self.queries: list[str] = []
        self.describes = 0
        self.url_lengths: list[int] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.url_lengths.append(len(str(request.url)))
        if request.url.path.endswith("/describe"):
            self.describes += 1
            return httpx2.Response(200, json={"name": "Case", "keyPrefix": "500"})
        soql = request.url.params["q"]
        self.queries.append(soql)
        asked = {part.strip(" '()")[:15] for part in soql.split("IN", 1)[1].split(",")}
        # Like Salesforce, match on the case-sensitive 15 characters; answer the stored form.
        matched = [rid for rid in self.record_ids if rid[:15] in asked]
        rows = [{"attributes": {"type": "Case"}, "Id": rid} for rid in matched]
        return httpx2.Response(200, json={"totalSize": len(rows), "done": True, "records": rows})


@pytest.fixture
def org() -> TinyOrg:
    return TinyOrg({to_18(f"500{index:012d}") for index in range(0, 450, 2)})


@pytest.fixture
def salesforce(org: TinyOrg) -> Any:
    http = httpx2.Client(
        base_url="https://org.my.salesforce.com", transport=httpx2.MockTransport(org.handle)
    )
    yield SalesforceClient(http)
    http.close()


def test_existing_record_ids_queries_once_per_batch(org, salesforce):
    wanted = [to_18(f"500{index:012d}") for index in range(450)]

    found = existing_record_ids(salesforce, "Case", wanted)

    assert len(org.queries) == -(-450 // RECORD_CHECK_BATCH_SIZE) == 3
    assert all(query.startswith("SELECT Id FROM Case WHERE Id IN (") for query in org.queries)
    assert found == {rid for rid in wanted if rid in org.record_ids}


def test_existing_record_ids_matches_whatever_letter_case_the_suffix_came_back_in(org, salesforce):
    record = sorted(org.record_ids)[0]
    org.record_ids = {record[:15] + record[15:].lower()}

    assert existing_record_ids(salesforce, "Case", [record]) == {record}


def test_key_prefix_of_describes_once_per_connection_and_object(org, salesforce):
    connection_id = "connection-" + str(id(org))

    prefixes = [key_prefix_of(salesforce, connection_id, "Case") for _ in range(3)]

    assert prefixes == ["500", "500", "500"]
    assert org.describes == 1


def test_a_full_batch_fits_the_outbound_url_guard_even_for_long_names_and_hosts(org):
    # A long My Domain sandbox host and a namespaced custom object of the maximum length.
    host = "https://" + "a" * 40 + "--" + "b" * 10 + ".sandbox.my.salesforce.com"
    custom_object = "ns_" + "X" * 37 + "__c"
    http = httpx2.Client(base_url=host, transport=httpx2.MockTransport(org.handle))
    wanted = [to_18(f"500{index:012d}") for index in range(RECORD_CHECK_BATCH_SIZE)]

    with http:
        existing_record_ids(SalesforceClient(http), custom_object, wanted)

    assert len(org.queries) == 1
    assert max(org.url_lengths) <= MAX_URL_LENGTH
