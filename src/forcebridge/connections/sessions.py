"""Signed-in vendor sessions kept across requests, one per connection and credentials.

Signing in to Salesforce (and refreshing a Jira OAuth token) costs a token request and its
latency; doing it for every API call or job would double the calls ForceBridge makes. The
container keeps one ``AuthSessions``: each entry holds an auth object (which carries the access
token and refreshes it itself when it expires or is rejected) and the HTTP client it signs in
through. Entries are keyed by the connection and a fingerprint of its encrypted credentials and
URL, so editing a connection starts a new session and drops the old one.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx2


@dataclass
class AuthSession:
    auth: httpx2.Auth
    token_http: httpx2.Client
    instance_url: str | None = None


def session_key(connection_id: str, service: str, *parts: str | None) -> tuple[str, str, str]:
    fingerprint = hashlib.sha256("\0".join(part or "" for part in parts).encode()).hexdigest()
    return (connection_id, service, fingerprint)


class AuthSessions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, str, str], AuthSession] = {}

    def get_or_create(
        self, key: tuple[str, str, str], create: Callable[[], AuthSession]
    ) -> AuthSession:
        with self._lock:
            existing = self._sessions.get(key)
            if existing is not None:
                return existing
        # Signing in happens outside the lock: one slow vendor must not stall other connections.
        # Two threads racing here both sign in once; the loser's session is closed.
        created = create()
        with self._lock:
            existing = self._sessions.get(key)
            if existing is not None:
                created.token_http.close()
                return existing
            stale = [other for other in self._sessions if other[:2] == key[:2]]
            for other in stale:
                self._sessions.pop(other).token_http.close()
            self._sessions[key] = created
            return created

    def forget(self, connection_id: str) -> None:
        with self._lock:
            for key in [key for key in self._sessions if key[0] == connection_id]:
                self._sessions.pop(key).token_http.close()

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.token_http.close()

    def __len__(self) -> int:
        return len(self._sessions)

    def __repr__(self) -> str:  # never print tokens
        return f"AuthSessions({len(self)} sessions)"
