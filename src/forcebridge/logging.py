"""Structured logging: structlog for our code, the standard library's loggers (uvicorn, huey,
SQLAlchemy) routed through the same processors, and redaction before anything reaches a sink.

JSON lines in production (and whenever stderr is not a terminal), a readable console format in
a terminal. Context bound with ``structlog.contextvars.bind_contextvars`` (``request_id``,
``job_id``, ``connection_id``) appears in every line logged while it is bound.

Secrets never reach the log (OWASP Logging Cheat Sheet, CWE-532): :func:`redact` masks values of
secret-looking keys at any depth and anything shaped like a credential inside any string,
including rendered tracebacks.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from forcebridge.errors import ConfigurationError
from forcebridge.settings import Settings

REDACTED = "[redacted]"

# A key is secret when, lower-cased with "-" read as "_", it contains one of these.
_SECRET_KEY_PARTS = (
    "secret",
    "token",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "authorization",
    "private_key",
    "cookie",
    "session_id",
    "sessionid",
    "signature",
    "credential",
)
# Facts about a secret are not the secret (``token_hash``, ``refresh_token_expires_at``,
# ``token_url``); keeping them readable helps operators. Salesforce's ``sessionId`` *is* its
# access token, so it stays secret despite the ``_id`` suffix.
_NON_SECRET_SUFFIXES = (
    "_id",
    "_ids",
    "_hash",
    "_count",
    "_last_four",
    "_expires_at",
    "_expiry",
    "_type",
    "_url",
    "_lifespan",
    "_prefix",
)
_ALWAYS_SECRET_KEYS = frozenset({"session_id", "sessionid", "sid"})

_CREDENTIAL_PATTERNS = (
    # "Bearer xyz", "JWT xyz", "Basic xyz" as found in headers, curl lines, exception text.
    re.compile(r"(?i)\b(bearer|jwt|basic|token)(\s+|=)[A-Za-z0-9._~+/=-]{8,}"),
    # A bare JWT / JWS: three base64url segments, the first two starting with '{"' encoded.
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    # A Salesforce session id / access token: org id prefix "00D", "!", then the secret part.
    re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{20,}"),
    # An Atlassian API token (they start with "ATATT").
    re.compile(r"\bATATT[A-Za-z0-9_=-]{20,}"),
)
_MAX_DEPTH = 20
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_FORMATS = ("auto", "json", "console")


def redact(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secret-named keys and credential-shaped strings at any depth."""
    redacted = _redact_mapping(event_dict, depth=0)
    event_dict.clear()
    event_dict.update(redacted)
    return event_dict


def is_secret_key(key: object) -> bool:
    """True when a field named ``key`` holds a secret (``client_secret``, ``X-Api-Key``...)."""
    if not isinstance(key, str):
        return False
    normalised = key.lower().replace("-", "_")
    if normalised in _ALWAYS_SECRET_KEYS:
        return True
    if normalised.endswith(_NON_SECRET_SUFFIXES) or normalised == "last_four":
        return False
    return any(part in normalised for part in _SECRET_KEY_PARTS)


def mask_credentials(text: str) -> str:
    """Replace anything shaped like a bearer token, JWT or session id inside ``text``."""
    for pattern in _CREDENTIAL_PATTERNS:
        text = pattern.sub(_mask_match, text)
    return text


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Configure structlog and the root logger once, at the composition root.

    ``stream`` defaults to stderr. Calling it again replaces the previous configuration.
    """
    output = stream if stream is not None else sys.stderr
    level = logging.getLevelNamesMapping().get(settings.log_level.upper())
    if level is None or settings.log_level.upper() not in _LEVELS:
        raise ConfigurationError(
            f"Unknown log level {settings.log_level!r}.",
            hint=f"Set FORCEBRIDGE_LOG_LEVEL to one of {', '.join(_LEVELS)}.",
        )
    if settings.log_format.lower() not in _FORMATS:
        raise ConfigurationError(
            f"Unknown log format {settings.log_format!r}.",
            hint=f"Set FORCEBRIDGE_LOG_FORMAT to one of {', '.join(_FORMATS)}.",
        )
    use_json = _wants_json(settings.log_format, output)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    # Exceptions are rendered to text before redaction, so secrets in tracebacks are masked too.
    final: list[Processor] = [structlog.processors.format_exc_info, redact, renderer]

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(output)
    handler.setFormatter(formatter)
    handler.set_name("forcebridge")

    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "forcebridge":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's own logging config (used when a server is started with its defaults, as the
    # sandbox may) gives its loggers a private handler and stops propagation; take them back so
    # every line is formatted and redacted here.
    for server_logger in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        taken = logging.getLogger(server_logger)
        taken.handlers.clear()
        taken.propagate = True
    # Per-request lines from the HTTP client libraries would repeat ours with full URLs.
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger named after the module (``get_logger(__name__)``)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


def _wants_json(log_format: str, stream: TextIO) -> bool:
    choice = log_format.lower()
    if choice == "json":
        return True
    if choice == "console":
        return False
    is_terminal = getattr(stream, "isatty", None)
    return not (callable(is_terminal) and is_terminal())


def _redact_mapping(mapping: Mapping[Any, Any], depth: int) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    for key, value in mapping.items():
        if is_secret_key(key) and value not in (None, ""):
            result[key] = REDACTED
        else:
            result[key] = _redact_value(value, depth + 1)
    return result


def _redact_value(value: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, str):
        return mask_credentials(value)
    if isinstance(value, bytes):
        return mask_credentials(value.decode("utf-8", "replace"))
    if isinstance(value, Mapping | MutableMapping):
        return _redact_mapping(value, depth)
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(item, depth + 1) for item in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    # Objects are rendered with repr/str by the renderer: mask what that text would show.
    return mask_credentials(str(value))


def _mask_match(match: re.Match[str]) -> str:
    groups = match.groups()
    if len(groups) >= 2 and groups[0] is not None:
        # Keep the scheme so the line still says what kind of credential was there.
        return f"{groups[0]}{groups[1]}{REDACTED}"
    return REDACTED
