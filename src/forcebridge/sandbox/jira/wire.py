"""Jira's wire conventions: the JSON content type, timestamps and the ``ErrorCollection`` body.

Every response of the emulator goes through these helpers so the details that clients check
byte for byte stay in one place:

- ``Content-Type: application/json;charset=UTF-8`` exactly (atlassian-python-api compares the
  string on 401 responses);
- timestamps ``2026-01-17T12:34:00.000+0000`` (milliseconds, offset without a colon);
- errors ``{"errorMessages": [...], "errors": {field: message}}``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"

NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."


class JiraJSONResponse(JSONResponse):
    """A JSON response with Jira's exact content type and compact UTF-8 encoding."""

    media_type = JSON_CONTENT_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class JiraError(Exception):
    """A failure answered with Jira's ``ErrorCollection`` body and the given status."""

    def __init__(
        self,
        status: int,
        messages: list[str] | str | None = None,
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if isinstance(messages, str):
            messages = [messages]
        self.status = status
        self.messages = list(messages or [])
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})
        super().__init__(f"{status}: {self.messages} {self.errors}")

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}

    def response(self) -> JiraJSONResponse:
        return JiraJSONResponse(self.body(), status_code=self.status, headers=self.headers)


def field_errors(errors: dict[str, str]) -> JiraError:
    """A 400 about fields (Jira puts those in ``errors``, not in ``errorMessages``)."""
    return JiraError(400, [], errors)


def format_timestamp(epoch_ms: int) -> str:
    """Epoch milliseconds as Jira writes them: ``2026-01-17T12:34:00.000+0000`` (UTC)."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}+0000"


_DATETIME_INPUT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_timestamp(text: str) -> int | None:
    """Epoch milliseconds of a Jira datetime (``…T12:34:00.000+0000``, ``Z``, ``+01:00``)."""
    match = _DATETIME_INPUT.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=UTC
        )
    except ValueError:
        return None
    epoch_ms = int(moment.timestamp() * 1000) + int((fraction or "0").ljust(3, "0")[:3])
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        epoch_ms -= sign * (int(digits[:2]) * 60 + int(digits[2:])) * 60_000
    return epoch_ms


def parse_date(text: str) -> str | None:
    """The ``yyyy-MM-dd`` form of a Jira date value, or None when it is not a real date."""
    try:
        return datetime.strptime(text, "%Y-%m-%d").date().isoformat()
    except (ValueError, TypeError):
        return None


def parse_json_body(raw: bytes) -> Any:
    """The decoded JSON body; a 400 in Jira's shape for anything that is not JSON."""
    if not raw.strip():
        raise JiraError(400, "No content to map due to end-of-input")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        # Jira answers malformed bodies with the Jackson parser message; the gist is the same.
        raise JiraError(400, f"Unexpected character in the JSON body: {error}") from None
