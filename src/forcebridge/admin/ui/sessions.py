"""Sessions, CSRF tokens and login throttling of the admin web UI.

A session is a signed, timestamped cookie (itsdangerous) holding a random session id, the CSRF
token of the session and, once signed in, the admin's id. The signing key is random, created once
and kept encrypted in ``installation_secrets`` (like the API-token signing key), so it survives
restarts and never appears in settings or logs. Every visitor gets a session before signing in,
which gives the sign-in and first-run forms a CSRF token too.

Signing out ends the session id in the database (``admin_ui_ended_sessions``), so a copied
cookie stops working at once on every ``serve`` process; each process also remembers the ids it
ended, to skip the lookup for them. Every session expires after :data:`SESSION_MAX_AGE`
regardless, and an ended id is forgotten once no cookie carrying it can still be valid. The
cookie is ``HttpOnly``, ``SameSite=Lax`` and ``Secure`` when the request came over https.

Login throttling counts failures per (username, client IP) in a sliding window: a password guesser
is slowed for one account without letting anyone lock an admin out from every address.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from forcebridge.admin.models import EndedUiSession
from forcebridge.container import Container
from forcebridge.models import InstallationSecret

COOKIE_NAME = "forcebridge_admin"
SESSION_MAX_AGE = 8 * 3600
SESSION_KEY_NAME = "admin_ui_session_key"
CSRF_FIELD = "csrf_token"
LOGIN_FAILURE_LIMIT = 5
LOGIN_WINDOW_SECONDS = 15 * 60
# Flashes travel in the cookie, which browsers cap at 4 KB: keep them few and short.
MAX_FLASHES = 3
MAX_FLASH_MESSAGE = 400
MAX_FLASH_HINT = 300


@dataclass
class UiSession:
    """The decoded session of one request; ``changed`` tells the response to re-issue it."""

    session_id: str
    csrf_token: str
    admin_id: str | None = None
    admin_name: str | None = None
    issued_at: float = field(default_factory=time.time)
    flashes: list[dict[str, str]] = field(default_factory=list)
    changed: bool = False
    ended: bool = False

    @classmethod
    def fresh(cls) -> UiSession:
        return cls(
            session_id=secrets.token_urlsafe(16),
            csrf_token=secrets.token_urlsafe(32),
            changed=True,
        )

    @property
    def signed_in(self) -> bool:
        return self.admin_id is not None

    def flash(self, kind: str, message: str, hint: str | None = None) -> None:
        """Queue a message for the next page (kinds: success, error, info)."""
        entry = {"kind": kind, "message": _clip(message, MAX_FLASH_MESSAGE)}
        if hint:
            entry["hint"] = _clip(hint, MAX_FLASH_HINT)
        self.flashes = [*self.flashes, entry][-MAX_FLASHES:]
        self.changed = True

    def take_flashes(self) -> list[dict[str, str]]:
        taken, self.flashes = self.flashes, []
        if taken:
            self.changed = True
        return taken

    def csrf_matches(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(
            self.csrf_token.encode(), (submitted or "").encode()
        )

    def to_payload(self) -> dict[str, Any]:
        return {
            "sid": self.session_id,
            "csrf": self.csrf_token,
            "uid": self.admin_id,
            "name": self.admin_name,
            "iat": self.issued_at,
            "flash": self.flashes,
        }


class SessionManager:
    """Reads and writes UI session cookies; one per app (``app.state.admin_ui_sessions``)."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self._serializer: URLSafeTimedSerializer | None = None
        self._lock = threading.Lock()
        # session id -> when it may be forgotten (its cookie has expired by then anyway)
        self._ended: dict[str, float] = {}

    def load(self, request: Request) -> UiSession:
        raw = request.cookies.get(COOKIE_NAME)
        if raw:
            try:
                payload = self._signer().loads(raw, max_age=SESSION_MAX_AGE)
            except BadSignature:
                payload = None
            session = _from_payload(payload)
            if session is not None and not self._is_ended(session):
                return session
        return UiSession.fresh()

    def sign_in(self, session: UiSession, admin_id: str, admin_name: str) -> UiSession:
        """A new session id and CSRF token at sign-in, so a planted cookie cannot be adopted."""
        self.end(session)
        signed_in = UiSession.fresh()
        signed_in.admin_id = admin_id
        signed_in.admin_name = admin_name
        signed_in.flashes = session.flashes
        return signed_in

    def end(self, session: UiSession) -> None:
        now = time.time()
        with self._lock:
            self._ended = {sid: until for sid, until in self._ended.items() if until > now}
            self._ended[session.session_id] = now + SESSION_MAX_AGE
        session.ended = True
        if session.signed_in:  # an anonymous session grants nothing: no need to share its end
            self._end_everywhere(session.session_id)

    def _end_everywhere(self, session_id: str) -> None:
        now = datetime.now(UTC)
        try:
            with self._container.session() as db:
                db.execute(delete(EndedUiSession).where(EndedUiSession.expires_at < now))
                db.add(
                    EndedUiSession(
                        session_hash=_session_hash(session_id),
                        expires_at=now + timedelta(seconds=SESSION_MAX_AGE),
                    )
                )
        except IntegrityError:
            pass  # ended twice (two tabs signing out at once): it is ended either way

    def write(self, request: Request, response: Response, session: UiSession) -> None:
        """Set (or clear) the cookie on ``response`` when the session changed."""
        secure = request.url.scheme == "https"
        if session.ended:
            response.delete_cookie(
                COOKIE_NAME, path="/admin", secure=secure, httponly=True, samesite="lax"
            )
            return
        if not session.changed and request.cookies.get(COOKIE_NAME):
            return
        response.set_cookie(
            COOKIE_NAME,
            self._signer().dumps(session.to_payload()),
            max_age=SESSION_MAX_AGE,
            path="/admin",
            secure=secure,
            httponly=True,
            samesite="lax",
        )

    def _is_ended(self, session: UiSession) -> bool:
        with self._lock:
            until = self._ended.get(session.session_id)
        if until is not None and until > time.time():
            return True
        if not session.signed_in:
            return False
        with self._container.session() as db:
            row = db.get(EndedUiSession, _session_hash(session.session_id))
            return row is not None

    def _signer(self) -> URLSafeTimedSerializer:
        if self._serializer is None:
            with self._lock:
                if self._serializer is None:
                    self._serializer = URLSafeTimedSerializer(
                        self._session_key(), salt="forcebridge-admin-ui-session"
                    )
        return self._serializer

    def _session_key(self) -> str:
        container = self._container
        with container.session() as db:
            row = db.get(InstallationSecret, SESSION_KEY_NAME)
            if row is None:
                key = secrets.token_hex(32)
                db.add(
                    InstallationSecret(
                        name=SESSION_KEY_NAME, encrypted_value=container.secrets.encrypt(key)
                    )
                )
                return key
            return container.secrets.decrypt(row.encrypted_value)


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _from_payload(payload: Any) -> UiSession | None:
    if not isinstance(payload, dict):
        return None
    session_id, csrf = payload.get("sid"), payload.get("csrf")
    if not isinstance(session_id, str) or not isinstance(csrf, str):
        return None
    admin_id = payload.get("uid")
    flashes = payload.get("flash")
    return UiSession(
        session_id=session_id,
        csrf_token=csrf,
        admin_id=admin_id if isinstance(admin_id, str) else None,
        admin_name=payload.get("name") if isinstance(payload.get("name"), str) else None,
        issued_at=float(payload.get("iat") or 0.0),
        flashes=[f for f in flashes if isinstance(f, dict)] if isinstance(flashes, list) else [],
    )


class LoginThrottle:
    """At most :data:`LOGIN_FAILURE_LIMIT` failed sign-ins per (username, IP) per window."""

    def __init__(
        self,
        limit: int = LOGIN_FAILURE_LIMIT,
        window_seconds: float = LOGIN_WINDOW_SECONDS,
        clock: Any = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def retry_after(self, username: str, client_ip: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        key = (username.strip().lower(), client_ip)
        with self._lock:
            failures = self._recent(key)
            if len(failures) < self._limit:
                return 0
            return max(1, int(failures[0] + self._window - self._clock()) + 1)

    def record_failure(self, username: str, client_ip: str) -> None:
        key = (username.strip().lower(), client_ip)
        with self._lock:
            if len(self._failures) > 10_000:  # bound memory under a spray of usernames
                self._failures = {k: v for k, v in self._failures.items() if self._recent(k)}
            self._recent(key).append(self._clock())

    def record_success(self, username: str, client_ip: str) -> None:
        with self._lock:
            self._failures.pop((username.strip().lower(), client_ip), None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        horizon = self._clock() - self._window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures
