"""SFJC's response envelope: ``{"data", "message", "success"}``.

Failures carry ``{"success": false, "message", "errors", "hint", "request_id"}``.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    data: T
    message: str
    success: bool = True


class ErrorItem(BaseModel):
    field: str | None = None
    message: str


class ErrorEnvelope(BaseModel):
    success: bool = False
    message: str
    errors: list[ErrorItem] = []
    hint: str | None = None
    request_id: str | None = None


def success(data: Any, message: str, status_code: int = 200) -> JSONResponse:
    return JSONResponse(
        {"data": data, "message": message, "success": True}, status_code=status_code
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting each error status with the error envelope."""
    descriptions = {
        400: "Malformed request",
        401: "Missing, expired, revoked or invalid token",
        403: "Not allowed",
        404: "Not found (or belongs to another connection)",
        409: "Already exists",
        413: "Payload too large",
        422: "Invalid values",
        429: "Too many requests",
        502: "Jira or Salesforce answered with an error",
        503: "Temporarily unavailable; retry later",
    }
    return {
        status: {"model": ErrorEnvelope, "description": descriptions.get(status, "Error")}
        for status in statuses
    }
