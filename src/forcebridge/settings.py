"""Settings: environment variables prefixed ``FORCEBRIDGE_``, optionally a TOML file.

Precedence (highest first): keyword arguments, environment, the TOML file named by
``FORCEBRIDGE_CONFIG_FILE`` (or ``<data_dir>/forcebridge.toml`` when it exists), defaults.
Nothing here is read at import time: the composition root builds one ``Settings`` and passes it on.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORCEBRIDGE_", extra="ignore")

    data_dir: Path = Field(default=Path(".forcebridge"), description="Where state lives.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/forcebridge.db."
    )
    redis_url: str | None = Field(default=None, description="Use RedisHuey at this URL.")

    # Secrets at rest: comma-separated Fernet keys, newest first (MultiFernet), or a key file.
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None

    # Identity of this installation, used as the JWT issuer and audience of API tokens.
    instance_id: str | None = Field(
        default=None, description="Stable id of this installation; default derived from data_dir."
    )
    public_base_url: str = "http://127.0.0.1:8000"

    # Outbound URL guard: hosts (host or host:port) allowed besides the vendors' public suffixes,
    # e.g. the sandbox on 127.0.0.1. Comma-separated in the environment.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Extra CA bundle to trust for outbound TLS (the sandbox's CA).
    ca_file: Path | None = None
    outbound_timeout_seconds: float = 30.0

    log_format: str = Field(default="auto", description="json | console | auto (json unless a TTY)")
    log_level: str = "INFO"

    host: str = "127.0.0.1"
    port: int = 8000

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls))

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'forcebridge.db').resolve()}"

    @property
    def resolved_instance_id(self) -> str:
        return self.instance_id or f"forcebridge:{self.data_dir.resolve()}"

    @property
    def huey_sqlite_path(self) -> Path:
        # Kept apart from the application database so queue writes never wait on its lock.
        return self.data_dir / "queue.db"


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads ``FORCEBRIDGE_CONFIG_FILE`` or ``<data_dir>/forcebridge.toml`` (flat keys)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = os.environ.get("FORCEBRIDGE_CONFIG_FILE")
        if path is None:
            data_dir = Path(os.environ.get("FORCEBRIDGE_DATA_DIR", ".forcebridge"))
            candidate = data_dir / "forcebridge.toml"
            path = str(candidate) if candidate.exists() else None
        self._values: dict[str, Any] = {}
        if path:
            with open(path, "rb") as handle:
                self._values = tomllib.load(handle)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        fields = self.settings_cls.model_fields
        return {key: value for key, value in self._values.items() if key in fields}
