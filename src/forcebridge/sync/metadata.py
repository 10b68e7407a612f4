"""Vendor metadata that outlives one set of clients: Salesforce describes and Jira's field list.

``clients_for`` builds fresh clients per request, and each client's own cache dies with it. The
sync engine would then pay a describe and a ``GET /field`` on every push, burning the org's daily
quota on metadata that changes only when an admin edits the org. This cache is kept per container
(so tests with separate containers never share it), keyed by connection, with a TTL.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from forcebridge.container import Container

METADATA_TTL_SECONDS = 300.0


class MetadataCache:
    """Describes (per connection and object) and Jira field lists (per connection), with a TTL."""

    def __init__(
        self,
        ttl_seconds: float = METADATA_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str], tuple[float, Any]] = {}

    def describe(
        self, connection_id: str, sobject: str, fetch: Callable[[str], dict[str, Any]]
    ) -> dict[str, Any]:
        value: dict[str, Any] = self._get(
            (connection_id, "describe", sobject.lower()), lambda: fetch(sobject)
        )
        return value

    def jira_fields(
        self, connection_id: str, fetch: Callable[[], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        value: list[dict[str, Any]] = self._get((connection_id, "jira_fields", ""), fetch)
        return value

    def jira_account_id(self, connection_id: str, fetch: Callable[[], str]) -> str:
        """The account id of the connection's own Jira user (its comments are never copied)."""
        value: str = self._get((connection_id, "jira_account_id", ""), fetch)
        return value

    def forget_connection(self, connection_id: str) -> None:
        with self._lock:
            for key in [key for key in self._entries if key[0] == connection_id]:
                del self._entries[key]

    def _get(self, key: tuple[str, str, str], fetch: Callable[[], Any]) -> Any:
        now = self._clock()
        with self._lock:
            cached = self._entries.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        # Fetched outside the lock: two threads may both fetch once; neither blocks the other.
        value = fetch()
        with self._lock:
            self._entries[key] = (now, value)
        return value


# Keyed by id(): Container is a dataclass with value equality, hence unhashable. A finalizer
# drops the entry when the container goes away, so an id reused later never sees stale metadata.
_CACHES: dict[int, MetadataCache] = {}
_CACHES_LOCK = threading.Lock()


def metadata_cache(container: Container) -> MetadataCache:
    """The container's metadata cache (created on first use)."""
    key = id(container)
    with _CACHES_LOCK:
        cache = _CACHES.get(key)
        if cache is None:
            cache = MetadataCache()
            _CACHES[key] = cache
            weakref.finalize(container, _CACHES.pop, key, None)
        return cache
