"""Logging: JSON lines that parse, context that follows the request, and no secret ever written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from forcebridge.errors import ConfigurationError
from forcebridge.logging import REDACTED, configure_logging, get_logger, redact
from forcebridge.settings import Settings

SENTINEL = "SENTINEL-sf-rt-7f3a0c91"
JWT_LIKE = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjb25uZWN0aW9uLTEifQ.c2lnbmF0dXJlLXNpZw"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def configured(tmp_path: Path, log_format: str = "json", level: str = "DEBUG") -> io.StringIO:
    stream = io.StringIO()
    configure_logging(
        Settings(data_dir=tmp_path, log_format=log_format, log_level=level), stream=stream
    )
    return stream


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def run_redact(event: dict[str, Any]) -> dict[str, Any]:
    return dict(redact(None, "info", dict(event)))


def test_secret_named_keys_are_redacted_at_any_depth() -> None:
    event = {
        "event": "connection.saved",
        "client_secret": SENTINEL,
        "connection": {
            "id": "c1",
            "oauth": {"refresh_token": SENTINEL, "access_token": SENTINEL, "scope": "api"},
            "headers": [{"Authorization": SENTINEL}, {"X-Api-Key": SENTINEL}],
        },
        "password": SENTINEL,
        "private_key": SENTINEL,
        "jira_api_token": SENTINEL,
    }
    redacted = run_redact(event)
    assert SENTINEL not in json.dumps(redacted)
    assert redacted["client_secret"] == REDACTED
    assert redacted["connection"]["oauth"]["scope"] == "api"
    assert redacted["connection"]["id"] == "c1"
    assert redacted["connection"]["headers"][0]["Authorization"] == REDACTED


def test_credential_shaped_strings_are_masked_inside_any_value() -> None:
    redacted = run_redact(
        {
            "event": f"calling with Authorization: Bearer {SENTINEL}",
            "detail": f"header was 'JWT {JWT_LIKE}'",
            "raw": JWT_LIKE,
            "url": f"https://x.test/cb?token={SENTINEL}&state=1",
            "sf": "session 00D5g000000abcd!AQ0AQFa9aB8cD7eF6gH5iJ4kL3mN2oP1qR",
            "atlassian": "ATATT3xFfGF0abcdefghijklmnopqrstuvwxyz0123",
        }
    )
    text = json.dumps(redacted)
    assert SENTINEL not in text
    assert JWT_LIKE not in text
    assert "AQ0AQFa9aB8cD7eF6gH5iJ4kL3mN2oP1qR" not in text
    assert "ATATT3xFfGF0" not in text
    assert redacted["event"] == f"calling with Authorization: Bearer {REDACTED}"


def test_innocent_values_and_token_metadata_stay_readable() -> None:
    event = {
        "event": "token.issued",
        "token_hash": "ab" * 32,
        "last_four": "wxyz",
        "token_id": "t-1",
        "refresh_token_expires_at": "2026-04-01T00:00:00Z",
        "token_url": "https://auth.atlassian.com/oauth/token",
        "count": 3,
    }
    assert run_redact(event) == event


def test_salesforce_session_id_is_secret_despite_its_id_suffix() -> None:
    assert run_redact({"event": "x", "sessionId": SENTINEL})["sessionId"] == REDACTED


def test_json_output_is_one_parseable_object_per_line_with_context(tmp_path: Path) -> None:
    stream = configured(tmp_path)
    structlog.contextvars.bind_contextvars(request_id="req-1", connection_id="c-9")
    get_logger("forcebridge.test").info("sync.push.done", records=3, refresh_token=SENTINEL)
    structlog.contextvars.clear_contextvars()
    get_logger("forcebridge.test").warning("sync.job.retrying", attempt=2)

    first, second = json_lines(stream)
    assert first["event"] == "sync.push.done"
    assert first["request_id"] == "req-1"
    assert first["connection_id"] == "c-9"
    assert first["records"] == 3
    assert first["refresh_token"] == REDACTED
    assert first["level"] == "info"
    assert first["logger"] == "forcebridge.test"
    assert "timestamp" in first
    assert "request_id" not in second
    assert SENTINEL not in stream.getvalue()


def test_standard_library_loggers_go_through_the_same_redaction(tmp_path: Path) -> None:
    stream = configured(tmp_path)
    logging.getLogger("uvicorn.error").warning("client sent Bearer %s", SENTINEL)
    (line,) = json_lines(stream)
    assert line["event"] == f"client sent Bearer {REDACTED}"
    assert line["logger"] == "uvicorn.error"


def test_tracebacks_are_rendered_and_redacted(tmp_path: Path) -> None:
    stream = configured(tmp_path)
    try:
        raise RuntimeError(f"refresh failed for token={SENTINEL}")
    except RuntimeError:
        get_logger("forcebridge.test").exception("salesforce.refresh.failed")
    (line,) = json_lines(stream)
    assert "RuntimeError" in line["exception"]
    assert SENTINEL not in stream.getvalue()


def test_level_from_settings_filters_lower_levels(tmp_path: Path) -> None:
    stream = configured(tmp_path, level="WARNING")
    logger = get_logger("forcebridge.test")
    logger.info("dropped")
    logger.warning("kept")
    assert [line["event"] for line in json_lines(stream)] == ["kept"]


def test_console_format_is_readable_and_redacted(tmp_path: Path) -> None:
    stream = configured(tmp_path, log_format="console")
    get_logger("forcebridge.test").info("connection.saved", client_secret=SENTINEL)
    output = stream.getvalue()
    assert "connection.saved" in output
    assert SENTINEL not in output
    with pytest.raises(json.JSONDecodeError):
        json.loads(output)


def test_auto_format_is_json_when_not_a_terminal(tmp_path: Path) -> None:
    stream = configured(tmp_path, log_format="auto")
    get_logger("forcebridge.test").info("hello")
    assert json_lines(stream)[0]["event"] == "hello"


def test_configuring_twice_does_not_duplicate_lines(tmp_path: Path) -> None:
    configured(tmp_path)
    stream = configured(tmp_path)
    get_logger("forcebridge.test").info("once")
    assert len(json_lines(stream)) == 1


@pytest.mark.parametrize(("field", "value"), [("log_level", "LOUD"), ("log_format", "xml")])
def test_unknown_level_or_format_is_a_configuration_error(
    tmp_path: Path, field: str, value: str
) -> None:
    with pytest.raises(ConfigurationError, match="Unknown log"):
        configure_logging(Settings(data_dir=tmp_path, **{field: value}), stream=io.StringIO())
