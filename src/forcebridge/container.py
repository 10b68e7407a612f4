"""The composition root: builds every long-lived dependency from one ``Settings``.

``create_app`` and the CLI both call ``build_container``; tests call it with overrides (a clock, a
transport that routes outbound calls to an in-process sandbox). Nothing is created at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import httpx2
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from forcebridge.connections.sessions import AuthSessions
from forcebridge.db import (
    create_database_engine,
    create_session_factory,
    migrate,
    session_scope,
    utcnow,
)
from forcebridge.metrics import Metrics
from forcebridge.models import InstallationSecret
from forcebridge.security.secrets import SecretBox
from forcebridge.security.tokens import TokenIssuer, generate_signing_key
from forcebridge.settings import Settings

# (service, base_url) -> a transport to use instead of the network, or None for the network.
TransportOverride = Callable[[str, str], httpx2.BaseTransport | None]

SIGNING_KEY_NAME = "api_token_signing_key"


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    secrets: SecretBox
    metrics: Metrics
    clock: Callable[[], datetime] = utcnow
    transport_override: TransportOverride | None = None
    auth_sessions: AuthSessions = field(default_factory=AuthSessions)
    _token_issuer: TokenIssuer | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.sessions) as session:
            yield session

    @property
    def token_issuer(self) -> TokenIssuer:
        """The API-token issuer; its signing key is made once and kept encrypted in the database."""
        if self._token_issuer is None:
            with self._lock:
                if self._token_issuer is None:
                    self._token_issuer = TokenIssuer(
                        self._signing_key(), self.settings.resolved_instance_id, clock=self.clock
                    )
        return self._token_issuer

    def _signing_key(self) -> bytes:
        with self.session() as session:
            row = session.get(InstallationSecret, SIGNING_KEY_NAME)
            if row is None:
                key = generate_signing_key()
                session.add(
                    InstallationSecret(
                        name=SIGNING_KEY_NAME, encrypted_value=self.secrets.encrypt(key.hex())
                    )
                )
                return key
            return bytes.fromhex(self.secrets.decrypt(row.encrypted_value))

    def transport_for(self, service: str, base_url: str) -> httpx2.BaseTransport | None:
        if self.transport_override is None:
            return None
        return self.transport_override(service, base_url)

    def close(self) -> None:
        self.auth_sessions.close()
        self.engine.dispose()


def build_container(
    settings: Settings,
    *,
    apply_migrations: bool = False,
    clock: Callable[[], datetime] | None = None,
    transport_override: TransportOverride | None = None,
    metrics: Metrics | None = None,
) -> Container:
    """Checks the secret key first: ForceBridge refuses to run without one (ConfigurationError)."""
    secrets = SecretBox.from_settings(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_database_engine(settings.resolved_database_url)
    if apply_migrations:
        migrate(engine)
    return Container(
        settings=settings,
        engine=engine,
        sessions=create_session_factory(engine),
        secrets=secrets,
        metrics=metrics or Metrics(),
        clock=clock or utcnow,
        transport_override=transport_override,
    )
