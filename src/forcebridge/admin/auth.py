"""Administrator accounts and HTTP Basic authentication of the admin API.

Passwords are Argon2id hashes (``security.passwords``). Argon2 is slow on purpose (tens of
milliseconds and 64 MiB per check), which is right for a login but would make every admin API call
pay it; so a successful check is remembered for a few minutes under a SHA-256 of the username,
password *and stored hash*. A changed password changes the hash, so old entries stop matching at
once; a deleted user fails the lookup that precedes the cache. A failed check is never cached.
Unknown users are checked against a dummy hash so timing does not tell which usernames exist.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy import select

from forcebridge.container import Container
from forcebridge.errors import Conflict, ValidationFailed
from forcebridge.models import AdminUser
from forcebridge.security.passwords import hash_password, verify_password

REALM = "forcebridge-admin"
CACHE_SECONDS = 300.0
MAX_CACHED_LOGINS = 1000
LAST_LOGIN_RESOLUTION = timedelta(minutes=1)
MAX_USERNAME_LENGTH = 150
UNAUTHENTICATED_MESSAGE = (
    "Admin authentication required: send HTTP Basic credentials of an admin user."
)


class _LenientHTTPBasic(HTTPBasic):
    """HTTP Basic that answers None for a malformed header, so every failure gets one 401 body."""

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:  # type: ignore[override]
        try:
            return await super().__call__(request)
        except HTTPException:
            return None


basic_scheme = _LenientHTTPBasic(
    auto_error=False, realm=REALM, description="An admin user (forcebridge admin create)."
)


def create_admin_user(container: Container, username: str, password: str) -> AdminUser:
    """Create an administrator; ``Conflict`` if the username is taken."""
    username = username.strip()
    if (
        not username
        or len(username) > MAX_USERNAME_LENGTH
        or any(ch.isspace() or ch == ":" for ch in username)
    ):
        raise ValidationFailed(
            "A username must be 1 to 150 characters without spaces or ':'.",
            details=[{"field": "username", "message": "1-150 characters, no spaces or ':'"}],
        )
    password_hash = hash_password(password)
    with container.session() as session:
        if session.scalar(select(AdminUser.id).where(AdminUser.username == username)) is not None:
            raise Conflict(f"An admin user named {username!r} already exists.")
        user = AdminUser(username=username, password_hash=password_hash)
        session.add(user)
        session.flush()
        return user


class AdminAuthenticator:
    """Checks admin credentials, remembering recent successes (see the module docstring)."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self._lock = threading.Lock()
        self._recent: dict[str, float] = {}
        self._dummy_hash: str | None = None

    def authenticate(self, username: str, password: str) -> str | None:
        """The admin user's id, or None for any failure."""
        if not username or len(username) > MAX_USERNAME_LENGTH or not password:
            return None
        with self._container.session() as session:
            user = session.scalar(select(AdminUser).where(AdminUser.username == username))
            if user is None:
                verify_password(self._dummy(), password)  # same cost as a real check
                return None
            cache_key = hashlib.sha256(
                "\0".join((username, password, user.password_hash)).encode()
            ).hexdigest()
            if not self._remembered(cache_key) and not verify_password(
                user.password_hash, password
            ):
                return None
            self._remember(cache_key)
            now = self._container.clock()
            if user.last_login_at is None or now - user.last_login_at >= LAST_LOGIN_RESOLUTION:
                user.last_login_at = now
            return user.id

    def _remembered(self, key: str) -> bool:
        with self._lock:
            expires = self._recent.get(key)
            return expires is not None and expires > time.monotonic()

    def _remember(self, key: str) -> None:
        with self._lock:
            now = time.monotonic()
            if len(self._recent) >= MAX_CACHED_LOGINS:
                self._recent = {k: v for k, v in self._recent.items() if v > now}
                if len(self._recent) >= MAX_CACHED_LOGINS:
                    self._recent.clear()
            self._recent[key] = now + CACHE_SECONDS

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = hash_password("not-a-real-password")
        return self._dummy_hash


def require_admin(
    request: Request, credentials: Annotated[HTTPBasicCredentials | None, Depends(basic_scheme)]
) -> str:
    """FastAPI dependency: the admin's username, or a 401 envelope asking for Basic auth."""
    authenticator = _authenticator(request)
    if (
        credentials is None
        or authenticator.authenticate(credentials.username, credentials.password) is None
    ):
        # An HTTPException (not errors.Unauthenticated) so the challenge names the Basic scheme;
        # the error handlers still answer with the error envelope.
        raise HTTPException(
            status_code=401,
            detail=UNAUTHENTICATED_MESSAGE,
            headers={"WWW-Authenticate": f'Basic realm="{REALM}"'},
        )
    return credentials.username


def _authenticator(request: Request) -> AdminAuthenticator:
    state = request.app.state
    authenticator: AdminAuthenticator | None = getattr(state, "admin_authenticator", None)
    if authenticator is None:
        authenticator = AdminAuthenticator(state.container)
        state.admin_authenticator = authenticator
    return authenticator


AdminUsername = Annotated[str, Depends(require_admin)]
