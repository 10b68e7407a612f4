"""What associating needs to know from Jira and Salesforce, asked with as few calls as possible.

- :func:`resolve_issue`: one ``GET /issue/{idOrKey}?fields=project,issuetype`` turns an id or a key
  (possibly an old key of a moved issue) into the numeric id, current key, project and issue type.
- :func:`key_prefix_of`: the object's ``keyPrefix`` from describe, cached per connection and object
  for :data:`KEY_PREFIX_TTL_SECONDS` (describe is metadata: it changes when an admin edits the org,
  not per request, and every describe costs a call from the org's daily quota).
- :func:`existing_record_ids`: which of many ids exist, in ``SELECT Id FROM X WHERE Id IN (...)``
  queries of :data:`RECORD_CHECK_BATCH_SIZE` ids each (URL-length bound), never one call per record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from forcebridge.errors import ExternalServiceError
from forcebridge.jira.client import JiraClient
from forcebridge.salesforce.client import SalesforceClient
from forcebridge.salesforce.soql import format_soql

# The query travels in the URL (GET /query?q=...), and ForceBridge's outbound guard refuses URLs
# over MAX_URL_LENGTH (16,384, Salesforce's own limit) characters. Each id costs 28 characters
# once percent-encoded (%27<18 characters>%27%2C+), so 200 ids (the batch size used everywhere
# else) take 5,600, far below the limit whatever the instance URL and object name.
RECORD_CHECK_BATCH_SIZE = 200
KEY_PREFIX_TTL_SECONDS = 300.0


@dataclass(frozen=True)
class JiraIssueRef:
    """A Jira issue as associations see it."""

    id: str
    key: str
    project_id: str
    project_key: str
    issue_type_id: str | None


def resolve_issue(jira: JiraClient, id_or_key: str) -> JiraIssueRef:
    """Look the issue up by numeric id or key; ``NotFound`` (naming it) when Jira lacks it."""
    issue = jira.get_issue(id_or_key, fields=["project", "issuetype"])
    fields = issue.get("fields") or {}
    project = fields.get("project") or {}
    issue_type = fields.get("issuetype") or {}
    issue_id, issue_key, project_id = issue.get("id"), issue.get("key"), project.get("id")
    if not (
        isinstance(issue_id, str) and isinstance(issue_key, str) and isinstance(project_id, str)
    ):
        raise ExternalServiceError(
            f"Jira answered for issue {id_or_key} without its id, key or project",
            service="jira",
        )
    return JiraIssueRef(
        id=issue_id,
        key=issue_key,
        project_id=project_id,
        project_key=str(project.get("key") or ""),
        issue_type_id=str(issue_type["id"]) if issue_type.get("id") is not None else None,
    )


class KeyPrefixCache:
    """``(connection id, object) -> keyPrefix`` with a TTL; thread-safe, process-wide."""

    def __init__(
        self,
        ttl_seconds: float = KEY_PREFIX_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, connection_id: str, sobject: str) -> tuple[bool, str | None]:
        with self._lock:
            entry = self._entries.get((connection_id, sobject.lower()))
            if entry is None or entry[1] <= self._clock():
                return False, None
            return True, entry[0]

    def put(self, connection_id: str, sobject: str, key_prefix: str | None) -> None:
        with self._lock:
            self._entries[(connection_id, sobject.lower())] = (
                key_prefix,
                self._clock() + self._ttl,
            )

    def forget_connection(self, connection_id: str) -> None:
        with self._lock:
            for cache_key in [key for key in self._entries if key[0] == connection_id]:
                del self._entries[cache_key]


KEY_PREFIXES = KeyPrefixCache()


def key_prefix_of(salesforce: SalesforceClient, connection_id: str, sobject: str) -> str | None:
    """The object's key prefix (None for objects without one), from a cached describe."""
    found, key_prefix = KEY_PREFIXES.get(connection_id, sobject)
    if found:
        return key_prefix
    describe: dict[str, Any] = salesforce.describe(sobject)
    raw_prefix = describe.get("keyPrefix")
    key_prefix = raw_prefix if isinstance(raw_prefix, str) and raw_prefix else None
    KEY_PREFIXES.put(connection_id, sobject, key_prefix)
    return key_prefix


def existing_record_ids(
    salesforce: SalesforceClient, sobject: str, record_ids: Sequence[str]
) -> set[str]:
    """The subset of ``record_ids`` (18-character) that exist in the org, by batched SOQL.

    Ids are compared on their first fifteen characters, the case-sensitive part that identifies
    the record; the suffix only encodes letter case.
    """
    wanted = {record_id[:15]: record_id for record_id in record_ids}
    found: set[str] = set()
    for chunk in _chunks(list(wanted.values()), RECORD_CHECK_BATCH_SIZE):
        soql = format_soql("SELECT Id FROM {:identifier} WHERE Id IN {}", sobject, chunk)
        for row in salesforce.query(soql):
            returned = row.get("Id")
            if isinstance(returned, str) and returned[:15] in wanted:
                found.add(wanted[returned[:15]])
    return found


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
